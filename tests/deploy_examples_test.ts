/**
 * The replica examples in deploy/kubernetes and deploy/compose (issue 16, "Deployment"), proven
 * without Docker or Kubernetes: every YAML file in deploy/ parses; the promgate configs they ship
 * pass the real `promgate --check` with stand-in files at the paths the manifests mount; every file
 * a config names is mounted (from a Secret the README creates, for Kubernetes); Services, probes,
 * Redis, upstreams and HAProxy point at what exists.
 */
import { assert, assertEquals } from "./_assert.ts";
import { needs, REPO, run, runPromgate, tempDir } from "./_util.ts";

const DEPLOY = `${REPO}deploy/`;

// ---------------------------------------------------------------------------------------------
// A strict YAML subset reader: block mappings and sequences, flow collections on one line, quoted
// and plain scalars, `|` / `>-` block scalars, comments, `---`. Anything else (anchors, aliases,
// tags, merge keys, tabs, multi-line flow) is an error naming file and line, never a guess, so a
// file it reads means what it says to any YAML parser (numbers with a leading 0 are octal, as in
// the YAML 1.1 that Kubernetes reads).

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };
interface Line {
  no: number;
  indent: number;
  text: string;
}

/** Parses the `---`-separated documents of `text` (from `file`, for error messages). */
function parseYaml(text: string, file: string): Yaml[] {
  const docs: Line[][] = [[]];
  text.split("\n").forEach((raw, i) => {
    if (raw.match(/^\s*/)![0].includes("\t")) {
      throw new Error(`${file}:${i + 1}: tab in indentation`);
    }
    if (raw.trimEnd() === "---") return void docs.push([]);
    const indent = raw.length - raw.trimStart().length;
    docs.at(-1)!.push({ no: i + 1, indent, text: raw.slice(indent).trimEnd() });
  });
  return docs.map((lines) => new YamlReader(lines, file).document()).filter((d) => d !== null);
}

class YamlReader {
  #at = 0;
  constructor(private readonly lines: Line[], private readonly file: string) {}

  document(): Yaml {
    if (this.#next() === undefined) return null;
    const value = this.#node(0);
    const rest = this.#next();
    if (rest) this.#fail(rest, "unexpected indentation");
    return value;
  }

  #fail(line: Line, why: string): never {
    throw new Error(`${this.file}:${line.no}: ${why}: ${line.text}`);
  }

  /** The next line with content (comments stripped), skipping blank and comment-only lines. */
  #next(): Line | undefined {
    while (this.#at < this.lines.length) {
      const line = this.lines[this.#at];
      const text = stripComment(line.text);
      if (text !== "") return { ...line, text };
      this.#at++;
    }
    return undefined;
  }

  #node(indent: number): Yaml {
    const line = this.#next()!;
    if (line.indent < indent) this.#fail(line, "expected an indented block");
    return /^-( |$)/.test(line.text) ? this.#sequence(line.indent) : this.#mapping(line.indent);
  }

  #mapping(indent: number): YamlMap {
    const map: YamlMap = {};
    for (let line = this.#next(); line && line.indent === indent; line = this.#next()) {
      const m = line.text.match(/^([A-Za-z0-9_.\/-]+):(?: +(.*))?$/);
      if (!m) this.#fail(line, "expected `key: value`");
      if (m[1] in map || m[1] === "<<") this.#fail(line, "duplicate or merge key");
      this.#at++;
      map[m[1]] = this.#value(m[2], line, indent);
    }
    return map;
  }

  #sequence(indent: number): Yaml[] {
    const list: Yaml[] = [];
    for (let line = this.#next(); line && line.indent === indent; line = this.#next()) {
      if (!/^-( |$)/.test(line.text)) break;
      const item = line.text.slice(1).trimStart();
      if (/^[A-Za-z0-9_.\/-]+:( |$)/.test(item)) {
        // "- key: value": a mapping whose keys line up with this first one.
        const column = indent + line.text.length - item.length;
        this.lines[this.#at] = { no: line.no, indent: column, text: item };
        list.push(this.#mapping(column));
      } else {
        this.#at++;
        list.push(this.#value(item, line, indent));
      }
    }
    return list;
  }

  /** The value after `key:` or `- `: inline, a block scalar, or a nested block. */
  #value(inline: string | undefined, line: Line, indent: number): Yaml {
    if (inline === "|" || inline === "|-" || inline === ">-") return this.#block(inline, indent);
    if (inline !== undefined && inline !== "") return parseInline(inline, this.file, line.no);
    const next = this.#next();
    const sameIndentList = next?.indent === indent && /^-( |$)/.test(next.text);
    if (!next || (next.indent <= indent && !sameIndentList)) return null;
    return this.#node(sameIndentList ? indent : indent + 1);
  }

  #block(style: string, indent: number): string {
    const body: string[] = [];
    let inner = -1;
    while (this.#at < this.lines.length) {
      const line = this.lines[this.#at];
      if (line.text !== "" && line.indent <= indent) break;
      if (inner < 0 && line.text !== "") inner = line.indent;
      body.push(line.text === "" ? "" : " ".repeat(line.indent - inner) + line.text);
      this.#at++;
    }
    while (body.at(-1) === "") body.pop();
    if (style === ">-") {
      if (body.some((l) => l === "" || l.startsWith(" "))) {
        throw new Error(`${this.file}: only simple paragraphs are read in a > block`);
      }
      return body.join(" ");
    }
    return body.join("\n") + (style === "|" ? "\n" : "");
  }
}

/** `text` without a trailing comment (a `#` at its start or after a space, outside quotes). */
function stripComment(text: string): string {
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || text[i - 1] === " ")) return text.slice(0, i).trimEnd();
  }
  return text;
}

/** A scalar or a one-line flow collection. */
function parseInline(text: string, file: string, no: number): Yaml {
  const flow = new FlowReader(text, `${file}:${no}`);
  const value = flow.value("");
  flow.end();
  return value;
}

class FlowReader {
  #at = 0;
  constructor(private readonly text: string, private readonly where: string) {}

  #fail(why: string): never {
    throw new Error(`${this.where}: ${why} at column ${this.#at + 1}: ${this.text}`);
  }

  #skip(): void {
    while (this.text[this.#at] === " ") this.#at++;
  }

  end(): void {
    this.#skip();
    if (this.#at < this.text.length) this.#fail("unexpected text");
  }

  /** A value ending before one of `stops` (flow indicators inside a collection). */
  value(stops: string): Yaml {
    this.#skip();
    const c = this.text[this.#at];
    if (c === "{" || c === "[") return this.#collection(c);
    if (c === '"' || c === "'") return this.#quoted(c);
    if (c === undefined || "&*!|>%@`".includes(c)) this.#fail("unsupported YAML");
    let end = this.#at;
    while (end < this.text.length && !stops.includes(this.text[end])) {
      if (
        this.text.startsWith(": ", end) || (this.text[end] === ":" && end + 1 === this.text.length)
      ) {
        if (stops) break;
        this.#fail("a mapping inside a plain scalar");
      }
      end++;
    }
    const plain = this.text.slice(this.#at, end).trim();
    this.#at = end;
    return plainScalar(plain);
  }

  #collection(open: string): Yaml {
    const close = open === "{" ? "}" : "]";
    const map: YamlMap = {};
    const list: Yaml[] = [];
    this.#at++;
    for (this.#skip(); this.text[this.#at] !== close; this.#skip()) {
      if (open === "{") {
        const key = this.value(":,}");
        if (typeof key !== "string" || this.text[this.#at] !== ":") this.#fail("expected key:");
        this.#at++;
        map[key] = this.value(",}");
      } else list.push(this.value(",]"));
      this.#skip();
      if (this.text[this.#at] === ",") this.#at++;
      else if (this.text[this.#at] !== close) this.#fail(`expected , or ${close}`);
    }
    this.#at++;
    return open === "{" ? map : list;
  }

  #quoted(quote: string): string {
    let out = "";
    for (let i = this.#at + 1; i < this.text.length; i++) {
      const c = this.text[i];
      if (quote === "'" && c === "'" && this.text[i + 1] === "'") out += this.text[++i];
      else if (quote === '"' && c === "\\") out += JSON.parse(`"\\${this.text[++i]}"`);
      else if (c === quote) {
        this.#at = i + 1;
        return out;
      } else out += c;
    }
    this.#fail("unterminated string");
  }
}

function plainScalar(text: string): Yaml {
  if (text === "" || text === "~" || text === "null") return null;
  if (text === "true" || text === "false") return text === "true";
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8);
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text)) return Number(text);
  if (/^(yes|no|on|off|y|n)$/i.test(text)) {
    throw new Error(`"${text}" is a boolean to YAML 1.1 and a string to 1.2: quote it`);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Reading the examples.

/** Every YAML file under deploy/, as paths relative to it. */
async function yamlFiles(dir = DEPLOY, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) found.push(...await yamlFiles(`${dir}${entry.name}/`, `${rel}/`));
    else if (/\.ya?ml$/.test(entry.name)) found.push(rel);
  }
  return found.sort();
}

async function readYaml(rel: string): Promise<Yaml[]> {
  return parseYaml(await Deno.readTextFile(DEPLOY + rel), `deploy/${rel}`);
}

function obj(value: Yaml | undefined, what: string): YamlMap {
  assert(
    value !== null && typeof value === "object" && !Array.isArray(value),
    `${what}: not a map`,
  );
  return value as YamlMap;
}

function list(value: Yaml | undefined, what: string): Yaml[] {
  assert(Array.isArray(value), `${what}: not a list`);
  return value;
}

/** The Kubernetes objects of every file in deploy/kubernetes, by "Kind/name". */
async function kubernetesObjects(): Promise<Map<string, YamlMap>> {
  const objects = new Map<string, YamlMap>();
  for (const rel of (await yamlFiles()).filter((f) => f.startsWith("kubernetes/"))) {
    for (const doc of await readYaml(rel)) {
      const o = obj(doc, rel);
      const name = obj(o.metadata, `${rel} metadata`).name;
      assert(typeof o.apiVersion === "string" && typeof o.kind === "string", `${rel}: ${name}`);
      objects.set(`${o.kind}/${name}`, o);
    }
  }
  return objects;
}

function get(objects: Map<string, YamlMap>, key: string): YamlMap {
  const o = objects.get(key);
  assert(o, `deploy/kubernetes has no ${key}; it has ${[...objects.keys()].join(", ")}`);
  return o;
}

/** A Deployment's pod spec and its one container named `name`. */
function podOf(deployment: YamlMap, name: string): { pod: YamlMap; container: YamlMap } {
  const pod = obj(obj(obj(deployment.spec, "spec").template, "template").spec, "pod spec");
  const container = list(pod.containers, "containers").map((c) => obj(c, "container"))
    .find((c) => c.name === name);
  assert(container, `no container ${name}`);
  return { pod, container };
}

/** The keys of each Secret the `kubectl create secret` commands in deploy/README.md make. */
async function readmeSecrets(): Promise<Map<string, string[]>> {
  const readme = await Deno.readTextFile(`${DEPLOY}README.md`);
  const secrets = new Map<string, string[]>();
  for (const m of readme.matchAll(/^kubectl create secret (generic|tls) (\S+)(.*)$/gm)) {
    const keys = m[1] === "tls"
      ? ["tls.crt", "tls.key"]
      : [...m[3].matchAll(/--from-file=([^=\s]+)=/g)].map((k) => k[1]);
    secrets.set(m[2], keys);
  }
  return secrets;
}

/** The paths a promgate config names as files: each value of a key ending in "File". */
function configFiles(config: unknown, at = "config"): { at: string; key: string; path: string }[] {
  if (config === null || typeof config !== "object") return [];
  return Object.entries(config).flatMap(([key, value]) =>
    typeof value === "string" && key.endsWith("File")
      ? [{ at: `${at}.${key}`, key, path: value }]
      : configFiles(value, `${at}.${key}`)
  );
}

/** What each file key gets in the stand-in tree: a real fixture, never a real secret. */
const FIXTURES: Record<string, string | { text: string }> = {
  htpasswdFile: "tests/testdata/htpasswd/bcrypt.htpasswd",
  tokensFile: "tests/testdata/tokens/good.tokens",
  certFile: "tests/testdata/config/ec.crt",
  keyFile: "tests/testdata/config/ec.key",
  passwordFile: { text: "not-a-real-redis-password\n" },
};

/**
 * Runs the real `promgate --check` on `config` as the container would see it: every file the
 * config names (absolute paths) and the config itself are recreated under a temporary root.
 */
async function checkAsMounted(config: YamlMap, configPath: string): Promise<string> {
  const root = await tempDir();
  try {
    const copy = structuredClone(config);
    for (const { at, key, path } of configFiles(config)) {
      assert(path.startsWith("/"), `${at}: ${path} is not an absolute path`);
      const fixture = FIXTURES[key];
      assert(fixture, `${at}: no stand-in for ${key}; add one to FIXTURES`);
      await Deno.mkdir(root + path.slice(0, path.lastIndexOf("/")), { recursive: true });
      if (typeof fixture === "string") await Deno.copyFile(REPO + fixture, root + path);
      else await Deno.writeTextFile(root + path, fixture.text);
      await Deno.chmod(root + path, 0o600);
      setPath(copy, at, root + path);
    }
    await Deno.mkdir(root + configPath.slice(0, configPath.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(root + configPath, JSON.stringify(copy, null, 2));
    const out = await runPromgate(["--check", "--config", root + configPath]);
    assertEquals(out.code, 0, out.stdout + out.stderr);
    assert(!/warning/i.test(out.stdout + out.stderr), out.stdout + out.stderr);
    return out.stdout;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function setPath(config: YamlMap, at: string, value: string): void {
  const keys = at.split(".").slice(1);
  let node = config as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys.at(-1)!] = value;
}

/** The public routes (`"auth": false`) of a config, by path. */
function publicRoutes(config: YamlMap): string[] {
  return list(config.routes, "routes").map((r) => obj(r, "route"))
    .filter((r) => r.auth === false).map((r) => String(r.path));
}

// ---------------------------------------------------------------------------------------------
// The tests.

Deno.test("every YAML file in deploy/ reads as plain YAML (no anchors, tags or tabs)", async () => {
  const files = await yamlFiles();
  for (const dir of ["kubernetes/", "compose/"]) {
    assert(files.some((f) => f.startsWith(dir)), `no YAML in deploy/${dir}`);
  }
  for (const rel of files) assert((await readYaml(rel)).length > 0, `deploy/${rel} is empty`);
});

Deno.test("the YAML reader refuses what it cannot read exactly", () => {
  for (
    const bad of [
      "a: &x 1\nb: *x\n",
      "a: 1\na: 2\n",
      "a: !!str 1\n",
      "a:\n\t- 1\n",
      "a: [1,\n  2]\n",
      "a: yes\n",
      "<<: {}\n",
    ]
  ) {
    let threw = false;
    try {
      parseYaml(bad, "bad.yaml");
    } catch {
      threw = true;
    }
    assert(threw, `accepted ${JSON.stringify(bad)}`);
  }
  assertEquals(
    parseYaml("a: 0440 # mode\nb:\n- c: 'd''s'\n  e: [\"f:g\", 2]\n  h: |\n    x\n\n    #y\n", "t"),
    [{ a: 0o440, b: [{ c: "d's", e: ["f:g", 2], h: "x\n\n#y\n" }] }],
  );
});

Deno.test("Kubernetes: 3 promgate replicas and Redis behind Services that select them", async () => {
  const k8s = await kubernetesObjects();
  for (const [name, replicas] of [["promgate", 3], ["promgate-redis", 1]] as const) {
    const deployment = get(k8s, `Deployment/${name}`);
    const spec = obj(deployment.spec, name);
    assertEquals(spec.replicas, replicas, `${name} replicas`);
    const labels = obj(obj(obj(spec.template, "template").metadata, "metadata").labels, "labels");
    const selector = obj(obj(spec.selector, "selector").matchLabels, "matchLabels");
    const service = obj(get(k8s, `Service/${name}`).spec, "service spec");
    for (const match of [selector, obj(service.selector, "service selector")]) {
      for (const [k, v] of Object.entries(match)) assertEquals(labels[k], v, `${name}: ${k}`);
    }
    const { container } = podOf(deployment, name === "promgate" ? "promgate" : "redis");
    const ports = list(container.ports, "ports").map((p) => obj(p, "port"));
    for (const p of list(service.ports, "service ports").map((p) => obj(p, "service port"))) {
      assert(ports.some((c) => c.name === p.targetPort), `${name}: targetPort ${p.targetPort}`);
    }
  }
});

Deno.test("Kubernetes: every container is non-root, read-only, with resource requests", async () => {
  const k8s = await kubernetesObjects();
  const deployments = [...k8s.values()].filter((o) => o.kind === "Deployment");
  assert(deployments.length >= 2);
  for (const d of deployments) {
    const pod = obj(obj(obj(d.spec, "spec").template, "template").spec, "pod");
    assertEquals(obj(pod.securityContext, "pod securityContext").runAsNonRoot, true);
    assertEquals(pod.automountServiceAccountToken, false);
    for (const c of list(pod.containers, "containers").map((c) => obj(c, "container"))) {
      const sc = obj(c.securityContext, `${c.name} securityContext`);
      assertEquals(sc.readOnlyRootFilesystem, true, `${c.name}`);
      assertEquals(sc.allowPrivilegeEscalation, false, `${c.name}`);
      assertEquals(obj(sc.capabilities, "capabilities").drop, ["ALL"]);
      const requests = obj(obj(c.resources, "resources").requests, `${c.name} requests`);
      assert(requests.cpu && requests.memory, `${c.name} requests`);
    }
  }
});

Deno.test(
  "Kubernetes: the ConfigMap's config passes promgate --check, its files mounted from the README's Secrets",
  async () => {
    const k8s = await kubernetesObjects();
    const secrets = await readmeSecrets();
    const { pod, container } = podOf(get(k8s, "Deployment/promgate"), "promgate");
    const volumes = new Map(
      list(pod.volumes, "volumes").map((v) => [obj(v, "v").name, obj(v, "v")]),
    );
    const mounts = list(container.volumeMounts, "volumeMounts").map((m) => obj(m, "mount"));
    const args = list(container.args, "args");
    const configPath = String(args[args.indexOf("--config") + 1]);
    /** The ConfigMap or Secret key mounted at `path`, failing when nothing is. */
    const mounted = (path: string): { configMap?: YamlMap; secret?: string; key: string } => {
      const m = mounts.find((m) => path.startsWith(`${m.mountPath}/`));
      assert(m, `${path} is not under any volumeMount of the promgate container`);
      const volume = volumes.get(m.name)!;
      const key = path.slice(String(m.mountPath).length + 1);
      if (volume.configMap) {
        const cm = get(k8s, `ConfigMap/${obj(volume.configMap, "configMap").name}`);
        return { configMap: cm, key };
      }
      const secret = String(obj(volume.secret, `volume ${m.name}`).secretName);
      assertEquals(obj(volume.secret, "secret").defaultMode, 0o440, `${secret} mode`);
      return { secret, key };
    };
    const source = mounted(configPath);
    const data = obj(source.configMap?.data, "ConfigMap data");
    const config = JSON.parse(String(data[source.key]));
    for (const { at, path } of configFiles(config)) {
      const { secret, key } = mounted(path);
      assert(secret, `${at}: ${path} should come from a Secret`);
      assert(
        secrets.get(secret)?.includes(key),
        `${at}: deploy/README.md creates no ${secret}/${key}`,
      );
    }
    const redisUrl = new URL(config.state.redis);
    assertEquals(redisUrl.hostname, "promgate-redis");
    const redisPort = obj(get(k8s, "Service/promgate-redis").spec, "spec").ports as YamlMap[];
    assertEquals(Number(redisUrl.port), redisPort[0].port);
    const { container: redis } = podOf(get(k8s, "Deployment/promgate-redis"), "redis");
    const ref = obj(obj(obj(list(redis.env, "env")[0], "env").valueFrom, "v").secretKeyRef, "ref");
    assert(secrets.get(String(ref.name))?.includes(String(ref.key)), "Redis password Secret");
    assert(list(config.listen.trustedProxies, "trustedProxies").length > 0);
    const ready = obj(obj(container.readinessProbe, "readinessProbe").httpGet, "httpGet");
    assert(publicRoutes(config).includes(String(ready.path)), `${ready.path} is not public`);
    assertEquals(ready.scheme, "HTTPS");
    const port = list(container.ports, "ports").map((p) => obj(p, "p")).find((p) =>
      p.name === ready.port
    );
    assertEquals(port?.containerPort, config.listen.port);

    const out = await checkAsMounted(config, configPath);
    assert(out.includes("state shared in redis redis://promgate-redis:6379/0"), out);
    assert(/\d+ token\(s\)/.test(out), out);
  },
);

/** The compose file, its promgate services and their shared config. */
async function composeExample() {
  const compose = obj((await readYaml("compose/compose.yaml"))[0], "compose.yaml");
  const services = obj(compose.services, "services");
  const gates = Object.keys(services).filter((s) => s.startsWith("promgate-"));
  const config = JSON.parse(await Deno.readTextFile(`${DEPLOY}compose/promgate.json`));
  return { compose, services, gates, config };
}

/** The bind mounts of a compose service, target → source. */
function binds(service: YamlMap): Map<string, string> {
  return new Map(
    list(service.volumes ?? [], "volumes").map(String).filter((v) => v.startsWith("./"))
      .map((v) => [v.split(":")[1], v.split(":")[0]]),
  );
}

Deno.test(
  "compose: promgate.json passes promgate --check, every file it names mounted in both replicas",
  async () => {
    const { services, gates, config } = await composeExample();
    assertEquals(gates.length, 2);
    const dockerfile = await Deno.readTextFile(`${DEPLOY}Dockerfile`);
    const configPath = dockerfile.match(/^CMD \["--config", "([^"]+)"\]/m)![1];
    const readme = await Deno.readTextFile(`${DEPLOY}README.md`);
    for (const gate of gates) {
      const mounts = binds(obj(services[gate], gate));
      assertEquals(mounts.get(configPath), "./promgate.json", `${gate} config`);
      for (const { at, path } of configFiles(config)) {
        const src = mounts.get(path);
        assert(src, `${gate}: ${at} ${path} is not mounted`);
        assert(readme.includes(src.slice(2)), `deploy/README.md does not say how to make ${src}`);
      }
    }
    const out = await checkAsMounted(config, configPath);
    assert(out.includes("state shared in redis redis://redis:6379/0"), out);
  },
);

Deno.test("compose: upstreams, Redis and the HAProxy address are services the replicas reach", async () => {
  const { compose, services, gates, config } = await composeExample();
  const networksOf = (name: string) => {
    const n = obj(services[name], name).networks;
    return Array.isArray(n) ? n.map(String) : Object.keys(obj(n, `${name} networks`));
  };
  const reachable = (from: string, host: string) => {
    assert(host in services, `${host} is not a compose service`);
    assert(networksOf(from).some((n) => networksOf(host).includes(n)), `${from} → ${host}`);
  };
  const route = obj(list(config.routes, "routes")[0], "route");
  const upstreams = list(route.upstream, "upstream").map((u) => new URL(String(u)));
  assertEquals(upstreams.length, 2);
  assert(route.healthCheck, "the pair needs a healthCheck");
  for (const gate of gates) {
    for (const u of upstreams) reachable(gate, u.hostname);
    reachable(gate, new URL(config.state.redis).hostname);
  }
  const haproxy = obj(services.haproxy, "haproxy");
  const gateNet = obj(obj(haproxy.networks, "haproxy networks").gate, "gate");
  assertEquals(config.listen.trustedProxies, [gateNet.ipv4_address]);
  const subnet = obj(
    list(obj(obj(obj(compose.networks, "n").gate, "g").ipam, "i").config, "c")[0],
    "s",
  );
  assert(String(gateNet.ipv4_address).startsWith(String(subnet.subnet).replace(/0\/24$/, "")));
  assertEquals(config.workers, 1, "proxyProtocol needs one worker");
  assertEquals(binds(haproxy).get("/usr/local/etc/haproxy/haproxy.cfg"), "./haproxy.cfg");
  const cfg = await Deno.readTextFile(`${DEPLOY}compose/haproxy.cfg`);
  const servers = [...cfg.matchAll(/^\s*server (\S+) (\S+):(\d+)/gm)];
  assertEquals(servers.map((s) => s[2]).sort(), gates.sort());
  for (const s of servers) assertEquals(Number(s[3]), config.listen.port);
  assert(/send-proxy-v2/.test(cfg) && config.listen.proxyProtocol === true);
  const check = cfg.match(/option httpchk GET (\S+)/)![1];
  assert(publicRoutes(config).includes(check), `HAProxy checks ${check}, not a public route`);
  for (const [name, service] of Object.entries(services)) {
    for (const src of binds(obj(service, name)).values()) {
      if (src.startsWith("./secrets/")) continue;
      await Deno.stat(`${DEPLOY}compose/${src.slice(2)}`);
    }
  }
});

Deno.test("promtool check config accepts compose/prometheus.yml", needs("promtool"), async () => {
  const out = await run("promtool", ["check", "config", `${DEPLOY}compose/prometheus.yml`]);
  assertEquals(out.code, 0, out.stdout + out.stderr);
});

Deno.test("haproxy -c accepts compose/haproxy.cfg", needs("haproxy"), async () => {
  const out = await run("haproxy", ["-c", "-f", `${DEPLOY}compose/haproxy.cfg`]);
  assertEquals(out.code, 0, out.stdout + out.stderr);
});
