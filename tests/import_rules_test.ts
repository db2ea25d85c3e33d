/**
 * The import rules of lib/ (DESIGN.md "Shape of the code"), read from the source text:
 *
 * 1. core-no-runtime: nothing in lib/http/, lib/auth/ or lib/config/ imports lib/runtime/, not
 *    even a type.
 * 2. face: a folder is entered through its mod.ts; nothing outside it imports its inner files.
 * 3. no-circles: no import circle, type-only imports included.
 * 4. threads-stay-light: what a worker entry (server thread, password worker) loads never
 *    reaches the config code, zod or @peculiar/x509 (zod alone costs each thread ~25 MB), nor
 *    the Redis client, which only the main thread runs: the binary bundles for each worker entry
 *    everything it could load, `import()` included (~500 KB for the client).
 * 5. kernel-is-leaf: the kernel files at lib/'s root import no other lib file but each other.
 * 6. loaded-on-first-use: what main.ts or a worker entry loads at start (its closure over static
 *    value imports) never reaches code that only some configs or requests run: tenancy, Redis,
 *    the PROXY protocol front, WebSockets, the JWT check, single sign-on, and their packages
 *    (and certificate generation's). Each is loaded by `import()` when first needed, so that a
 *    config without it does not hold its code in every thread (and V8 grows each thread's heap
 *    by a multiple of what stays live).
 *
 * The worker entries are those of deno.json's `compile` task, and the test checks that every
 * other place naming them (compile:deno, the Dockerfile, README, the workers' URL fallbacks)
 * names the same files.
 */
import { assertEquals } from "./_assert.ts";

const REPO = new URL("../", import.meta.url);

/** One import of `from`: another file of the tree (`to`), or a package (`external`). */
export interface Edge {
  readonly to: string;
  /** `import type`, `export type`, or every named specifier marked `type`: erased at run time. */
  readonly typeOnly: boolean;
  readonly external?: boolean;
  /** `import("…")`: loaded when that line runs, not when the importing file loads. */
  readonly dynamic?: boolean;
}

/** Repo-relative file ("lib/…/x.ts", "main.ts") -> its imports. */
export type Graph = Map<string, Edge[]>;

/** The root folders that hold the layers, lowest first; the kernel files sit beside them. */
const CORE = ["lib/http/", "lib/auth/", "lib/config/"];
const KERNEL = ["lib/errors.ts", "lib/log.ts", "lib/bytes.ts", "lib/version.ts", "lib/defaults.ts"];
/** What a thread must not load: the config code, and the packages only the main thread needs. */
const HEAVY = ["lib/config/", "zod", "@peculiar/x509", "@redis/client"];
/** What no file loads at start, only by `import()` when a config needs it. */
const ON_FIRST_USE = [
  "lib/http/tenancy/",
  "lib/state/redis.ts",
  "lib/state/replicated.ts",
  "lib/runtime/proxy_protocol.ts",
  "lib/http/websocket.ts",
  "lib/http/websocket_client.ts",
  "lib/http/websocket_frames.ts",
  "lib/auth/jwt.ts",
  "lib/auth/oidc.ts",
  "@peculiar/x509",
  "reflect-metadata",
  "@prometheus-io/lezer-promql",
  "jose",
  "oauth4webapi",
  "@redis/client",
];

const STATIC =
  /^[ \t]*(import|export)[ \t]+(type[ \t]+)?(?:(\{[^}]*\}|\*[ \t]+as[ \t]+\w+|\*|\w+(?:[ \t]*,[ \t]*\{[^}]*\})?)\s+from\s+)?["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Posix path join and normalisation ("lib/a/../b.ts" -> "lib/b.ts"). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.pop();
    else if (part !== "." && part !== "") out.push(part);
  }
  return out.join("/");
}

const dirOf = (file: string) => file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";

/** The imports in one file's text (comment lines dropped; worker URLs are not imports). */
export function importsOf(file: string, text: string): Edge[] {
  const code = text
    .replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, "")
    .replace(/^[ \t]*\/\/.*$/gm, "");
  const edge = (specifier: string, typeOnly: boolean, dynamic = false): Edge => {
    const e: Edge = specifier.startsWith(".")
      ? { to: normalize(`${dirOf(file)}/${specifier}`), typeOnly }
      : { to: specifier.replace(/^npm:/, "").replace(/@[^@/]*$/, ""), typeOnly, external: true };
    return dynamic ? { ...e, dynamic } : e;
  };
  const edges: Edge[] = [];
  for (const m of code.matchAll(STATIC)) {
    const clause = m[3] ?? "";
    const named = /^\{([^}]*)\}$/.exec(clause.trim());
    const allTypes = named !== null &&
      named[1].split(",").map((s) => s.trim()).filter((s) => s !== "").every((s) =>
        s.startsWith("type ")
      ) && named[1].trim() !== "";
    edges.push(edge(m[4], m[2] !== undefined || allTypes));
  }
  for (const m of code.matchAll(DYNAMIC)) edges.push(edge(m[1], false, true));
  return edges;
}

/** The import graph of `root`'s lib/ and main.ts. */
export async function readGraph(root: URL): Promise<Graph> {
  const graph: Graph = new Map();
  const visit = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await visit(`${path}/`);
      else if (path.endsWith(".ts")) {
        graph.set(path, importsOf(path, await Deno.readTextFile(new URL(path, root))));
      }
    }
  };
  await visit("lib/");
  graph.set("main.ts", importsOf("main.ts", await Deno.readTextFile(new URL("main.ts", root))));
  return graph;
}

const under = (file: string, prefixes: readonly string[]) =>
  prefixes.some((p) => p.endsWith("/") ? file.startsWith(p) : file === p);

/**
 * Whether `from` imports `to` past the face of a folder that holds `to` but not `from`: allowed
 * are files of `from`'s own folder or of an enclosing one, and the mod.ts of a folder beside
 * them. main.ts counts as a file of lib/.
 */
function crossesFace(from: string, to: string): boolean {
  const a = (from === "main.ts" ? "lib/main.ts" : from).split("/"), b = to.split("/");
  let common = 0;
  while (common < a.length - 1 && common < b.length - 1 && a[common] === b[common]) common++;
  const rest = b.slice(common);
  if (rest.length === 1) return false;
  return !(rest.length === 2 && rest[1] === "mod.ts");
}

/** Strongly connected components of more than one file (or a file importing itself). */
function circles(graph: Graph): string[][] {
  let index = 0;
  const order = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const connect = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const e of graph.get(v) ?? []) {
      if (e.external || !graph.has(e.to)) continue;
      if (!order.has(e.to)) {
        connect(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, order.get(e.to)!));
    }
    if (low.get(v) === order.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      const self = (graph.get(v) ?? []).some((e) => e.to === v);
      if (component.length > 1 || self) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!order.has(v)) connect(v);
  return found;
}

/**
 * What `entry` loads at run time: its closure over value imports, dynamic ones included unless
 * `atStart` asks for what it loads before any of its code runs.
 */
function loads(graph: Graph, entry: string, atStart = false): Set<string> {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length > 0) {
    for (const e of graph.get(todo.pop()!) ?? []) {
      if (e.typeOnly || (atStart && e.dynamic) || seen.has(e.to)) continue;
      seen.add(e.to);
      if (!e.external) todo.push(e.to);
    }
  }
  return seen;
}

/** Every broken rule, one line each ("rule: from -> to"); empty when the graph keeps them all. */
export function violations(graph: Graph, workerEntries: readonly string[]): string[] {
  const out: string[] = [];
  for (const [from, edges] of graph) {
    for (const { to, external } of edges) {
      if (external) continue;
      if (under(from, CORE) && to.startsWith("lib/runtime/")) {
        out.push(`core-no-runtime: ${from} -> ${to}`);
      }
      if (to.startsWith("lib/") && crossesFace(from, to)) {
        out.push(`face: ${from} -> ${to}`);
      }
      if (under(from, KERNEL) && to.startsWith("lib/") && !under(to, KERNEL)) {
        out.push(`kernel-is-leaf: ${from} -> ${to}`);
      }
    }
  }
  for (const circle of circles(graph)) out.push(`no-circles: ${circle.join(" -> ")}`);
  for (const entry of workerEntries) {
    for (const file of loads(graph, entry)) {
      if (under(file, HEAVY)) out.push(`threads-stay-light: ${entry} loads ${file}`);
    }
  }
  for (const entry of ["main.ts", ...workerEntries]) {
    for (const file of loads(graph, entry, true)) {
      if (under(file, ON_FIRST_USE)) out.push(`loaded-on-first-use: ${entry} loads ${file}`);
    }
  }
  return out.sort();
}

/** The worker entry points deno.json's `compile` task bundles beside main.ts. */
async function compileEntries(): Promise<{ compile: string[]; compileDeno: string[] }> {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
  const compile = [...(tasks.compile as string).matchAll(/\s(lib\/\S+\.ts)/g)].map((m) => m[1]);
  const compileDeno = [...(tasks["compile:deno"] as string).matchAll(/--include (\S+)/g)]
    .map((m) => m[1]);
  return { compile, compileDeno };
}

Deno.test("lib/ keeps its import rules", async () => {
  const { compile } = await compileEntries();
  assertEquals(violations(await readGraph(REPO), compile), []);
});

Deno.test("the checker catches each kind of break", () => {
  const graph: Graph = new Map([
    // 1: the core imports the runtime, through its face (so only rule 1 breaks).
    ["lib/http/proxy.ts", [{ to: "lib/runtime/mod.ts", typeOnly: true }]],
    ["lib/runtime/mod.ts", []],
    // 2: past another folder's face.
    ["lib/service/app.ts", [{ to: "lib/auth/throttle.ts", typeOnly: false }]],
    ["lib/auth/mod.ts", [{ to: "lib/auth/throttle.ts", typeOnly: false }]],
    ["lib/auth/throttle.ts", []],
    // 3: a circle, of type-only imports.
    ["lib/state/a.ts", [{ to: "lib/state/b.ts", typeOnly: true }]],
    ["lib/state/b.ts", [{ to: "lib/state/a.ts", typeOnly: true }]],
    // 4: a thread loads the config (and so zod); a type-only import would be fine.
    ["lib/service/threads/thread.ts", [
      { to: "lib/config/mod.ts", typeOnly: false },
      { to: "lib/state/mod.ts", typeOnly: true },
      { to: "lib/http/mod.ts", typeOnly: false },
    ]],
    // 6: the thread loads tenancy at start; a package loaded by import() is fine.
    ["lib/http/mod.ts", [
      { to: "lib/http/tenancy/mod.ts", typeOnly: false },
      { to: "jose", typeOnly: false, external: true, dynamic: true },
    ]],
    ["lib/http/tenancy/mod.ts", []],
    ["lib/state/mod.ts", [{ to: "lib/state/a.ts", typeOnly: false }]],
    ["lib/config/mod.ts", [{ to: "zod", typeOnly: false, external: true }]],
    // 5: a kernel file imports a folder.
    ["lib/log.ts", [{ to: "lib/auth/mod.ts", typeOnly: false }]],
  ]);
  assertEquals(violations(graph, ["lib/service/threads/thread.ts"]), [
    "core-no-runtime: lib/http/proxy.ts -> lib/runtime/mod.ts",
    "face: lib/service/app.ts -> lib/auth/throttle.ts",
    "kernel-is-leaf: lib/log.ts -> lib/auth/mod.ts",
    "loaded-on-first-use: lib/service/threads/thread.ts loads lib/http/tenancy/mod.ts",
    "no-circles: lib/state/a.ts -> lib/state/b.ts",
    "threads-stay-light: lib/service/threads/thread.ts loads lib/config/mod.ts",
    "threads-stay-light: lib/service/threads/thread.ts loads zod",
  ]);
});

Deno.test("the reader sees the import forms lib/ uses", () => {
  const text = [
    "/**",
    ' * import { nope } from "./in_a_comment.ts";',
    " */",
    '// import { nope } from "./also_a_comment.ts";',
    'import { a, type B } from "./a.ts";',
    'import type { C } from "../c.ts";',
    'import { type D, type E } from "./de.ts";',
    'import * as f from "./f.ts";',
    'import g from "npm:g@1.2.3";',
    'import "./side.ts";',
    'export { h } from "./h.ts";',
    'export type { I } from "./i.ts";',
    "import {",
    "  j,",
    "  type K,",
    '} from "./jk.ts";',
    'const l = await import("./l.ts");',
    'const worker = new URL("./not_an_import.ts", import.meta.url);',
    'const text = "import { x } from \\"./in_a_string.ts\\"";',
  ].join("\n");
  assertEquals(importsOf("lib/x/y.ts", text), [
    { to: "lib/x/a.ts", typeOnly: false },
    { to: "lib/c.ts", typeOnly: true },
    { to: "lib/x/de.ts", typeOnly: true },
    { to: "lib/x/f.ts", typeOnly: false },
    { to: "g", typeOnly: false, external: true },
    { to: "lib/x/side.ts", typeOnly: false },
    { to: "lib/x/h.ts", typeOnly: false },
    { to: "lib/x/i.ts", typeOnly: true },
    { to: "lib/x/jk.ts", typeOnly: false },
    { to: "lib/x/l.ts", typeOnly: false, dynamic: true },
  ]);
});

Deno.test("a deliberately broken import in a copy of the tree fails the rules", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "promgate_imports_" });
  try {
    const root = new URL(`file://${tmp}/`);
    await copyTree(new URL("lib/", REPO), new URL("lib/", root));
    await Deno.copyFile(new URL("main.ts", REPO), new URL("main.ts", root));
    const { compile } = await compileEntries();
    assertEquals(violations(await readGraph(root), compile), []);
    const config = "lib/config/mod.ts";
    // A circle: the kernel's log imports the config, which imports the log.
    await append(
      root,
      "lib/log.ts",
      `export type { Config } from "${relative("lib/log.ts", config)}";`,
    );
    const found = violations(await readGraph(root), compile);
    assertEquals(found.some((v) => v.startsWith("no-circles: ") && v.includes("lib/log.ts")), true);
    assertEquals(found.includes(`kernel-is-leaf: lib/log.ts -> ${config}`), true);
    // A server thread loading the config module, and with it zod.
    const thread = compile.find((e) => !e.includes("password"))!;
    await append(root, thread, `import "${relative(thread, config)}";`);
    const heavy = violations(await readGraph(root), compile);
    assertEquals(heavy.includes(`threads-stay-light: ${thread} loads zod`), true, heavy.join("\n"));
    // A server thread loading tenancy's code at start, where a route without tenancy never runs it.
    await append(root, "lib/http/forward.ts", 'import "./tenancy/mod.ts";');
    const eager = violations(await readGraph(root), compile);
    assertEquals(
      eager.includes(`loaded-on-first-use: ${thread} loads lib/http/tenancy/mod.ts`),
      true,
      eager.join("\n"),
    );
    // The core importing the runtime (a type is enough).
    await append(root, "lib/http/proxy.ts", 'import type { Runtime } from "../runtime/mod.ts";');
    const core = violations(await readGraph(root), compile);
    assertEquals(core.includes("core-no-runtime: lib/http/proxy.ts -> lib/runtime/mod.ts"), true);
    // Past another folder's face.
    await append(
      root,
      "lib/http/handler.ts",
      'import type { Throttle } from "../auth/throttle.ts";',
    );
    const face = violations(await readGraph(root), compile);
    assertEquals(face.includes("face: lib/http/handler.ts -> lib/auth/throttle.ts"), true);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

async function append(root: URL, file: string, line: string): Promise<void> {
  const url = new URL(file, root);
  await Deno.writeTextFile(url, `${await Deno.readTextFile(url)}\n${line}\n`);
}

/** The specifier `from` uses to import `to` (both repo-relative). */
function relative(from: string, to: string): string {
  const a = dirOf(from).split("/"), b = to.split("/");
  let common = 0;
  while (common < a.length && common < b.length - 1 && a[common] === b[common]) common++;
  const up = a.length - common;
  return (up === 0 ? "./" : "../".repeat(up)) + b.slice(common).join("/");
}

async function copyTree(from: URL, to: URL): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) {
      await copyTree(new URL(`${entry.name}/`, from), new URL(`${entry.name}/`, to));
    } else await Deno.copyFile(new URL(entry.name, from), new URL(entry.name, to));
  }
}

Deno.test("every place naming the worker entries names the same files", async () => {
  const { compile, compileDeno } = await compileEntries();
  assertEquals(compile.length, 2);
  assertEquals(compileDeno, compile);
  const dockerfile = await Deno.readTextFile(new URL("deploy/Dockerfile", REPO));
  const readme = await Deno.readTextFile(new URL("README.md", REPO));
  for (const text of [dockerfile, readme]) {
    assertEquals(text.includes(`main.ts ${compile.join(" ")}`), true, compile.join(" "));
  }
  // The workers' URLs: beside the pool when run from source, at their path in the bundle.
  const fallbacks: string[] = [];
  for (const [file] of await readGraph(REPO)) {
    const text = await Deno.readTextFile(new URL(file, REPO));
    const m =
      /import\.meta\.url\.endsWith\("\/([^"]+)"\)\s*\?\s*new URL\("\.\/([^"]+)", import\.meta\.url\)\.href\s*:\s*new URL\("\.\/([^"]+)", import\.meta\.url\)/
        .exec(text);
    if (!m) continue;
    assertEquals(file.endsWith(`/${m[1]}`), true, `${file} tests for /${m[1]}`);
    assertEquals(`${dirOf(file)}/${m[2]}`, m[3], `${file}: ${m[2]} vs ${m[3]}`);
    fallbacks.push(m[3]);
  }
  assertEquals(fallbacks.sort(), [...compile].sort());
});
