/**
 * Worker module of the pool in bcrypt.ts: verifies one password per message, off the main
 * thread. Besides bcrypt it runs the other iterated schemes (SHA-crypt, MD5-crypt), which
 * would also stall the main thread for milliseconds each.
 *
 * Protocol: receives a VerifyRequest, answers a VerifyResponse with the same id. It never
 * reports why a verification failed: messages could reveal a hash.
 */
import { verifyBcrypt, type VerifyRequest, type VerifyResponse } from "./bcrypt.ts";
import { verifyMd5Crypt } from "./md5_crypt.ts";
import { verifyShaCrypt } from "./sha_crypt.ts";

const VERIFIERS: Readonly<Record<string, (password: string, encoded: string) => boolean>> = {
  "bcrypt": verifyBcrypt,
  "apr1": verifyMd5Crypt,
  "md5-crypt": verifyMd5Crypt,
  "sha256-crypt": verifyShaCrypt,
  "sha512-crypt": verifyShaCrypt,
};

/** The parts of a dedicated worker's global scope used here (web standard, any runtime). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<VerifyRequest>) => void) | null;
  postMessage(message: VerifyResponse): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = ({ data }) => {
  scope.postMessage({ id: data.id, ok: verifySafely(data) });
};

function verifySafely({ scheme, password, encoded }: VerifyRequest): boolean {
  const verifier = Object.hasOwn(VERIFIERS, scheme) ? VERIFIERS[scheme] : undefined;
  try {
    return verifier !== undefined && verifier(password, encoded);
  } catch {
    // An odd password or hash must read as "no match", never crash the worker.
    return false;
  }
}
