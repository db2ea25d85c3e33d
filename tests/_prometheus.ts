/** Starts the real Debian `prometheus` on a free 127.0.0.1 port, as the seed's set-up runs it. */
import { freePort } from "./_util.ts";

/** A running Prometheus. */
export interface Prometheus {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with `--web.external-url=EXTERNAL --web.route-prefix=/` (the seed's flags),
 * scraping itself, and waits until it is ready. `extraArgs` are appended. `routePrefix: false`
 * leaves `--web.route-prefix` out, so Prometheus serves everything, admin API included, under the
 * external URL's path (DESIGN.md fact 9).
 */
export async function startPrometheus(
  dir: string,
  externalUrl: string,
  options: { extraArgs?: string[]; config?: string; routePrefix?: false } = {},
): Promise<Prometheus> {
  const port = freePort();
  const configFile = `${dir}/prometheus-${port}.yml`;
  await Deno.writeTextFile(
    configFile,
    options.config ??
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ["127.0.0.1:${port}"]\n`,
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dir}/tsdb-${port}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${externalUrl}`,
      ...(options.routePrefix === false ? [] : ["--web.route-prefix=/"]),
      ...(options.extraArgs ?? []),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const pump = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  const url = `http://127.0.0.1:${port}`;
  const prefix = options.routePrefix === false
    ? new URL(externalUrl).pathname.replace(/\/$/, "")
    : "";
  const deadline = Date.now() + 30_000;
  while (!(await isReady(`${url}${prefix}/-/ready`))) {
    if (Date.now() > deadline) {
      child.kill();
      await pump;
      throw new Error(`prometheus did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* it quit already (a test of /-/quit says whether it should have) */ }
      await child.status;
      await pump;
    },
  };
}

/** Whether `url` answers 2xx (Prometheus' /-/ready once it has started). */
export async function isReady(url: string): Promise<boolean> {
  try {
    const r = await fetch(url);
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}
