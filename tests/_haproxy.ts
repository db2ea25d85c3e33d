/**
 * A real HAProxy (Debian's) for tests: on a free 127.0.0.1 port in front of one server or several
 * (round robin), started from a config written to a temporary directory, in the foreground (-db),
 * stopped with SIGTERM.
 */
import { curlStatus, freePort, needs } from "./_util.ts";

/** Test options for tests that need haproxy and curl (they fail, not skip, when CI is set). */
export const NEEDS_HAPROXY = needs("haproxy", "curl", "htpasswd");

/** A running haproxy. */
export interface HaProxy {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts haproxy on a free port of 127.0.0.1, forwarding to 127.0.0.1:`serverPorts`, each new
 * connection to the next server. `mode` "http" adds X-Forwarded-For (`option forwardfor`) and
 * opens a connection per request; "proxy-v2" passes TCP through and sends a PROXY protocol v2
 * header (`send-proxy-v2`); "proxy-v1" sends a v1 one (`send-proxy`); "http+proxy-v2" does both
 * what "http" does and sends a PROXY v2 header on every connection to a server.
 */
export async function startHaProxy(
  dir: string,
  serverPorts: number | number[],
  mode: "http" | "proxy-v1" | "proxy-v2" | "http+proxy-v2",
): Promise<HaProxy> {
  const port = freePort();
  const http = mode === "http" || mode === "http+proxy-v2";
  const send = mode === "proxy-v1" ? " send-proxy" : mode === "http" ? "" : " send-proxy-v2";
  const servers = [serverPorts].flat().map((p, i) => `  server promgate${i} 127.0.0.1:${p}${send}`);
  const config = [
    "global",
    "  maxconn 100",
    "defaults",
    `  mode ${http ? "http" : "tcp"}`,
    "  timeout connect 5s",
    "  timeout client 30s",
    "  timeout server 30s",
    ...(http ? ["  option forwardfor", "  option http-server-close"] : []),
    "frontend front",
    `  bind 127.0.0.1:${port}`,
    "  default_backend gate",
    "backend gate",
    "  balance roundrobin",
    ...servers,
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

/**
 * GET `url` with curl from local address `from` (a distinct loopback address stands for a
 * distinct client), with `authorization` and, if given, an X-Forwarded-For the client made up;
 * resolves the status (0 when no HTTP answer came).
 */
export async function curlFrom(from: string, url: string, authorization: string, xff?: string) {
  const r = await curlStatus(
    "--interface",
    from,
    "-H",
    `authorization: ${authorization}`,
    ...(xff ? ["-H", `x-forwarded-for: ${xff}`] : []),
    url,
  );
  return Number(r.stdout);
}
