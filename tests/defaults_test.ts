/**
 * Every default is written once, in lib/defaults.ts: the schema applies it, and the reference
 * (docs/config.md) must say the same.
 */
import { assertEquals } from "./_assert.ts";
import { DEFAULTS } from "../lib/defaults.ts";
import { configSchema } from "../lib/config/schema.ts";

const REPO = new URL("../", import.meta.url);

/** docs/config.md's section headings, and the part of DEFAULTS their tables describe. */
const SECTIONS: Record<string, Record<string, unknown>> = {
  "Top level": {
    listen: DEFAULTS.listen,
    accessLog: DEFAULTS.accessLog,
    shutdownGraceSeconds: DEFAULTS.shutdownGraceSeconds,
    workers: DEFAULTS.workers,
  },
  "`listen`": DEFAULTS.listen,
  "`auth`": DEFAULTS.auth,
  "`auth.throttle`": DEFAULTS.throttle,
  "`routes`": DEFAULTS.route,
  "`metrics`": DEFAULTS.metrics,
  "`accessLog`": DEFAULTS.accessLog,
};

/** `| \`key\` | type | \`value\` |` rows of each `##`/`###` section: section -> key -> value. */
function documentedDefaults(markdown: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let section = "";
  for (const line of markdown.split("\n")) {
    const heading = /^#{2,3} (.+)$/.exec(line);
    if (heading) section = heading[1].trim();
    const row = /^\| `([A-Za-z$]+)` +\|[^|]*\| `([^`]*)` +\|/.exec(line);
    if (!row) continue;
    if (!out.has(section)) out.set(section, new Map());
    out.get(section)!.set(row[1], row[2]);
  }
  return out;
}

Deno.test("docs/config.md gives the defaults lib/defaults.ts holds", async () => {
  const docs = documentedDefaults(
    await Deno.readTextFile(new URL("docs/config.md", REPO)),
  );
  let compared = 0;
  for (const [section, defaults] of Object.entries(SECTIONS)) {
    const rows = docs.get(section);
    for (const key of Object.keys(defaults)) {
      const text = rows?.get(key);
      if (text === undefined) continue;
      assertEquals([section, key, JSON.parse(text)], [section, key, defaults[key]]);
      compared++;
    }
  }
  // Every default in DEFAULTS appears somewhere (a parser that matched nothing would pass).
  assertEquals(compared, 25, `${compared} defaults compared`);
});

Deno.test("the schema applies the defaults of lib/defaults.ts", () => {
  const raw = configSchema.parse({
    auth: { htpasswdFile: "x" },
    routes: [{ path: "/", upstream: "http://localhost:9090/" }],
    accessLog: {},
    metrics: {},
  });
  assertEquals(raw.listen, { ...DEFAULTS.listen });
  assertEquals(raw.auth?.realm, DEFAULTS.auth.realm);
  assertEquals(raw.auth?.throttle, { ...DEFAULTS.throttle });
  assertEquals(raw.accessLog, { ...DEFAULTS.accessLog });
  assertEquals(raw.metrics, { ...DEFAULTS.metrics });
  assertEquals(raw.shutdownGraceSeconds, DEFAULTS.shutdownGraceSeconds);
  assertEquals(raw.workers, DEFAULTS.workers);
  const { auth, timeoutSeconds, forwardAuthorization, readOnly, forwardUser } = raw.routes[0];
  assertEquals(
    { auth, timeoutSeconds, forwardAuthorization, readOnly, forwardUser },
    { ...DEFAULTS.route },
  );
});
