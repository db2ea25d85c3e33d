/**
 * A real HAProxy (Debian's) for tests: on a free 127.0.0.1 port in front of one server, started
 * from a config written to a temporary directory, in the foreground (-db), stopped with SIGTERM.
 */
import { freePort, needs } from "./_util.ts";

/** Test options for tests that need haproxy and curl (they fail, not skip, when CI is set). */
export const NEEDS_HAPROXY = needs("haproxy", "curl", "htpasswd");

/** A running haproxy. */
export interface HaProxy {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts haproxy on a free port of 127.0.0.1, forwarding to 127.0.0.1:`serverPort`. `mode`
 * "http" adds X-Forwarded-For (`option forwardfor`); "proxy-v2" passes TCP through and sends a
 * PROXY protocol v2 header (`send-proxy-v2`); "proxy-v1" sends a v1 one (`send-proxy`).
 */
export async function startHaProxy(
  dir: string,
  serverPort: number,
  mode: "http" | "proxy-v1" | "proxy-v2",
): Promise<HaProxy> {
  const port = freePort();
  const server = `server promgate 127.0.0.1:${serverPort}` +
    (mode === "proxy-v2" ? " send-proxy-v2" : mode === "proxy-v1" ? " send-proxy" : "");
  const config = [
    "global",
    "  maxconn 100",
    "defaults",
    `  mode ${mode === "http" ? "http" : "tcp"}`,
    "  timeout connect 5s",
    "  timeout client 30s",
    "  timeout server 30s",
    ...(mode === "http" ? ["  option forwardfor", "  option http-server-close"] : []),
    "frontend front",
    `  bind 127.0.0.1:${port}`,
    "  default_backend gate",
    "backend gate",
    `  ${server}`,
    "",
  ].join("\n");
  const file = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(file, config);
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", file],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let err = "";
  void (async () => {
    for await (const chunk of stderr) err += chunk;
  })();
  // Listening once a connection is accepted.
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (i > 250) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error(`haproxy did not start:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}
