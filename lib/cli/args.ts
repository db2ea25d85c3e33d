/** Command-line parsing for promgate: options, usage text, and what to run. */
import { parseArgs } from "node:util";
import { InputError } from "../errors.ts";
import {
  BCRYPT_COST_RANGE,
  DEFAULT_BCRYPT_COST,
  HASH_ALGORITHMS,
  type HashAlgorithm,
} from "../auth/mod.ts";
import { errorText } from "../log.ts";

/** Exit codes, as nginx and most daemons use them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** What the command line asks for. */
export type Command =
  | { readonly kind: "serve"; readonly configPath: string }
  | { readonly kind: "check"; readonly configPath: string }
  | {
    readonly kind: "hash-password";
    readonly algorithm: HashAlgorithm;
    readonly cost: number | undefined;
    readonly user: string | null;
  }
  | { readonly kind: "token-create"; readonly name: string }
  | { readonly kind: "demo"; readonly port: number }
  | { readonly kind: "help" }
  | { readonly kind: "version" };

/** The text `promgate --help` prints. */
export const USAGE = `Usage: promgate [--config FILE]
       promgate --check [--config FILE]
       promgate hash-password [--algorithm bcrypt|apr1|sha512] [--cost N] [USER]
       promgate token create NAME
       promgate demo [--port N]

Puts HTTPS and HTTP basic auth in front of Prometheus (or any HTTP service),
configured by one JSON file.

Options:
  -c, --config FILE   the JSON config file (default: ./config.json)
  -t, --check         check the config, certificate, key, htpasswd and tokens
                      files, then exit (0 ok, 2 invalid), as nginx -t does
  -h, --help          print this help and exit
  -V, --version       print the version and exit

hash-password reads a password from the terminal (without echo, twice) or the
first line of stdin and prints an htpasswd line (the hash alone without USER):
  --algorithm A       bcrypt (default; htpasswd -B), apr1 (-m) or sha512 (-5)
  --cost N            bcrypt cost ${BCRYPT_COST_RANGE[0]}-${
  BCRYPT_COST_RANGE[1]
} (default ${DEFAULT_BCRYPT_COST}), or SHA-512 rounds (-r)
  e.g. promgate hash-password admin >> .htpasswd

token create makes an API token for NAME (a user name; its groups apply): it
prints the token once to stdout and the lines for auth.tokensFile to stderr:
  e.g. promgate token create prometheus > prometheus.token 2>> tokens

demo starts a built-in page behind promgate on https://127.0.0.1:12321/demo/
(or --port N) with a generated certificate and user, and prints how to log in.

Signals: SIGINT or SIGTERM finish in-flight requests, then exit 0.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config/htpasswd.
Docs: README.md and docs/config.md.`;

/** Parses `args` (without the program name). Throws InputError for unknown or malformed options. */
export function parseCommand(args: readonly string[]): Command {
  if (args[0] === "hash-password") return parseHashPassword(args.slice(1));
  if (args[0] === "demo") return parseDemo(args.slice(1));
  if (args[0] === "token") return parseToken(args.slice(1));
  const { values } = explained(() =>
    parseArgs({
      args: [...args],
      options: {
        config: { type: "string", short: "c", default: "config.json" },
        check: { type: "boolean", short: "t" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
      strict: true,
      allowPositionals: false,
    })
  );
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (!values.config) throw new InputError("--config needs a file name, e.g. --config config.json");
  return { kind: values.check ? "check" : "serve", configPath: values.config };
}

function parseDemo(args: readonly string[]): Command {
  const { values } = explained(() =>
    parseArgs({
      args: [...args],
      options: {
        port: { type: "string", short: "p", default: "12321" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    })
  );
  if (values.help) return { kind: "help" };
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    throw new InputError(`demo: --port must be a port number 0-65535, got ${values.port}`);
  }
  return { kind: "demo", port };
}

function parseToken(args: readonly string[]): Command {
  const { values, positionals } = explained(() =>
    parseArgs({
      args: [...args],
      options: { help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    })
  );
  if (values.help) return { kind: "help" };
  if (positionals[0] !== "create") {
    const got = positionals[0] === undefined ? "nothing" : JSON.stringify(positionals[0]);
    throw new InputError(
      `token: expected \`token create NAME\`, got ${got}.\nRun 'promgate --help' for the options.`,
    );
  }
  if (positionals.length !== 2) {
    throw new InputError(
      "token create takes one NAME, the user name the token identifies as, e.g. " +
        "`promgate token create prometheus`.",
    );
  }
  return { kind: "token-create", name: positionals[1] };
}

function parseHashPassword(args: readonly string[]): Command {
  const { values, positionals } = explained(() =>
    parseArgs({
      args: [...args],
      options: {
        algorithm: { type: "string", short: "a", default: "bcrypt" },
        cost: { type: "string", short: "C" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    })
  );
  if (values.help) return { kind: "help" };
  const algorithm = values.algorithm;
  if (!(HASH_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new InputError(
      `hash-password: unknown --algorithm ${JSON.stringify(algorithm)}; ` +
        `use one of ${HASH_ALGORITHMS.join(", ")}.`,
    );
  }
  let cost: number | undefined;
  if (values.cost !== undefined) {
    cost = Number(values.cost);
    if (!/^\d+$/.test(values.cost)) {
      throw new InputError(`hash-password: --cost must be a whole number, got ${values.cost}`);
    }
  }
  if (positionals.length > 1) {
    throw new InputError("hash-password takes at most one USER; the password is read, not given.");
  }
  return {
    kind: "hash-password",
    algorithm: algorithm as HashAlgorithm,
    cost,
    user: positionals[0] ?? null,
  };
}

/** Runs a parseArgs call, turning its errors into InputErrors that point at --help. */
function explained<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const reason = errorText(error);
    throw new InputError(`${reason}\nRun 'promgate --help' for the options.`);
  }
}
