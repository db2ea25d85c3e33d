/**
 * The rest of the Prometheus stack for interop tests: promgate over real TLS with one htpasswd
 * user, Debian's Alertmanager and Pushgateway, `promtool`, and PromQL polling. Prometheus itself
 * comes from `startPrometheus` in `_prometheus.ts`. Everything listens on 127.0.0.1 only; every
 * `start*` returns something whose `stop()`/`close()` ends what it started.
 */
import { X509Certificate } from "node:crypto";
import { assertEquals } from "./_assert.ts";
import {
  basic,
  freePort,
  makeCert,
  makeHtpasswd,
  type Promgate,
  run,
  startPromgate,
  tempDir,
} from "./_util.ts";

export const USER = "admin";
export const PASSWORD = "correct horse";

/** A route as promgate's config takes it. */
export interface Route {
  path: string;
  upstream: string;
  auth?: boolean;
  timeoutSeconds?: number;
  forwardAuthorization?: boolean;
}

/** promgate on HTTPS with an EC certificate for 127.0.0.1 and the user `admin`. */
export interface Gate {
  /** `https://127.0.0.1:PORT` */
  readonly base: string;
  readonly port: number;
  readonly certFile: string;
  readonly gate: Promgate;
  /** fetch through promgate, trusting its certificate, with admin's credentials unless given. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stops promgate (asserting a clean exit). */
  close(): Promise<void>;
}

/**
 * Picks the port promgate will listen on, so that upstreams can be told their external URL
 * (`https://127.0.0.1:PORT/prefix`) before promgate starts.
 */
export function reservePort(): { port: number; base: string } {
  const port = freePort();
  return { port, base: `https://127.0.0.1:${port}` };
}

/** Starts promgate in `dir` (which gets cert.pem, key.pem and .htpasswd) on `port`. */
export async function startGate(dir: string, port: number, routes: Route[]): Promise<Gate> {
  await makeHtpasswd(`${dir}/.htpasswd`, { [USER]: PASSWORD });
  const { certFile } = await makeCert(dir, "ec");
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    routes,
  });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certFile)] });
  const base = `https://127.0.0.1:${port}`;
  const gateFetch = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization")) headers.set("authorization", basic(USER, PASSWORD));
    return fetch(base + path, { ...init, headers, client });
  };
  return {
    base,
    port,
    certFile,
    gate,
    fetch: gateFetch,
    async close() {
      client.close();
      assertEquals(await gate.stop(), 0, `promgate exit code; stderr:\n${gate.stderr()}`);
    },
  };
}

/**
 * base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
 * `--ignore-certificate-errors-spki-list` takes to trust exactly that key.
 */
export async function spkiSha256(certFile: string): Promise<string> {
  const cert = new X509Certificate(await Deno.readTextFile(certFile));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(spki));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** A process started by `startService`. */
export interface Service {
  /** `http://127.0.0.1:PORT` of its web listener. */
  readonly url: string;
  readonly port: number;
  /** Its stderr so far (Prometheus-family programs log there). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `program` with `args(port)` on a free port and waits (at most `timeoutMs`) until
 * `GET readyPath` answers 2xx. On timeout or early exit it kills the process and throws with its
 * log.
 */
export async function startService(
  program: string,
  args: (port: number) => string[],
  readyPath: string,
  timeoutMs = 20_000,
): Promise<Service> {
  const port = freePort();
  const child = new Deno.Command(program, {
    args: args(port),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) log += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await status;
    await pumps;
  };
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const r = await fetch(url + readyPath);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `${program} ${exited ? "exited" : `was not ready within ${timeoutMs} ms`}:\n${log}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, log: () => log, stop };
}

/**
 * Debian's Alertmanager with `--web.external-url=EXTERNAL --web.route-prefix=/`, clustering off
 * and its data in `dir`. `uiPath` overrides `--web.ui-path` (Debian ships no web UI of its own).
 */
export async function startAlertmanager(
  dir: string,
  externalUrl: string,
  options: { uiPath?: string } = {},
): Promise<Service> {
  const work = await Deno.makeTempDir({ dir, prefix: "alertmanager-" });
  const config = `${work}/alertmanager.yml`;
  await Deno.writeTextFile(
    config,
    "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
  );
  return await startService("prometheus-alertmanager", (port) => [
    `--config.file=${config}`,
    `--storage.path=${work}/data`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=${externalUrl}`,
    "--web.route-prefix=/",
    "--cluster.listen-address=",
    ...(options.uiPath ? [`--web.ui-path=${options.uiPath}`] : []),
  ], "/-/ready");
}

/** Debian's Pushgateway with `--web.external-url=EXTERNAL --web.route-prefix=/`, no persistence. */
export async function startPushgateway(externalUrl: string): Promise<Service> {
  return await startService("prometheus-pushgateway", (port) => [
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=${externalUrl}`,
    "--web.route-prefix=/",
    "--persistence.file=",
  ], "/-/ready");
}

/** Writes `yaml` to `file` and asserts `promtool check config` accepts it. */
export async function checkedPrometheusConfig(file: string, yaml: string): Promise<string> {
  await Deno.writeTextFile(file, yaml);
  const r = await run("promtool", ["check", "config", file]);
  assertEquals(r.code, 0, `promtool check config ${file}:\n${r.stdout}${r.stderr}\n${yaml}`);
  return yaml;
}

/** One instant-vector sample from the query API. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Runs an instant query and returns its vector (throws on an API error). */
export async function instantQuery(
  query: string,
  get: (path: string) => Promise<Response>,
): Promise<Sample[]> {
  const r = await get(`/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = await r.json();
  if (r.status !== 200 || body.status !== "success") {
    throw new Error(`query ${query}: HTTP ${r.status} ${JSON.stringify(body)}`);
  }
  return body.data.result as Sample[];
}

/**
 * Polls `query` every 200 ms until `done(result)` holds, for at most `timeoutMs`; returns the
 * result that satisfied it, or throws with the last one seen.
 */
export async function waitForQuery(
  query: string,
  get: (path: string) => Promise<Response>,
  done: (result: Sample[]) => boolean,
  timeoutMs = 15_000,
): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  let last: Sample[] | string = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const result = await instantQuery(query, get);
      if (done(result)) return result;
      last = result;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${query} not as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** A plain-HTTP GET function for a service's own address (the side door, not through promgate). */
export function direct(url: string): (path: string) => Promise<Response> {
  return (path) => fetch(url + path);
}

/** A fresh temporary directory, and a cleanup that removes it. */
export async function workDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await tempDir();
  return { dir, remove: () => Deno.remove(dir, { recursive: true }) };
}
