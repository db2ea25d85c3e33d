/**
 * The rules of a live reload: which parts of a new config apply to a running promgate and which
 * need a restart, and an access log whose destination can change under requests that are still
 * writing to it. lib/service/app.ts applies them; lib/service/file_watch.ts says when files changed.
 */
import { X509Certificate } from "node:crypto";
import type { AccessLog, AccessRecord } from "../http/mod.ts";
import type { Config, TlsConfig } from "../config/mod.ts";
import { errorText } from "../log.ts";

/** What to do with a config that was loaded again (SIGHUP). */
export interface ReloadPlan {
  /** The new config, with what cannot change while running (listen; HTTP vs HTTPS; state) kept. */
  readonly config: Config;
  /** The certificate to start serving, or null when the current one stays. */
  readonly newTls: TlsConfig | null;
  /** One line per change that was not applied because it needs a restart. */
  readonly needRestart: string[];
}

/** Compares the running config with a newly loaded one; see {@linkcode ReloadPlan}. */
export function planReload(current: Config, next: Config): ReloadPlan {
  const needRestart: string[] = [];
  let listen = next.listen;
  if (listen.hostname !== current.listen.hostname || listen.port !== current.listen.port) {
    // The listening socket is what clients connect to; moving it is a restart, not a reload.
    needRestart.push(
      `listen changed to ${hostPort(listen)}; restart promgate to apply it ` +
        `(still listening as configured before, ${hostPort(current.listen)})`,
    );
    // The client timeouts are not the socket: they apply at once.
    listen = { ...next.listen, hostname: current.listen.hostname, port: current.listen.port };
  }
  const proxyProtocol = current.listen.proxyProtocol ?? false;
  if ((next.listen.proxyProtocol ?? false) !== proxyProtocol) {
    // The PROXY protocol front is part of the listening socket.
    needRestart.push(
      `listen.proxyProtocol changed to ${!proxyProtocol}; restart promgate to apply it ` +
        `(still ${proxyProtocol ? "reading" : "not reading"} PROXY protocol headers)`,
    );
    listen = { ...listen, proxyProtocol };
  }
  if (next.workers !== current.workers) {
    needRestart.push(
      `workers changed to ${next.workers}; restart promgate to apply it ` +
        `(still serving with ${current.workers})`,
    );
  }
  if (JSON.stringify(next.state ?? null) !== JSON.stringify(current.state ?? null)) {
    // The connection to Redis is opened once, by the main thread (lib/service/shared_state.ts).
    needRestart.push(
      "state changed; restart promgate to apply it (still using the state as before)",
    );
  }
  let tls = next.tls;
  let newTls: TlsConfig | null = null;
  if ((current.tls === null) !== (next.tls === null)) {
    needRestart.push(
      `tls ${next.tls ? "added" : "removed"}; switching between HTTP and HTTPS needs a restart ` +
        `(still serving ${current.tls ? "HTTPS" : "plain HTTP"})`,
    );
    tls = current.tls;
  } else if (current.tls && next.tls && !sameCertificate(current.tls, next.tls)) {
    newTls = next.tls;
  } else {
    // Same certificate; for selfSigned this keeps the one generated at start, whose fingerprint
    // clients may have pinned, instead of the fresh one loadConfig just made.
    tls = current.tls;
  }
  const config = { ...next, listen, tls, workers: current.workers, state: current.state };
  return { config, newTls, needRestart };
}

function sameCertificate(a: TlsConfig, b: TlsConfig): boolean {
  if (a.selfSigned && b.selfSigned) {
    return a.selfSigned.hostnames.join() === b.selfSigned.hostnames.join();
  }
  return a.cert === b.cert && a.key === b.key;
}

function hostPort(listen: Config["listen"]): string {
  const host = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
  return `${host}:${listen.port}`;
}

/** The SHA-256 fingerprint of a PEM certificate (the first of a chain), as openssl prints it. */
export function fingerprintOf(certPem: string): string {
  try {
    return new X509Certificate(certPem).fingerprint256;
  } catch {
    return "unknown";
  }
}

/** An error's message on one line (problems joined with "; "), for a single log line. */
export function oneLine(error: unknown): string {
  const text = errorText(error);
  return text.split("\n").filter((l) => l.trim() !== "").join("; ");
}

/**
 * An access log whose destination can be replaced (a config reload, or a reopen after logrotate
 * moved the file) while requests are in flight. A request writes its line when its body has been
 * sent, which may be after the switch: it then goes to the new destination, so no line is lost
 * and the old file is closed at once instead of whenever the slowest old request ends.
 */
export class SwitchableAccessLog implements AccessLog {
  #current: AccessLog;

  constructor(initial: AccessLog) {
    this.#current = initial;
  }

  write(record: AccessRecord): void {
    this.#current.write(record);
  }

  /** Sends every line from now on to `next`, then flushes and closes the previous destination. */
  async switchTo(next: AccessLog): Promise<void> {
    const previous = this.#current;
    this.#current = next;
    await previous.close();
  }

  close(): Promise<void> {
    return this.#current.close();
  }
}
