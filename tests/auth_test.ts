/**
 * Basic authentication as a client meets it: which Authorization headers are understood, and
 * which logins succeed, against real bcrypt hashes made by Apache's `htpasswd` and verified by the
 * real password verifier (in its worker thread).
 */
import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { basic, needs, run } from "./_util.ts";
import { Authenticator, type AuthResult, parseBasicAuth } from "../lib/auth/basic.ts";
import { challenge } from "../lib/http/responses.ts";
import { parseHtpasswd, type Users } from "../lib/auth/htpasswd.ts";
import { createVerifier, type PasswordVerifier } from "../lib/auth/password/verifier.ts";

/** Basic credentials from raw bytes (for user/password bytes that are not valid UTF-8). */
function basicBytes(bytes: number[]): string {
  return "Basic " + btoa(String.fromCharCode(...bytes));
}

// ---------------------------------------------------------------------------------------------
// parseBasicAuth

Deno.test("a well-formed Basic header yields its user and password", () => {
  assertEquals(parseBasicAuth(basic("admin", "secret")), { user: "admin", password: "secret" });
  assertEquals(parseBasicAuth("Basic YWRtaW46c2VjcmV0"), { user: "admin", password: "secret" });
});

Deno.test("the Basic scheme name is case-insensitive", () => {
  assertEquals(parseBasicAuth("basic YWRtaW46c2VjcmV0"), { user: "admin", password: "secret" });
  assertEquals(parseBasicAuth("BASIC YWRtaW46c2VjcmV0"), { user: "admin", password: "secret" });
});

Deno.test("extra spaces around the token are tolerated", () => {
  assertEquals(parseBasicAuth("Basic   YWRtaW46c2VjcmV0  "), { user: "admin", password: "secret" });
});

Deno.test("a header that is not valid base64 is malformed", () => {
  assertEquals(parseBasicAuth("Basic !!!!"), null);
  assertEquals(parseBasicAuth("Basic YWRt aW46c2VjcmV0"), null, "a space inside the token");
  assertEquals(parseBasicAuth("Basic Y"), null, "a single base64 character decodes to nothing");
  assertEquals(parseBasicAuth("Basic YWRtaW46c2VjcmV0==="), null, "too much padding");
});

Deno.test("other schemes and an empty token are malformed", () => {
  assertEquals(parseBasicAuth("Bearer YWRtaW46c2VjcmV0"), null);
  assertEquals(parseBasicAuth("Basic"), null);
  assertEquals(parseBasicAuth("Basic "), null);
  assertEquals(parseBasicAuth(""), null);
  assertEquals(parseBasicAuth("YWRtaW46c2VjcmV0"), null);
});

Deno.test("credentials without a colon are malformed", () => {
  assertEquals(parseBasicAuth("Basic " + btoa("admin")), null);
});

Deno.test("an empty user name is malformed", () => {
  assertEquals(parseBasicAuth(basic("", "secret")), null);
});

Deno.test("an empty password is still a password (it is checked, not rejected here)", () => {
  assertEquals(parseBasicAuth(basic("admin", "")), { user: "admin", password: "" });
});

Deno.test("a password may contain colons: the user name ends at the first one", () => {
  assertEquals(parseBasicAuth(basic("admin", "a:b::c")), { user: "admin", password: "a:b::c" });
});

Deno.test("user names and passwords are decoded as UTF-8", () => {
  assertEquals(parseBasicAuth(basic("jürgen", "pässwörd€")), {
    user: "jürgen",
    password: "pässwörd€",
  });
});

Deno.test("credentials that are not valid UTF-8 are malformed", () => {
  assertEquals(parseBasicAuth(basicBytes([0x61, 0x64, 0xff, 0x3a, 0x78])), null, "bad user byte");
  assertEquals(parseBasicAuth(basicBytes([0x61, 0x3a, 0xc3, 0x28])), null, "bad password bytes");
  assertEquals(
    parseBasicAuth(basicBytes([0x61, 0x3a, 0xfc])),
    null,
    "Latin-1 'ü' is not taken for UTF-8",
  );
});

Deno.test("an over-long Authorization header is malformed without being decoded", () => {
  const long = basic("admin", "x".repeat(4000));
  assert(long.length > 4096);
  assertEquals(parseBasicAuth(long), null);
  const fits = basic("admin", "x".repeat(3000));
  assert(fits.length <= 4096);
  assertEquals(parseBasicAuth(fits), { user: "admin", password: "x".repeat(3000) });
});

Deno.test("the 401 challenge names the realm and UTF-8 as the charset", async () => {
  const { response, bytes } = challenge("Prometheus");
  assertEquals(response.status, 401);
  assertEquals(
    response.headers.get("www-authenticate"),
    'Basic realm="Prometheus", charset="UTF-8"',
  );
  const body = await response.text();
  assertStringIncludes(body, "401");
  assertEquals(bytes, new TextEncoder().encode(body).byteLength);
});

// ---------------------------------------------------------------------------------------------
// Authenticator, with real bcrypt hashes and the real verifier

/** `htpasswd -nbB -C 5 USER PASSWORD` lines, made once per (user, password). */
const lines = new Map<string, string>();
async function htpasswdLine(user: string, password: string): Promise<string> {
  const key = JSON.stringify([user, password]);
  let line = lines.get(key);
  if (line === undefined) {
    const r = await run("htpasswd", ["-nbB", "-C", "5", user, password]);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    line = r.stdout.trim();
    lines.set(key, line);
  }
  return line;
}

/** Users parsed by the real htpasswd parser from lines made by the real htpasswd. */
async function usersOf(credentials: Record<string, string>): Promise<Users> {
  const text: string[] = [];
  for (const [user, password] of Object.entries(credentials)) {
    text.push(await htpasswdLine(user, password));
  }
  return parseHtpasswd(text.join("\n") + "\n", "test.htpasswd");
}

/** The real verifier, counting the slow verifications it is asked for. */
function countingVerifier(): PasswordVerifier & { calls: number } {
  const real = createVerifier();
  const counting = {
    calls: 0,
    verify(password: string, hash: Parameters<PasswordVerifier["verify"]>[1]) {
      counting.calls++;
      return real.verify(password, hash);
    },
    close() {
      real.close();
    },
  };
  return counting;
}

/** Runs `fn` with an Authenticator over `users`, closing the verifier afterwards. */
async function withAuth(
  users: Users,
  fn: (auth: Authenticator, verifier: PasswordVerifier & { calls: number }) => Promise<void>,
): Promise<void> {
  const verifier = countingVerifier();
  try {
    await fn(new Authenticator(users, verifier), verifier);
  } finally {
    verifier.close();
  }
}

const HTPASSWD = needs("htpasswd");

Deno.test({
  ...HTPASSWD,
  name: "the right password logs in, and the second login is served from the cache",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth, verifier) => {
      assertEquals(await auth.check(basic("admin", "secret")), {
        ok: true,
        user: "admin",
        cached: false,
      });
      assertEquals(await auth.check(basic("admin", "secret")), {
        ok: true,
        user: "admin",
        cached: true,
      });
      assertEquals(verifier.calls, 1, "bcrypt ran once for two logins");
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a wrong password is refused, every time",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth, verifier) => {
      const wrong: AuthResult = { ok: false, reason: "wrong_password", user: "admin" };
      assertEquals(await auth.check(basic("admin", "Secret")), wrong);
      assertEquals(await auth.check(basic("admin", "Secret")), wrong, "failures are not cached");
      assertEquals(await auth.check(basic("admin", "")), wrong);
      assertEquals(await auth.check(basic("admin", "secret ")), wrong);
      assertEquals(verifier.calls, 4);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a wrong password after a cached login is still refused",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth) => {
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      assertEquals(await auth.check(basic("admin", "secret2")), {
        ok: false,
        reason: "wrong_password",
        user: "admin",
      });
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "an unknown user is refused after costing a verification, like a wrong password",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth, verifier) => {
      assertEquals(await auth.check(basic("nobody", "secret")), {
        ok: false,
        reason: "unknown_user",
        user: "nobody",
      });
      assertEquals(verifier.calls, 1, "an unknown user must not answer faster than a known one");
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "no Authorization header is 'missing' and a garbled one 'malformed', without hashing",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth, verifier) => {
      assertEquals(await auth.check(null), { ok: false, reason: "missing", user: null });
      assertEquals(await auth.check("Basic !!!"), { ok: false, reason: "malformed", user: null });
      assertEquals(await auth.check("Bearer abc"), { ok: false, reason: "malformed", user: null });
      assertEquals(verifier.calls, 0);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "user names are case-sensitive",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth) => {
      assertEquals((await auth.check(basic("Admin", "secret"))).ok, false);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a UTF-8 user name and password log in",
  async fn() {
    await withAuth(await usersOf({ jürgen: "pässwörd€" }), async (auth) => {
      assertEquals(await auth.check(basic("jürgen", "pässwörd€")), {
        ok: true,
        user: "jürgen",
        cached: false,
      });
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a password containing colons logs in",
  async fn() {
    await withAuth(await usersOf({ admin: "a:b::c" }), async (auth) => {
      assertEquals((await auth.check(basic("admin", "a:b::c"))).ok, true);
      assertEquals((await auth.check(basic("admin", "a"))).ok, false);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a cached login stops working once the htpasswd file gives the user a new password",
  async fn() {
    await withAuth(await usersOf({ admin: "secret", other: "x" }), async (auth) => {
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      auth.setUsers(await usersOf({ admin: "changed", other: "x" }));
      assertEquals(await auth.check(basic("admin", "secret")), {
        ok: false,
        reason: "wrong_password",
        user: "admin",
      });
      assertEquals(await auth.check(basic("admin", "changed")), {
        ok: true,
        user: "admin",
        cached: false,
      });
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a cached login stops working once the user is removed from the htpasswd file",
  async fn() {
    await withAuth(await usersOf({ admin: "secret", other: "x" }), async (auth) => {
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      auth.setUsers(await usersOf({ other: "x" }));
      assertEquals(await auth.check(basic("admin", "secret")), {
        ok: false,
        reason: "unknown_user",
        user: "admin",
      });
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "reloading an unchanged htpasswd file keeps cached logins",
  async fn() {
    const users = await usersOf({ admin: "secret" });
    await withAuth(users, async (auth, verifier) => {
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      // A reload parses the file again: new objects, same hashes.
      auth.setUsers(parseHtpasswd((await htpasswdLine("admin", "secret")) + "\n", "reloaded"));
      assertEquals(await auth.check(basic("admin", "secret")), {
        ok: true,
        user: "admin",
        cached: true,
      });
      assertEquals(verifier.calls, 1);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "the stored hash itself is not a password, even once the real one is cached",
  async fn() {
    // CVE-2022-46146 (exporter-toolkit): a cache keyed on the hash let the hash log in.
    const users = await usersOf({ admin: "secret" });
    const encoded = users.get("admin")!.encoded;
    await withAuth(users, async (auth) => {
      const refused: AuthResult = { ok: false, reason: "wrong_password", user: "admin" };
      assertEquals(await auth.check(basic("admin", encoded)), refused, "before any login");
      assertEquals((await auth.check(basic("admin", "secret"))).ok, true);
      assertEquals(await auth.check(basic("admin", encoded)), refused, "after a cached login");
      assertEquals(await auth.check(basic("admin", encoded + "secret")), refused);
      assertEquals(await auth.check(basic("admin", "secret" + encoded)), refused);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "user 'a:b' with password 'c' is user 'a' with password 'b:c', never a second identity",
  async fn() {
    // Basic credentials end the user name at the first colon (RFC 7617), so both spellings send
    // the same bytes and must be judged as the single credential a / "b:c".
    assertEquals(basic("a:b", "c"), basic("a", "b:c"));
    await withAuth(await usersOf({ a: "b:c", "a-b": "c" }), async (auth) => {
      assertEquals(await auth.check(basic("a:b", "c")), { ok: true, user: "a", cached: false });
      assertEquals(await auth.check(basic("a", "b:c")), { ok: true, user: "a", cached: true });
      assertEquals((await auth.check(basic("a", "b"))).ok, false);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "two users sharing one hash do not share cached logins across user/password splits",
  async fn() {
    // Both users get the very same hash string (of "bc"), so only the cache key keeps apart
    // ("a", "bc") and ("ab", "c"), which a key of user+password would confuse.
    const line = await htpasswdLine("a", "bc");
    const hash = line.slice(line.indexOf(":") + 1);
    const users = parseHtpasswd(`a:${hash}\nab:${hash}\n`, "shared.htpasswd");
    await withAuth(users, async (auth) => {
      assertEquals(await auth.check(basic("a", "bc")), { ok: true, user: "a", cached: false });
      assertEquals(await auth.check(basic("ab", "c")), {
        ok: false,
        reason: "wrong_password",
        user: "ab",
      });
      assertEquals(await auth.check(basic("ab", "bc")), { ok: true, user: "ab", cached: false });
      assertEquals(await auth.check(basic("a", "bc")), { ok: true, user: "a", cached: true });
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "a burst of requests with one new credential costs a single bcrypt verification",
  async fn() {
    await withAuth(await usersOf({ admin: "secret" }), async (auth, verifier) => {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => auth.check(basic("admin", "secret"))),
      );
      assertEquals(results.every((r) => r.ok && r.user === "admin"), true);
      assertEquals(verifier.calls, 1);
    });
  },
});

Deno.test({
  ...HTPASSWD,
  name: "the credential cache is bounded: the oldest login is verified again",
  async fn() {
    const users = await usersOf({ u1: "p1", u2: "p2", u3: "p3" });
    const verifier = countingVerifier();
    try {
      const auth = new Authenticator(users, verifier, 2);
      for (const n of [1, 2, 3]) assertEquals((await auth.check(basic(`u${n}`, `p${n}`))).ok, true);
      assertEquals(await auth.check(basic("u3", "p3")), { ok: true, user: "u3", cached: true });
      assertEquals(await auth.check(basic("u1", "p1")), { ok: true, user: "u1", cached: false });
    } finally {
      verifier.close();
    }
  },
});
