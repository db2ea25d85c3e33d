/**
 * A real redis-server (Debian's) for tests: on a free 127.0.0.1 port, in memory only, stopped and
 * started again on the same port, or paused (SIGSTOP: connected but silent, as a Redis that hangs).
 */
import { freePort, needs } from "./_util.ts";

/** Test options for tests that need redis-server (they fail, not skip, when CI is set). */
export const NEEDS_REDIS = needs("redis-server", "redis-cli");

/** A running redis-server. */
export interface Redis {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGKILL: the connection drops, as when its machine goes); its data is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP: it keeps its connections but answers nothing until {@link resume}. */
  pause(): void;
  resume(): void;
  /** Runs redis-cli with `args` against it; resolves its output, trimmed. */
  cli(...args: string[]): Promise<string>;
}

/** Starts redis-server on a free port; `password` makes it require AUTH. */
export async function startRedis(options: { password?: string } = {}): Promise<Redis> {
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  const auth = options.password ? ["--requirepass", options.password] : [];
  const cli = async (...args: string[]) => {
    const out = await new Deno.Command("redis-cli", {
      args: [
        "-p",
        String(port),
        "--no-auth-warning",
        ...(options.password ? ["-a", options.password] : []),
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...auth,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 10_000;
    while ((await cli("PING")) !== "PONG") {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      const running = child;
      child = null;
      if (!running) return;
      running.kill("SIGKILL");
      await running.status;
    },
    start,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    cli,
  };
}
