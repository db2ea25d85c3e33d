/**
 * Tests for lib/config/. Fixtures follow the Prometheus exporter-toolkit style: every
 * testdata/config/*.good.json must load, and every *.bad.json must fail with the message
 * fragments listed in BAD below (the table is checked against the directory both ways).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Config } from "../lib/config/types.ts";
import { configSchema } from "../lib/config/schema.ts";
import { loadConfig, parseConfig } from "../lib/config/load.ts";
import { InputError } from "../lib/errors.ts";
import { generateSchema, schemaFile } from "../scripts/gen_schema.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const dir = fileURLToPath(new URL("./testdata/config/", import.meta.url));

/** Loads a config that must fail; returns the InputError's message. */
async function failure(load: () => Promise<Config>): Promise<string> {
  try {
    await load();
  } catch (e) {
    assert.ok(e instanceof InputError, `expected InputError, got ${e}`);
    return e.message;
  }
  throw new assert.AssertionError({ message: "config loaded, but should have failed" });
}

const ROUTE = { path: "/prometheus/", upstream: "http://localhost:9090/" };
const AUTH = { htpasswdFile: "admin.htpasswd" };
/** parseConfig on a JSON value, as if it were a file in the fixture directory. */
const parse = (value: unknown) => parseConfig(JSON.stringify(value), `${dir}inline.json`);

// -- bad fixtures --------------------------------------------------------------------------------

/** Every fragment must appear in the error message of that fixture. */
const BAD: Record<string, string[]> = {
  access_log_dir_missing: ["accessLog.path: directory ", "no-such-dir does not exist"],
  access_log_format: ['accessLog.format: "common" is not one of "combined", "json".'],
  access_log_path_is_dir: ["accessLog.path: ", "is a directory"],
  access_log_string: [
    'accessLog: "off" is not valid. Use {"format":"combined","path":"-"} or false.',
  ],
  access_log_true: ["accessLog: true is not valid."],
  access_log_unknown_key: ['accessLog: unknown key "file". Valid keys: format, path.'],
  auth_missing: ['auth: missing, but routes[1] ("/prometheus/") requires it'],
  auth_no_htpasswd: ['auth.htpasswdFile: missing. e.g. "htpasswdFile": ".htpasswd"'],
  auth_null: ["auth: null is not allowed"],
  duplicate_key: ['duplicate_key.bad.json:8:7: duplicate key "auth" in routes[0] (first at 7:7)'],
  duplicate_prefix: ['routes[1].path: "/prometheus" duplicates routes[0].path "/prometheus/"'],
  duplicate_root: ['routes[1].path: "/" duplicates routes[0].path "/"'],
  forward_authorization_string: ['routes[0].forwardAuthorization: "yes" is a string'],
  grace_huge: ["shutdownGraceSeconds: 7200 is too big: it must be at most 3600."],
  grace_negative: ["shutdownGraceSeconds: -1 is too small: it must be at least 0."],
  grace_string: ['shutdownGraceSeconds: "10s" is a string; expected a number.'],
  htpasswd_is_dir: ["auth.htpasswdFile: ", "is a directory"],
  htpasswd_not_found: [
    `auth.htpasswdFile: file ${dir}missing.htpasswd not found.`,
    `Create it with: htpasswd -cB ${dir}missing.htpasswd admin`,
  ],
  listen_hostname_brackets: ['listen.hostname: "[::1]": write IPv6 addresses without brackets'],
  listen_hostname_with_port: ["includes a port; put the port in listen.port."],
  listen_port_fraction: ["listen.port: 80.5 is not a whole number."],
  listen_port_negative: ["listen.port: -1 is too small: it must be at least 0."],
  listen_port_range: ["listen.port: 70000 is too big: it must be at most 65535."],
  listen_port_string: ['listen.port: "12321" is a string; expected a number. e.g. "port": 12321'],
  many_problems: [
    'listen.port: "80" is a string',
    'routes[0].upstream: "ftp://x" is not an http:// or https:// URL.',
    "routes[0].timeoutSeconds: -1 is too small",
    'routes[1].path: "/prometheus" duplicates',
    'unknown key "acessLog". Did you mean "accessLog"?',
    "auth: missing",
  ],
  not_object: ["[] is an array; expected an object { ... }. See config.example.json."],
  allow_unknown_group: [
    'routes[0].allow[0]: "@opz" names no group. Define it in "groups", e.g. "groups": { "opz": ["alice"] }.',
  ],
  admins_without_read_only: ['routes[0].admins: only applies with "readOnly": true.'],
  tenancy_bad_header: ['routes[0].tenancy.header: "X_Scope_OrgID" is not a header name'],
  tenancy_bad_label: ['routes[0].tenancy.label: "tenant-id" is not a Prometheus label name'],
  tenancy_empty_list: [
    "routes[0].tenancy.values.alice: is empty; it needs at least one item.",
    "routes[0].tenancy.values.bob[0]: is empty.",
  ],
  tenancy_empty_values: ["routes[0].tenancy.values: is empty. Name who is restricted"],
  tenancy_header_is_forward_user: [
    "routes[0].tenancy.header: is also the route's forwardUser header.",
  ],
  tenancy_no_label_or_header: ['routes[0].tenancy: has neither "label" nor "header"'],
  tenancy_owned_header: ['routes[0].tenancy.header: "Authorization" is a header HTTP or promgate'],
  tenancy_pipe_in_header_value: [
    'routes[0].tenancy.values.alice: "a|b" contains "|", which separates values in the "header".',
  ],
  tenancy_public_route: ['routes[0].tenancy: needs a logged-in user, but the route has "auth"'],
  tenancy_reserved_label: ['routes[0].tenancy.label: "__name__" starts with "__"'],
  tenancy_restricted_and_unrestricted: [
    'routes[0].tenancy.unrestricted[0]: "bob" is also restricted by values (through "@team-b").',
    "remove the user from one of them.",
  ],
  tenancy_small_body_limit: ["routes[0].tenancy.maxBodyBytes: 10 is too small"],
  tenancy_unknown_group: [
    'routes[0].tenancy.values["@team-x"]: "@team-x" names no group.',
    'routes[0].tenancy.unrestricted[0]: "@opz" names no group.',
  ],
  tenancy_unknown_key: [
    'routes[0].tenancy: unknown key "unrestriced". Did you mean "unrestricted"?',
  ],
  forward_user_public: [
    'routes[0].forwardUser: needs a logged-in user, but the route has "auth": false.',
  ],
  forward_user_bad_header: ["routes[0].forwardUser: "],
  metrics_path_relative: ["metrics.path: "],
  throttle_delays_reversed: [
    "auth.throttle.maxDelaySeconds: maxDelaySeconds is below baseDelaySeconds.",
  ],
  throttle_zero_failures: ["auth.throttle.clientFailures: 0 is too small: it must be at least 1."],
  realm_backslash: ["auth.realm: ", "contains a backslash"],
  realm_control: ["auth.realm: ", "contains a control character"],
  realm_quote: ["auth.realm: ", 'contains a double quote (")'],
  route_auth_string: ['routes[0].auth: "false" is a string; expected true or false.'],
  route_not_object: ['routes[0]: "/prometheus/" is a string; expected an object'],
  route_path_backslash: ['routes[0].path: "/prometheus\\\\api" contains "\\"'],
  route_path_dot: ['routes[0].path: "/./prometheus" has a "." or ".." segment'],
  route_path_dot_dot: ['routes[0].path: "/prometheus/../admin" has a "." or ".." segment'],
  route_path_double_slash: ['routes[0].path: "/prometheus//api" contains "//"'],
  route_path_empty: ['routes[0].path: is empty. e.g. "path": "/prometheus/"'],
  route_path_fragment: ['routes[0].path: "/prometheus#x" contains "#"'],
  route_path_no_slash: ['routes[0].path: "prometheus/" must start with "/"'],
  route_path_percent: ['routes[0].path: "/prom%65theus/" contains "%"'],
  route_path_query: ['routes[0].path: "/prometheus?x=1" contains "?"'],
  route_path_space: ['routes[0].path: "/my prometheus/" contains " "'],
  routes_empty: ["routes: is empty; it needs at least one item."],
  routes_missing: ['routes: missing. e.g. "routes": [{"path":"/prometheus/"'],
  schema_not_string: ["$schema: 1 is a number; expected a string."],
  state_db_not_number: [
    'state.redis: "redis://redis:6379/zero": the path must be a database number',
  ],
  state_not_redis_url: ['state.redis: "http://redis:6379/" is not a redis:// or rediss:// URL.'],
  state_password_file_missing: ["state.passwordFile: file ", "missing.password not found."],
  state_password_in_url: [
    'state.redis: "redis://***@redis:6379/0" contains a password; remove it and put it in a ' +
    'file named by "passwordFile"',
  ],
  state_redis_missing: ['state.redis: missing. e.g. "redis": "redis://redis:6379/0"'],
  state_timeout_zero: ["state.timeoutMs: 0 is too small: it must be at least 1."],
  state_unknown_key: ['state: unknown key "password". Did you mean "passwordFile"?'],
  timeout_huge: ["routes[0].timeoutSeconds: 100000 is too big: it must be at most 86400."],
  timeout_string: ['routes[0].timeoutSeconds: "5s" is a string; expected a number.'],
  timeout_zero: ["routes[0].timeoutSeconds: 0 is too small: it must be greater than 0."],
  tls_cert_not_found: [`tls.certFile: file ${dir}missing.crt not found.`, 'remove "tls"'],
  tls_cert_not_pem: [`tls.certFile: ${dir}admin.htpasswd is not a PEM certificate`],
  tls_empty: ["tls.certFile: missing.", "tls.keyFile: missing."],
  tls_key_encrypted: [`tls.keyFile: ${dir}ec_encrypted.key is encrypted.`, "openssl pkey -in"],
  tls_key_mismatch_ec: [
    `tls.keyFile: ${dir}ec_other.key does not belong to the certificate in ${dir}ec.crt.`,
  ],
  tls_key_mismatch_type: [
    `tls.keyFile: ${dir}ec.key does not belong to the certificate in ${dir}rsa.crt.`,
  ],
  tls_key_not_found: [`tls.keyFile: file ${dir}missing.key not found.`],
  tls_missing_key: ['tls.keyFile: missing. Name the PEM key file, or set "selfSigned": true'],
  tls_self_signed_and_files: ['tls.certFile: conflicts with "selfSigned": true.'],
  tls_hostnames_without_self_signed: ['tls.hostnames: only applies with "selfSigned": true.'],
  tls_self_signed_bad_hostname: ["tls.hostnames[0]"],
  tls_swapped: [
    "tls.certFile: ",
    "holds a private key, not a certificate: are certFile and keyFile swapped?",
    "holds a certificate, not a private key",
  ],
  unknown_auth_key_typo_weakens: ['routes[0]: unknown key "auht". Did you mean "auth"?'],
  unknown_key_far: [
    'listen: unknown key "banana". Valid keys: hostname, port, headerTimeoutSeconds, idleTimeoutSeconds, ',
  ],
  unknown_route_key: ['routes[0]: unknown key "upstrem". Did you mean "upstream"?'],
  unknown_tls_key: ['tls: unknown key "cert_file". Did you mean "certFile"?'],
  unknown_top_key: ['unknown key "acessLog". Did you mean "accessLog"?'],
  upstream_bad_port: ['routes[0].upstream: "http://localhost:99999/" is not a valid URL.'],
  upstream_fragment: ["routes[0].upstream: ", "has a query or fragment"],
  upstream_ftp: [
    'routes[0].upstream: "ftp://x" is not an http:// or https:// URL. Set it to the ' +
    `service's address, e.g. "http://localhost:9090/".`,
  ],
  upstream_missing: ['routes[0].upstream: missing. e.g. "upstream": "http://localhost:9090/"'],
  upstream_no_scheme: ['routes[0].upstream: "localhost:9090" is not an http:// or https:// URL.'],
  upstream_query: ['routes[0].upstream: "http://localhost:9090/?x=1" has a query or fragment'],
  upstream_userinfo: ['"http://***@localhost:9090/" contains a user name or password'],
  upstreams_bad_url: ['routes[0].upstream[1]: "ftp://prom-b/" is not an http:// or https:// URL.'],
  upstreams_balance_single: [
    'routes[0].balance: needs several upstreams; write "upstream" as an array',
  ],
  upstreams_health_unknown_key: [
    'routes[0].healthCheck: unknown key "interval". Valid keys: path, intervalSeconds,',
  ],
  upstreams_paths_differ: [
    'routes[0].upstream[1]: "http://prom-b:9090/prometheus/" has the path "/prometheus/", but ' +
    '"http://prom-a:9090/" has "/"; every upstream of a route must have the same path',
  ],
  upstreams_same_server: [
    'routes[0].upstream[1]: "http://PROM-A:9090/" names the same server as routes[0].upstream[0]',
  ],
};

async function fixtures(suffix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(suffix)) names.push(e.name.slice(0, -suffix.length));
  }
  return names.sort();
}

Deno.test("the BAD table and the *.bad.json fixtures match one to one", async () => {
  assert.deepEqual(await fixtures(".bad.json"), Object.keys(BAD).sort());
});

for (const [name, fragments] of Object.entries(BAD)) {
  Deno.test(`bad fixture ${name}.bad.json`, async () => {
    const file = `${dir}${name}.bad.json`;
    const message = await failure(() => loadConfig(file));
    for (const fragment of fragments) {
      assert.ok(message.includes(fragment), `${fragment}\n---\n${message}`);
    }
    // One problem per line, each naming the file.
    for (const line of message.split("\n")) assert.ok(line.startsWith(file), line);
  });
}

Deno.test("many_problems reports every problem, one per line, in file order", async () => {
  const message = await failure(() => loadConfig(`${dir}many_problems.bad.json`));
  const lines = message.split("\n");
  assert.equal(lines.length, BAD.many_problems.length);
  BAD.many_problems.forEach((fragment, i) => assert.ok(lines[i].includes(fragment), lines[i]));
});

Deno.test("an upstream's password never appears in an error", async () => {
  const message = await failure(() =>
    parse({ auth: AUTH, routes: [{ path: "/", upstream: "ftp://admin:hunter2@x/" }] })
  );
  assert.ok(!message.includes("hunter2"), message);
});

Deno.test("a Redis password written into state.redis never appears in an error", async () => {
  const message = await failure(() => loadConfig(`${dir}state_password_in_url.bad.json`));
  assert.ok(!message.includes("hunter2"), message);
});

// -- good fixtures -------------------------------------------------------------------------------

Deno.test("every *.good.json fixture loads", async () => {
  const names = await fixtures(".good.json");
  assert.ok(names.length >= 10, names.join());
  for (const name of names) await loadConfig(`${dir}${name}.good.json`);
});

Deno.test("groups, route policies, forwardUser and metrics load as written", async () => {
  const c = await loadConfig(`${dir}operability.good.json`);
  assert.deepEqual([...c.groups.get("ops")!], ["alice"]);
  assert.deepEqual(c.routes[0].policy, {
    allow: ["@viewers", "@ops", "carol"],
    readOnly: true,
    admins: ["@ops"],
  });
  assert.equal(c.routes[0].forwardUser, "x-webauth-user");
  assert.deepEqual(c.metrics, { path: "/-/promgate/metrics", auth: false });
  const minimal = await loadConfig(`${dir}minimal.good.json`);
  assert.equal(minimal.metrics, null);
  assert.deepEqual(minimal.routes[0].policy, { allow: null, readOnly: false, admins: [] });
  assert.equal(minimal.routes[0].forwardUser, null);
});

Deno.test("throttling is on by default, tunable, and false turns it off", async () => {
  assert.equal((await loadConfig(`${dir}throttle_off.good.json`)).auth?.throttle, null);
  const custom = (await loadConfig(`${dir}throttle_custom.good.json`)).auth?.throttle;
  assert.equal(custom?.clientFailures, 3);
  assert.equal(custom?.maxDelaySeconds, 30);
  assert.equal(custom?.userFailures, 10);
  assert.equal(custom?.clientUsers, 20);
  assert.equal(custom?.knownAddressDays, 7);
});

Deno.test("state: Redis for replicas, resolved with its defaults; absent by default", async () => {
  assert.deepEqual((await loadConfig(`${dir}state_redis.good.json`)).state, {
    redis: "rediss://promgate@redis.example.com:6380/2",
    passwordFile: `${dir}admin.htpasswd`,
    timeoutMs: 100,
    keyPrefix: "gate-a:",
  });
  const defaults = await parse({ auth: AUTH, routes: [ROUTE], state: { redis: "redis://r" } });
  assert.deepEqual(defaults.state, {
    redis: "redis://r",
    passwordFile: null,
    timeoutMs: 50,
    keyPrefix: "promgate:",
  });
  assert.equal((await loadConfig(`${dir}minimal.good.json`)).state, null);
});

Deno.test("shutdownGraceSeconds sets the SIGTERM drain time", async () => {
  assert.equal((await loadConfig(`${dir}grace_custom.good.json`)).shutdownGraceSeconds, 30);
  assert.equal(
    (await parse({ auth: AUTH, routes: [ROUTE], shutdownGraceSeconds: 0 }))
      .shutdownGraceSeconds,
    0,
  );
});

Deno.test("minimal config gets every default", async () => {
  const c = await loadConfig(`${dir}minimal.good.json`);
  assert.equal(c.file, `${dir}minimal.good.json`);
  assert.deepEqual(c.listen, {
    hostname: "0.0.0.0",
    port: 12321,
    headerTimeoutSeconds: 10,
    idleTimeoutSeconds: 75,
  });
  assert.equal(c.tls, null);
  assert.deepEqual(c.auth, {
    realm: "Prometheus",
    htpasswdFile: `${dir}admin.htpasswd`,
    throttle: {
      clientFailures: 5,
      userFailures: 10,
      clientUsers: 10,
      baseDelaySeconds: 1,
      maxDelaySeconds: 60,
      forgetAfterSeconds: 900,
      knownAddressDays: 30,
    },
  });
  assert.deepEqual(c.accessLog, { format: "combined", path: "-" });
  assert.equal(c.shutdownGraceSeconds, 10);
  assert.equal(c.routes.length, 1);
  const r = c.routes[0];
  assert.deepEqual({ ...r, upstream: r.upstream.href }, {
    path: "/prometheus/",
    prefix: "/prometheus",
    upstream: "http://localhost:9090/",
    stripPrefix: true,
    auth: true,
    timeoutMs: 120_000,
    forwardAuthorization: false,
    policy: { allow: null, readOnly: false, admins: [] },
    forwardUser: null,
    tenancy: null,
  });
});

Deno.test("a route's tenancy is resolved with its defaults and a lower-case header", async () => {
  const full = (await loadConfig(`${dir}tenancy.good.json`)).routes[0].tenancy;
  assert.deepEqual(full, {
    label: "tenant",
    header: "x-scope-orgid",
    values: [["alice", ["a"]], ["@team-b", ["b", "c"]]],
    unrestricted: ["@ops"],
    maxBodyBytes: 2097152,
    api: "prometheus",
  });
  const headerOnly = (await loadConfig(`${dir}tenancy_header_only.good.json`)).routes[0].tenancy;
  assert.equal(headerOnly?.label, null);
  assert.deepEqual(headerOnly?.unrestricted, []);
  assert.equal(headerOnly?.maxBodyBytes, 1024 * 1024);
});

Deno.test("full config resolves paths, reads TLS files and sorts routes", async () => {
  const c = await loadConfig(`${dir}full.good.json`);
  assert.deepEqual(c.listen, {
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutSeconds: 10,
    idleTimeoutSeconds: 75,
  });
  assert.equal(c.tls?.certFile, `${dir}rsa.crt`);
  assert.equal(c.tls?.keyFile, `${dir}rsa.key`);
  assert.equal(c.tls?.cert, await readFile(`${dir}rsa.crt`, "utf8"));
  assert.equal(c.tls?.key, await readFile(`${dir}rsa.key`, "utf8"));
  assert.deepEqual(c.accessLog, { format: "json", path: `${dir}access.log` });
  const routes = c.routes.map((r) => [r.path, r.prefix, r.upstream.href, r.stripPrefix]);
  assert.deepEqual(routes, [
    ["/alertmanager", "/alertmanager", "http://localhost:9093/", false],
    ["/prometheus/", "/prometheus", "http://localhost:9090/", true],
    ["/healthz", "/healthz", "http://localhost:9090/-/healthy", true],
    ["/", "", "https://example.com/base/", true],
  ]);
  const byPath = Object.fromEntries(c.routes.map((r) => [r.path, r]));
  assert.equal(byPath["/healthz"].auth, false);
  assert.equal(byPath["/healthz"].timeoutMs, 5000);
  assert.equal(byPath["/"].timeoutMs, 500);
  assert.equal(byPath["/alertmanager"].forwardAuthorization, true);
});

Deno.test("routes are sorted longest prefix first", async () => {
  const c = await loadConfig(`${dir}nested_prefixes.good.json`);
  assert.deepEqual(c.routes.map((r) => r.prefix), ["/prometheus/api/v1/write", "/prometheus", ""]);
});

Deno.test("accessLog: false turns the log off, {} gives the defaults", async () => {
  assert.equal((await loadConfig(`${dir}access_log_off.good.json`)).accessLog, null);
  assert.deepEqual((await loadConfig(`${dir}access_log_defaults.good.json`)).accessLog, {
    format: "combined",
    path: "-",
  });
});

Deno.test("public-only config needs no auth section", async () => {
  const c = await loadConfig(`${dir}public_only.good.json`);
  assert.equal(c.auth, null);
  assert.equal(c.routes[0].stripPrefix, false);
});

Deno.test("RSA and EC keys in PKCS#8, PKCS#1 and SEC1 form, and a chain, all load", async () => {
  for (const name of ["tls_ec", "tls_ec_sec1_key", "tls_rsa_pkcs1_key", "tls_chain"]) {
    const c = await loadConfig(`${dir}${name}.good.json`);
    assert.ok(c.tls?.cert.includes("BEGIN CERTIFICATE"), name);
    assert.ok(c.tls?.key.includes("PRIVATE KEY"), name);
  }
});

Deno.test("the key/cert match still works where x509.checkPrivateKey is missing", async () => {
  const proto = X509Certificate.prototype as unknown as { checkPrivateKey: unknown };
  const original = proto.checkPrivateKey;
  proto.checkPrivateKey = undefined;
  try {
    await loadConfig(`${dir}tls_ec.good.json`);
    await loadConfig(`${dir}tls_rsa_pkcs1_key.good.json`);
    const message = await failure(() => loadConfig(`${dir}tls_key_mismatch_ec.bad.json`));
    assert.ok(message.includes("does not belong to the certificate"), message);
  } finally {
    proto.checkPrivateKey = original;
  }
});

Deno.test("relative paths follow the config file, not the cwd; absolute ones stay", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const text = JSON.stringify({
      tls: { certFile: `${dir}ec.crt`, keyFile: `${dir}ec.key` },
      auth: { htpasswdFile: `${dir}admin.htpasswd` },
      routes: [ROUTE],
      accessLog: { path: "logs/../access.log" },
    });
    const c = await parseConfig(text, `${tmp}/promgate.json`);
    assert.equal(c.tls?.certFile, `${dir}ec.crt`);
    assert.equal(c.auth?.htpasswdFile, `${dir}admin.htpasswd`);
    assert.deepEqual(c.accessLog, { format: "combined", path: `${tmp}/access.log` });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// -- the repository's own files -------------------------------------------------------------------

Deno.test("config.example.json loads", async () => {
  const c = await loadConfig(`${root}config.example.json`);
  assert.deepEqual(c.tls?.selfSigned?.hostnames, ["localhost", "127.0.0.1", "::1"]);
  assert.deepEqual(c.listen, {
    hostname: "0.0.0.0",
    port: 12321,
    headerTimeoutSeconds: 10,
    idleTimeoutSeconds: 75,
  });
  assert.equal(c.auth?.realm, "Prometheus");
  assert.equal(c.auth?.htpasswdFile, `${root}example.htpasswd`);
  assert.equal(c.auth?.throttle?.clientFailures, 5);
  assert.deepEqual(c.routes.map((r) => [r.path, r.upstream.href]).sort(), [
    ["/alertmanager/", "http://localhost:9093/"],
    ["/prometheus/", "http://localhost:9090/"],
  ]);
  assert.deepEqual(c.accessLog, { format: "combined", path: "-" });
});

Deno.test("config.schema.json is up to date (else run: deno task schema)", async () => {
  assert.equal(await readFile(schemaFile, "utf8"), generateSchema());
  const schema = JSON.parse(generateSchema());
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required, ["routes"]);
  assert.ok(schema.properties.routes.items.properties.upstream.description.includes("http://"));
});

Deno.test("docs/config.md documents every key of the schema", async () => {
  const docs = await readFile(`${root}docs/config.md`, "utf8");
  const keys = (node: Record<string, unknown>, out: string[] = []): string[] => {
    for (const [k, v] of Object.entries(node ?? {})) {
      out.push(k);
      const child = v as Record<string, unknown>;
      const items = child.items as Record<string, unknown> | undefined;
      const objects = [child, items, ...((child.anyOf as Record<string, unknown>[]) ?? [])];
      for (const o of objects) {
        if (o?.properties) keys(o.properties as Record<string, unknown>, out);
      }
    }
    return out;
  };
  const all = keys(JSON.parse(generateSchema()).properties);
  assert.ok(all.includes("forwardAuthorization") && all.includes("certFile"), all.join());
  for (const k of all) {
    assert.ok(docs.includes(`\`${k}\``), `docs/config.md does not mention \`${k}\``);
  }
});

// -- errors that are not about a key ----------------------------------------------------------

Deno.test("a missing config file says how to start", async () => {
  const message = await failure(() => loadConfig("no-such-dir/promgate.json"));
  assert.ok(message.startsWith("no-such-dir/promgate.json: file "), message);
  assert.ok(message.includes("not found"), message);
  assert.ok(message.includes("copy config.example.json"), message);
});

Deno.test("a directory as the config file is an InputError", async () => {
  const message = await failure(() => loadConfig(dir));
  assert.ok(message.includes("is a directory"), message);
});

/** JSON text -> fragment of the error (file "c.json"); positions are line:column. */
const SYNTAX: [string, string][] = [
  ['{"routes": [],}', 'c.json:1:14: invalid JSON: trailing comma before "}"'],
  ['{\n  "routes": [\n    1,\n  ]\n}', 'c.json:3:6: invalid JSON: trailing comma before "]"'],
  ['{\n  // auth\n  "routes": []\n}', "c.json:2:3: invalid JSON: comments are not allowed"],
  ["{\n  /* auth */\n}", "c.json:2:3: invalid JSON: comments are not allowed"],
  [
    '{\n  "auth": {}\n  "routes": []\n}',
    'c.json:2:13: invalid JSON: expected "," or "}" after the value of "auth"',
  ],
  ['{"routes": [', "c.json:1:13: invalid JSON: unexpected end of file; a value is missing"],
  ['{"routes": []', 'c.json:1:14: invalid JSON: end of file; a "}" is missing'],
  ["", "c.json:1:1: invalid JSON: unexpected end of file"],
  ["{'routes': []}", "c.json:1:2: invalid JSON: keys need double quotes"],
  ["{\"a\": 'x'}", "c.json:1:7: invalid JSON: strings need double quotes"],
  ['{"a": tru}', 'c.json:1:7: invalid JSON: unexpected word "tru"'],
  ['{"a": 01}', "c.json:1:7: invalid JSON: invalid number"],
  ['{"a": 1.}', "c.json:1:7: invalid JSON: invalid number"],
  ['{"a": +1}', "c.json:1:7: invalid JSON: invalid number"],
  ['{"a": "x\ny"}', "c.json:1:9: invalid JSON: line break inside a string"],
  ['{"a": "\\x"}', "c.json:1:8: invalid JSON: invalid escape \\x"],
  ['{"a": "\\u12"}', "c.json:1:8: invalid JSON: invalid escape \\u"],
  ['{"a": "x}', 'c.json:1:7: invalid JSON: string is not closed with a "'],
  ['{"a" 1}', 'c.json:1:6: invalid JSON: expected ":" after "a"'],
  ['{"a": 1}}', "c.json:1:9: invalid JSON: unexpected text after the JSON value"],
  ["[1 2]", 'c.json:1:3: invalid JSON: expected "," or "]" after an array item'],
  ["{1: 2}", "c.json:1:2: invalid JSON: expected a key in double quotes"],
  ['{"a": [' + "[".repeat(100), "c.json:1:71: invalid JSON: nested too deeply"],
  ['{"x": {"a": 1, "a": 2}}', 'c.json:1:16: duplicate key "a" in x (first at 1:8)'],
];

for (const [text, fragment] of SYNTAX) {
  Deno.test(`JSON error: ${JSON.stringify(text).slice(0, 40)}`, async () => {
    // The checker must agree with JSON.parse, except that it also refuses duplicate keys.
    if (!fragment.includes("duplicate key")) assert.throws(() => JSON.parse(text));
    const message = await failure(() => parseConfig(text, "c.json"));
    assert.ok(message.includes(fragment), `${fragment}\n---\n${message}`);
  });
}

Deno.test("the JSON checker accepts whatever JSON.stringify writes", async () => {
  // Deterministic pseudo-random values; any JSON error message would mean the checker is wrong.
  let seed = 42;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const strings = [
    "",
    "a",
    'q"uote',
    "back\\slash",
    "tab\t",
    "nl\n",
    "é",
    "😀",
    "\u0000",
    "\u2028",
  ];
  const value = (depth: number): unknown => {
    switch (rand(depth > 3 ? 5 : 7)) {
      case 0:
        return strings[rand(strings.length)];
      case 1:
        return [0, -1, 1.5, 1e21, -2.5e-7, 123456789][rand(6)];
      case 2:
        return [true, false, null][rand(3)];
      case 3:
        return rand(1000) / 7;
      case 4:
        return `s${rand(100)}`;
      case 5:
        return Array.from({ length: rand(4) }, () => value(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: rand(4) }, (_, i) => [`${strings[rand(10)]}${i}`, value(depth + 1)]),
        );
    }
  };
  for (let i = 0; i < 300; i++) {
    const v = { routes: [ROUTE], auth: AUTH, zz: value(0) };
    for (const text of [JSON.stringify(v), JSON.stringify(v, null, i % 2 ? 2 : "\t")]) {
      const message = await failure(() => parseConfig(text, `${dir}fuzz.json`));
      assert.ok(!message.includes("invalid JSON") && !message.includes("duplicate key"), message);
      assert.ok(message.includes('unknown key "zz"'), message);
    }
  }
});

Deno.test("a UTF-8 byte order mark is ignored", async () => {
  await parseConfig("\uFEFF" + JSON.stringify({ auth: AUTH, routes: [ROUTE] }), `${dir}bom.json`);
});

// -- schema details -------------------------------------------------------------------------------

Deno.test("configSchema itself enforces the cross-field rules", () => {
  const duplicate = configSchema.safeParse({ routes: [ROUTE, { ...ROUTE, path: "/prometheus" }] });
  assert.equal(duplicate.success, false);
  const messages = duplicate.error?.issues.map((i) => i.message).join("\n") ?? "";
  assert.ok(messages.includes("duplicates routes[0].path"), messages);
  assert.ok(messages.includes("auth") && messages.includes("missing"), messages);
  assert.equal(configSchema.safeParse({ routes: [{ ...ROUTE, auth: false }] }).success, true);
});

Deno.test("unknown keys: suggestions ignore case, '_' and '-'", async () => {
  const message = await failure(() =>
    parse({
      auth: { HtpasswdFile: "admin.htpasswd", "html-passwd-file": 1 },
      routes: [{ ...ROUTE, forward_authorization: true, TimeoutSeconds: 1 }],
    })
  );
  for (
    const fragment of [
      'auth: unknown key "HtpasswdFile". Did you mean "htpasswdFile"?',
      'routes[0]: unknown key "forward_authorization". Did you mean "forwardAuthorization"?',
      'routes[0]: unknown key "TimeoutSeconds". Did you mean "timeoutSeconds"?',
    ]
  ) assert.ok(message.includes(fragment), `${fragment}\n---\n${message}`);
});

Deno.test("upstream: a bare origin keeps the path; any path, even /, strips it", async () => {
  const cases: [string, boolean, string][] = [
    ["http://localhost:9090", false, "/"],
    ["http://localhost:9090/", true, "/"],
    ["HTTPS://Example.COM:8443/prom/", true, "/prom/"],
    ["http://[::1]:9090/-/healthy", true, "/-/healthy"],
  ];
  for (const [upstream, stripPrefix, pathname] of cases) {
    const c = await parse({ routes: [{ path: "/x", upstream, auth: false }] });
    assert.equal(c.routes[0].stripPrefix, stripPrefix, upstream);
    assert.equal(c.routes[0].upstream.pathname, pathname, upstream);
  }
});

Deno.test("route paths: the root, a bare segment and RFC 3986 sub-delims are fine", async () => {
  const paths = ["/", "/healthz", "/a/b/", "/api/v1:query", "/~user/", "/a-b_c.d/"];
  const c = await parse({
    routes: paths.map((path, i) => ({ path, upstream: `http://h${i}/`, auth: false })),
  });
  assert.deepEqual(c.routes.map((r) => r.prefix).sort(), [
    "",
    "/a-b_c.d",
    "/a/b",
    "/api/v1:query",
    "/healthz",
    "/~user",
  ]);
});

Deno.test("a route with several upstreams loads them with its balance and health checks", async () => {
  const [route] = (await loadConfig(`${dir}upstreams_pair.good.json`)).routes;
  assert.equal(route.upstream.href, "http://prom-a:9090/");
  assert.deepEqual(route.upstreams, ["http://prom-a:9090/", "http://prom-b:9090/"]);
  assert.equal(route.balance, "least-loaded");
  assert.deepEqual(route.healthCheck, {
    path: "/-/ready",
    intervalMs: 5000,
    timeoutMs: 2000,
    unhealthyAfter: 2,
    healthyAfter: 1,
  });
  const [single] = (await loadConfig(`${dir}minimal.good.json`)).routes;
  // A one-upstream route is resolved as before: no pool, sent as is.
  assert.equal(single.upstreams, undefined);
  assert.equal(single.healthCheck, undefined);
});
