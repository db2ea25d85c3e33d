/**
 * Worker module of the pool in verify_pool.ts: verifies one password per message, off the main
 * thread. Besides bcrypt it runs the other iterated schemes (SHA-crypt, MD5-crypt), which
 * would also stall the main thread for milliseconds each.
 *
 * Protocol: receives a VerifyRequest, answers a VerifyResponse with the same id. It never
 * reports why a verification failed: messages could reveal a hash.
 */
import { verifySlowHash } from "./slow_hash.ts";

/** A request to the worker (the pool in verify_pool.ts sends it). */
export interface VerifyRequest {
  readonly id: number;
  readonly scheme: string;
  readonly password: string;
  readonly encoded: string;
}

/** The worker's answer to a {@link VerifyRequest}. */
export interface VerifyResponse {
  readonly id: number;
  readonly ok: boolean;
}

/** The parts of a dedicated worker's global scope used here (web standard, any runtime). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<VerifyRequest>) => void) | null;
  postMessage(message: VerifyResponse): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = ({ data }) => {
  scope.postMessage({ id: data.id, ok: verifySlowHash(data.scheme, data.password, data.encoded) });
};
