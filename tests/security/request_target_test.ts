/**
 * The canonicalization rule of lib/http/target.ts as a table (the real-process table is in
 * path_test.ts), and the route layer's own guard against protocol-relative upstream paths.
 */
import { routeConfig } from "../_config.ts";
import { assert, assertEquals } from "../_assert.ts";
import type { RouteConfig } from "../../lib/config/types.ts";
import {
  canonicalPath,
  canonicalTarget,
  isValidAuthority,
  normalizePath,
} from "../../lib/http/target.ts";
import { matchRoute } from "../../lib/http/routes.ts";

Deno.test("canonical paths: dots resolved, slashes merged, unreserved escapes decoded", () => {
  const table: [string, string][] = [
    ["/", "/"],
    ["/a/b", "/a/b"],
    ["/a/b/", "/a/b/"],
    ["//a///b//", "/a/b/"],
    ["/a/./b", "/a/b"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/a/../b", "/b"],
    ["/a/%2e%2E/b", "/b"],
    ["/a/.%2e/b", "/b"],
    ["/a/%2e/b", "/a/b"],
    ["/..a/b..", "/..a/b.."],
    ["/a/.../b", "/a/.../b"],
    ["/%70rometheus", "/prometheus"],
    ["/a%7eb%2D%5f", "/a~b-_"],
    ["/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9"],
    ["/a;b/c;d=1", "/a;b/c;d=1"],
    ["/a%3bb", "/a%3Bb"],
    ["/a%252e%252e", "/a%252e%252e"],
    ["/a/b/../../", "/"],
    ["/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="],
  ];
  for (const [raw, canonical] of table) assertEquals(canonicalPath(raw), canonical, raw);
});

Deno.test("ambiguous paths are refused", () => {
  for (
    const raw of [
      "",
      "a/b",
      "/..",
      "/a/../..",
      "/%2e%2e/x",
      "/a\\b",
      "/a%5cb",
      "/a%5Cb",
      "/a%2fb",
      "/a%2Fb",
      "/a%00",
      "/a%0a",
      "/a%1F",
      "/a%7f",
      "/a%",
      "/a%4",
      "/a%zz",
      "/a%u002e",
      "/%c0%ae%c0%ae",
      "/%e0%80%ae",
      "/%ff",
      "/%c3",
      "/..;/x",
      "/a/.;x/b",
      "/a/%2e%2e;x",
      "/a b",
      "/a\tb",
      "/a\x00",
      "/\u00e9",
    ]
  ) {
    const result = canonicalPath(raw);
    assertEquals(typeof result === "object" && !result.ok, true, JSON.stringify(raw));
  }
});

Deno.test("the authority must be host[:port] and the target must not carry a fragment", () => {
  for (
    const good of ["localhost", "127.0.0.1:8080", "[::1]:443", "example.com.", "a_b.test", "h:"]
  ) {
    assertEquals(isValidAuthority(good), true, good);
  }
  for (
    const bad of [
      "",
      "a/b",
      "a?b",
      "a#b",
      "a@b",
      "a\\b",
      "a b",
      "-a",
      "[::1",
      ":80",
      "a:b:c",
      "a:123456",
    ]
  ) {
    assertEquals(isValidAuthority(bad), false, bad);
  }
  assertEquals(canonicalTarget("http://h/a/../b?x=/../y", "h"), {
    ok: true,
    path: "/b",
    search: "?x=/../y",
    host: "h",
  });
  assertEquals(canonicalTarget("http://h/a?", "h"), {
    ok: true,
    path: "/a",
    search: "",
    host: "h",
  });
  assertEquals(canonicalTarget("http://evil", "h"), {
    ok: true,
    path: "/",
    search: "",
    host: "evil",
  });
  assertEquals(canonicalTarget("http://h/a#x", "h").ok, false);
  assertEquals(canonicalTarget("http://h/a", "h/x").ok, false);
  assertEquals(canonicalTarget("ftp://h/a", "h").ok, false);
  assertEquals(canonicalTarget("http://u@h/a", "h").ok, false);
  assertEquals(canonicalTarget("http://h\\x/a", "h").ok, false);
  assertEquals(canonicalTarget("http://h/a", null).ok, true, "HTTP/2 and HTTP/1.0 carry no Host");
});

const route = (path: string, upstream: string, stripPrefix = true) =>
  routeConfig(path, upstream, { stripPrefix, timeoutMs: 1000 });

Deno.test("an upstream path never starts with // (a protocol-relative URL names another host)", () => {
  const cases: [RouteConfig, string, string][] = [
    [route("/pub/", "http://up:1/"), "/pub//evil:2/x", "/evil:2/x"],
    [route("/pub/", "http://up:1/"), "/pub///evil:2/x", "/evil:2/x"],
    [route("/", "http://up:1/"), "//evil:2/x", "/evil:2/x"],
    [route("/", "http://up:1", false), "//evil:2/x", "/evil:2/x"],
    [route("/pub/", "http://up:1/base/"), "/pub//x", "/base//x"],
  ];
  for (const [r, path, upstreamPath] of cases) {
    const m = matchRoute([r], path);
    assertEquals(m.kind === "route" ? m.upstreamPath : m.kind, upstreamPath, path);
    if (m.kind === "route") {
      assertEquals(new URL(m.upstreamPath, r.upstream).host, "up:1", path);
    }
  }
});

Deno.test("the fast path for already-canonical paths gives the same answer as the full rules", () => {
  // Pieces that matter to the rules: separators, dot segments, escapes, parameters, characters
  // outside the fast path's set. Seeded, so a failure can be reproduced.
  const pieces = [
    "/",
    "/",
    "/",
    ".",
    "..",
    "a",
    "Z",
    "%",
    "%2e",
    "%41",
    "%2F",
    "%c3%a9",
    ";",
    "\\",
    "#",
    "?",
    "~",
    "-",
    "_",
    ":",
    "@",
    "!",
    "$",
    "&",
    "'",
    "(",
    ")",
    "*",
    "+",
    ",",
    "=",
    "[",
    "]",
    "^",
    "`",
    "{",
    "|",
    "}",
    '"',
    "<",
    ">",
    " ",
    "é",
    "/..",
    "/.",
    "/..;x",
    "/.;",
    ".;",
    "\t",
  ];
  let seed = 20261123;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let unchanged = 0;
  for (let i = 0; i < 200_000; i++) {
    let raw = "";
    for (let n = random(9); n > 0; n--) raw += pieces[random(pieces.length)];
    const fast = canonicalPath(raw);
    assertEquals(fast, normalizePath(raw), JSON.stringify(raw));
    if (fast === raw) unchanged++;
  }
  assert(unchanged > 1000, `only ${unchanged} random paths were already canonical`);
});
