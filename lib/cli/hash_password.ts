/**
 * `promgate hash-password`: reads a password (from a terminal without echo, or the first line of
 * stdin) and prints an htpasswd line (`USER:HASH`, or the hash alone without USER).
 */
import { concatBytes } from "../bytes.ts";
import process from "node:process";
import { InputError } from "../errors.ts";
import { type HashAlgorithm, hashPassword } from "../auth/mod.ts";

/** What `promgate hash-password` was asked for. */
export interface HashPasswordOptions {
  readonly algorithm: HashAlgorithm;
  readonly cost: number | undefined;
  readonly user: string | null;
}

/** Runs the command; returns the line to print. Throws InputError for bad input. */
export async function hashPasswordCommand(options: HashPasswordOptions): Promise<string> {
  if (options.user !== null && (options.user === "" || /[:\s]/.test(options.user))) {
    throw new InputError(
      `hash-password: the user name ${JSON.stringify(options.user)} is not usable in an htpasswd ` +
        "file: it must be non-empty, without ':' or white space.",
    );
  }
  const password = process.stdin.isTTY ? await readTwiceFromTerminal() : await readFirstLine();
  if (password === "") {
    throw new InputError("hash-password: the password is empty; give a non-empty one.");
  }
  let hash: string;
  try {
    hash = hashPassword(password, options.algorithm, options.cost);
  } catch (error) {
    if (error instanceof RangeError) throw new InputError(`hash-password: ${error.message}`);
    throw error;
  }
  return options.user === null ? hash : `${options.user}:${hash}`;
}

/** The first line of stdin (without its line end), as `htpasswd -i` reads it. */
async function readFirstLine(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    if ((chunk as Uint8Array).includes?.(0x0a)) break;
  }
  const text = new TextDecoder().decode(concatBytes(chunks));
  return text.split("\n", 1)[0].replace(/\r$/, "");
}

async function readTwiceFromTerminal(): Promise<string> {
  const first = await readHidden("New password: ");
  const second = await readHidden("Re-type new password: ");
  if (first !== second) {
    throw new InputError("hash-password: the passwords differ; nothing written.");
  }
  return first;
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C exits 130. */
function readHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let bytes: number[] = [];
    const onData = (data: Uint8Array | string) => {
      const chunk = typeof data === "string" ? new TextEncoder().encode(data) : data;
      for (const b of chunk) {
        if (b === 0x0d || b === 0x0a) { // Enter
          stdin.off("data", onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stderr.write("\n");
          resolve(new TextDecoder().decode(new Uint8Array(bytes)));
          return;
        }
        if (b === 0x03) { // Ctrl-C
          stdin.setRawMode(false);
          process.stderr.write("\n");
          process.exit(130);
        }
        if (b === 0x15) bytes = []; // Ctrl-U: erase the line
        else if (b === 0x7f || b === 0x08) bytes = dropLastChar(bytes); // Backspace
        else bytes.push(b);
      }
    };
    stdin.on("data", onData);
  });
}

/** Removes the last UTF-8 character (not just its last byte). */
function dropLastChar(bytes: number[]): number[] {
  let end = bytes.length - 1;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.slice(0, Math.max(0, end));
}
