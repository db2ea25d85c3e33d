/**
 * `promgate demo`: everything a newcomer needs to see promgate work with nothing else installed —
 * a small built-in upstream (a page and a few Prometheus-style metrics), a generated user with a
 * random password, and promgate in front of it over HTTPS with a generated certificate. The
 * files go to a temporary directory, so the demo runs through exactly the code a real config does.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../auth/mod.ts";
import type { Runtime, Server } from "../runtime/mod.ts";

/** The demo's user name; its password is random per run. */
export const DEMO_USER = "demo";

/** What `startDemo` set up, for main.ts to print, serve and clean up. */
export interface Demo {
  readonly configPath: string;
  readonly password: string;
  readonly upstream: Server;
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>promgate demo</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>You are in.</h1>
<p>This page comes from promgate's built-in demo upstream. promgate checked your password
against an htpasswd file, over HTTPS, and passed the request on.</p>
<p>Try <a href="metrics">metrics</a>, or <code>curl -k -u demo:PASSWORD URL</code>.
Put a real Prometheus behind promgate with <code>promgate --config config.json</code>
(see <code>config.example.json</code>).</p>
</body></html>
`;

function demoUpstream(req: Request): Response {
  const path = new URL(req.url).pathname;
  if (path === "/metrics") {
    return new Response(
      "# HELP demo_requests_total Requests the demo upstream answered.\n" +
        "# TYPE demo_requests_total counter\n" +
        `demo_requests_total ${++served}\n`,
      { headers: { "content-type": "text/plain; version=0.0.4" } },
    );
  }
  served++;
  return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
}

let served = 0;

/** Starts the demo upstream and writes a config and htpasswd for promgate in front of it. */
export async function startDemo(runtime: Runtime, port: number): Promise<Demo> {
  const upstream = await runtime.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: null,
    handler: demoUpstream,
    onError: () => new Response("500 Internal Server Error\n", { status: 500 }),
  });
  const dir = await mkdtemp(join(tmpdir(), "promgate-demo-"));
  const password = randomBytes(9).toString("base64url");
  await writeFile(join(dir, ".htpasswd"), `${DEMO_USER}:${hashPassword(password, "bcrypt")}\n`, {
    mode: 0o600,
  });
  const config = {
    listen: { hostname: "127.0.0.1", port },
    tls: { selfSigned: true },
    auth: { realm: "promgate demo", htpasswdFile: ".htpasswd" },
    routes: [
      { path: "/demo/", upstream: `http://127.0.0.1:${upstream.port}/` },
      { path: "/healthz", upstream: `http://127.0.0.1:${upstream.port}/metrics`, auth: false },
    ],
    metrics: { path: "/-/promgate/metrics" },
  };
  const configPath = join(dir, "config.json");
  await writeFile(configPath, JSON.stringify(config, null, 2) + "\n");
  return {
    configPath,
    password,
    upstream,
    async close() {
      await upstream.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
