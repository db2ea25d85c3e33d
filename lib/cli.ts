/** Command-line parsing for promgate: options, usage text, and what to run. */
import { parseArgs } from "node:util";
import { InputError } from "./errors.ts";

/** Exit codes, as nginx and most daemons use them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** What the command line asks for. */
export type Command =
  | { readonly kind: "serve"; readonly configPath: string }
  | { readonly kind: "help" }
  | { readonly kind: "version" };

/** The text `promgate --help` prints. */
export const USAGE = `Usage: promgate [--config FILE]

Puts HTTPS and HTTP basic auth in front of Prometheus (or any HTTP service),
configured by one JSON file.

Options:
  -c, --config FILE   the JSON config file (default: ./config.json)
  -h, --help          print this help and exit
  -V, --version       print the version and exit

Signals: SIGINT or SIGTERM finish in-flight requests, then exit 0.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config/htpasswd.
Docs: README.md and docs/config.md.`;

/** Parses `args` (without the program name). Throws InputError for unknown or malformed options. */
export function parseCommand(args: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        config: { type: "string", short: "c", default: "config.json" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InputError(`${reason}\nRun 'promgate --help' for the options.`);
  }
  const { values } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (!values.config) throw new InputError("--config needs a file name, e.g. --config config.json");
  return { kind: "serve", configPath: values.config };
}
