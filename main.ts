/**
 * promgate: HTTPS and HTTP basic auth in front of Prometheus, in one executable.
 *
 *   promgate --config config.json
 */
import process from "node:process";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, parseCommand, USAGE } from "./lib/cli/mod.ts";
import { checkCommand } from "./lib/cli/mod.ts";
import { DEMO_USER, startDemo } from "./lib/cli/mod.ts";
import { hashPasswordCommand, tokenCreateCommand } from "./lib/cli/mod.ts";
import { loadConfig } from "./lib/config/mod.ts";
import { InputError } from "./lib/errors.ts";
import { currentRuntime } from "./lib/runtime/mod.ts";
import { buildCommit, VERSION } from "./lib/version.ts";
import { configWarnings } from "./lib/service/mod.ts";
import { startService } from "./lib/service/mod.ts";
import { errorText, log } from "./lib/log.ts";

/** Runs promgate with `args`; resolves with the exit code once it should exit. */
export async function main(args: readonly string[]): Promise<number> {
  const runtime = await currentRuntime();
  const command = parseCommand(args);
  if (command.kind === "help") {
    console.log(USAGE);
    return EXIT_OK;
  }
  if (command.kind === "version") {
    console.log(
      `promgate ${VERSION} (${runtime.name} ${runtime.version}, commit ${buildCommit()})`,
    );
    return EXIT_OK;
  }
  if (command.kind === "check") {
    console.log(await checkCommand(command.configPath));
    return EXIT_OK;
  }
  if (command.kind === "hash-password") {
    console.log(await hashPasswordCommand(command));
    return EXIT_OK;
  }
  if (command.kind === "token-create") {
    const created = tokenCreateCommand(command.name);
    console.log(created.token);
    console.error(created.lines);
    return EXIT_OK;
  }
  const demo = command.kind === "demo" ? await startDemo(runtime, command.port) : null;
  const config = await loadConfig(command.kind === "demo" ? demo!.configPath : command.configPath);
  // Before serving, so that they are the first thing an operator reading the log sees.
  for (const line of await configWarnings(config)) log(`warning: ${line}`);
  const app = await startService(config, runtime, log);
  const threads = app.threads > 1 ? `, ${app.threads} server threads` : "";
  log(
    `listening on ${app.url} (${
      config.routes.map((r) => `${r.path} -> ${r.upstream.href}`).join(", ")
    }${threads})`,
  );
  if (demo) {
    log(
      `demo: open ${app.url}/demo/ and log in as ${DEMO_USER} / ${demo.password} ` +
        `(the certificate is generated, so expect a browser warning; or: curl -k -u ` +
        `${DEMO_USER}:${demo.password} ${app.url}/demo/). Ctrl-C stops it.`,
    );
  }
  // SIGHUP reloads the config (as nginx -s reload); the htpasswd and certificate files are
  // watched by the app itself. A reload that fails is logged and changes nothing but the
  // promgate_config_last_reload_successful gauge.
  runtime.onSignal("SIGHUP", () => {
    log("SIGHUP: reloading the config");
    void app.reload();
  });
  const signal = await new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      runtime.onSignal(signal, () => resolve(signal));
    }
  });
  const grace = app.config.shutdownGraceSeconds;
  log(`${signal}: finishing in-flight requests (for up to ${grace} s)`);
  await app.shutdown(grace * 1000);
  await demo?.close();
  log("stopped");
  return EXIT_OK;
}

if (import.meta.main) {
  try {
    process.exit(await main(process.argv.slice(2)));
  } catch (error) {
    if (error instanceof InputError) {
      log(error.message);
      process.exit(EXIT_USAGE);
    }
    log(`failed: ${errorText(error)}`);
    process.exit(EXIT_FAILURE);
  }
}
