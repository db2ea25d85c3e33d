/**
 * One access-log line per request, in nginx's "combined" format (plus the request duration) or as
 * one JSON object per line. Lines never contain a password or an Authorization value: the only
 * identity logged is the user name that authentication accepted.
 */
import { createWriteStream } from "node:fs";
import process from "node:process";
import { log } from "../log.ts";

/** What is known about a finished request. */
export interface AccessRecord {
  readonly remoteAddr: string;
  /** The authenticated user, or null when none was established. */
  readonly user: string | null;
  readonly time: Date;
  readonly method: string;
  /** Path and query as the client sent them. */
  readonly uri: string;
  readonly protocol: string;
  readonly status: number;
  /** Response body bytes sent to the client. */
  readonly bytes: number;
  readonly referer: string | null;
  readonly userAgent: string | null;
  readonly durationMs: number;
  /** The route's path, or null when no route matched. */
  readonly route: string | null;
  /** Why promgate itself answered with an error, e.g. "upstream refused the connection". */
  readonly error?: string;
}

/** Formats one record as a line (without the newline). */
export type AccessFormatter = (record: AccessRecord) => string;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** nginx's `$time_local`, in UTC: `22/Nov/2026:10:00:00 +0000`. */
export function formatTimeLocal(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Escapes as nginx does for log variables: `"`, `\`, control and non-ASCII bytes as \xHH. */
function escapeField(value: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(value)) {
    if (byte === 0x22 || byte === 0x5c || byte < 0x20 || byte > 0x7e) {
      out += "\\x" + byte.toString(16).toUpperCase().padStart(2, "0");
    } else out += String.fromCharCode(byte);
  }
  return out;
}

/**
 * nginx "combined" plus the duration in seconds:
 * `127.0.0.1 - admin [22/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 5123 "-" "curl/8.0" 0.003`
 */
export const formatCombined: AccessFormatter = (r) => {
  const field = (v: string | null) => (v === null || v === "" ? "-" : escapeField(v));
  return `${r.remoteAddr} - ${field(r.user)} [${formatTimeLocal(r.time)}] ` +
    `"${escapeField(`${r.method} ${r.uri} ${r.protocol}`)}" ${r.status} ${r.bytes} ` +
    `"${field(r.referer)}" "${field(r.userAgent)}" ${(r.durationMs / 1000).toFixed(3)}`;
};

/** One JSON object per line, with the same facts as the combined format plus route and error. */
export const formatJson: AccessFormatter = (r) =>
  JSON.stringify({
    time: r.time.toISOString(),
    remote_addr: r.remoteAddr,
    remote_user: r.user,
    method: r.method,
    uri: r.uri,
    protocol: r.protocol,
    status: r.status,
    bytes: r.bytes,
    referer: r.referer,
    user_agent: r.userAgent,
    duration_ms: Math.round(r.durationMs * 1000) / 1000,
    route: r.route,
    ...(r.error ? { error: r.error } : {}),
  });

/** An append stream whose failures are reported once on stderr instead of crashing promgate. */
function openFile(path: string) {
  const stream = createWriteStream(path, { flags: "a" });
  let reported = false;
  stream.on("error", (error: Error) => {
    if (!reported) log(`access log ${path}: ${error.message}; lines are lost`);
    reported = true;
  });
  return stream;
}

/** Writes access-log lines somewhere. */
export interface AccessLog {
  write(record: AccessRecord): void;
  /** Flushes and closes the destination. */
  close(): Promise<void>;
}

/**
 * Whole lines joined into writes of at most PIPE_BUF (4096) bytes: the size up to which a write to
 * a pipe is atomic, so lines from several server threads (lib/service/threads/) sharing stdout
 * never interleave mid-line. (Appends to a file are atomic per write anyway.)
 */
export function batches(lines: readonly string[], limit = 4096): string[] {
  const out: string[] = [];
  let current = "";
  for (const line of lines) {
    if (current.length > 0 && current.length + line.length > limit) {
      out.push(current);
      current = "";
    }
    current += line;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** An access log that drops every record (`"accessLog": false`). */
export const NO_ACCESS_LOG: AccessLog = { write() {}, close: () => Promise.resolve() };

/**
 * Opens an access log writing `format` lines to stdout (`path` "-") or appending to a file.
 * Lines are batched per event-loop turn so a busy server makes one write per turn, not per request.
 */
export function openAccessLog(format: "combined" | "json", path: string): AccessLog {
  const formatter = format === "json" ? formatJson : formatCombined;
  const sink = path === "-" ? process.stdout : openFile(path);
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    for (const batch of batches(pending)) sink.write(batch);
    pending = [];
  };
  return {
    write(record) {
      pending.push(formatter(record) + "\n");
      if (!scheduled) {
        scheduled = true;
        setTimeout(flush, 0);
      }
    },
    close() {
      flush();
      if (sink === process.stdout) return Promise.resolve();
      return new Promise((resolve) => (sink as ReturnType<typeof createWriteStream>).end(resolve));
    },
  };
}
