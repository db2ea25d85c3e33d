/**
 * What the app loads from a config (its access log), a server for a new certificate,
 * and the base URL a server answers at.
 */
import { type AccessLog, NO_ACCESS_LOG, openAccessLog } from "../http/mod.ts";
import type { Config, TlsConfig } from "../config/mod.ts";
import type { Server } from "../runtime/mod.ts";
import { fingerprintOf, oneLine } from "./reload.ts";
import type { Logger } from "./types.ts";

export function openLog(config: Config): AccessLog {
  return config.accessLog
    ? openAccessLog(config.accessLog.format, config.accessLog.path)
    : NO_ACCESS_LOG;
}

/**
 * Starts a server with `tls` next to `old`, then shuts `old` down; its requests (and keep-alive
 * connections' last requests) finish on it, and `draining` holds its shutdown until then.
 * Connections the kernel had queued on the old listener but promgate had not yet accepted when it
 * closes are reset (a property of SO_REUSEPORT; Linux >= 5.14 can migrate them with
 * net.ipv4.tcp_migrate_req). `serving` gets the new server as soon as it listens. Resolves
 * false (logged) when `tls` cannot be served.
 */
export async function replaceCertificate(
  old: Server,
  tls: TlsConfig,
  notice: Logger,
  draining: Set<Promise<void>>,
  serving: (fresh: Server) => void,
): Promise<boolean> {
  let fresh: Server;
  try {
    fresh = await old.replaceTls({ cert: tls.cert, key: tls.key });
  } catch (error) {
    notice(`reload: kept the previous certificate: ${oneLine(error)}`);
    return false;
  }
  serving(fresh);
  const closing = old.shutdown().catch((error) => {
    notice(`reload: closing the previous listener: ${oneLine(error)}`);
  });
  draining.add(closing);
  closing.finally(() => draining.delete(closing));
  const source = tls.certFile ?? "a self-signed certificate";
  notice(
    `reload: certificate ${source}: serving it to new connections ` +
      `(SHA-256 fingerprint ${tls.selfSigned?.fingerprint ?? fingerprintOf(tls.cert)})`,
  );
  return true;
}

/** The base URL of a server on `hostname`:`port`, e.g. "https://127.0.0.1:12321". */
export function baseUrl(hostname: string, port: number, tls: boolean): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${tls ? "https" : "http"}://${host}:${port}`;
}
