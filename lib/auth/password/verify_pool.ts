/**
 * The small Worker pool that runs slow password verifications (bcrypt, SHA-crypt, MD5-crypt) off
 * the main thread; the worker module is verify_worker.ts.
 *
 * Why a pool: bcrypt-ts at cost 10 blocks its thread for ~65–90 ms, and the iterated
 * crypt(3) schemes (SHA-crypt ~10–25 ms at 5000 rounds) are not free either; on the main
 * thread that stalls every other request (DESIGN.md fact 5).
 */
// Types only: the worker module is loaded by the Worker, never by this thread.
import type { VerifyRequest, VerifyResponse } from "./verify_worker.ts";

interface Pending {
  resolve(ok: boolean): void;
  reject(error: Error): void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * The worker module. Run from source, it sits beside this file. Bundled into one file by
 * `bun build --compile main.ts lib/auth/password/verify_worker.ts` (deno task compile), this
 * module's URL is the bundle's, i.e. main.ts's at the root of the embedded tree, and the worker is the
 * extra entry point at its own path below that root.
 */
const WORKER_URL = import.meta.url.endsWith("/verify_pool.ts")
  ? new URL("./verify_worker.ts", import.meta.url).href
  : new URL("./lib/auth/password/verify_worker.ts", import.meta.url).href;

/**
 * Up to `size` module Workers, started lazily: the first on the first verification, another
 * only when every running one is busy. A job goes to the least busy worker.
 */
export class VerifyPool {
  readonly #size: number;
  readonly #workers: PoolWorker[] = [];
  #nextId = 1;
  #closed = false;

  /** @param size the most workers to run; at least 1 */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`bcryptWorkers must be an integer >= 1, got ${size}`);
    }
    this.#size = size;
  }

  /**
   * Runs the verifier for `scheme` (see verify_worker.ts) in a worker. Resolves to its
   * answer; rejects only if the pool was closed or a worker failed (never for a password).
   */
  verify(scheme: string, password: string, encoded: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error("password verifier is closed"));
    const target = this.#pick();
    const id = this.#nextId++;
    return new Promise<boolean>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      const request: VerifyRequest = { id, scheme, password, encoded };
      target.worker.postMessage(request);
    });
  }

  /** Terminates every worker and rejects jobs still running. Safe to call twice. */
  close(): void {
    this.#closed = true;
    for (const w of this.#workers.splice(0)) this.#fail(w, "password verifier was closed");
  }

  #pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const w of this.#workers) {
      if (best === undefined || w.pending.size < best.pending.size) best = w;
    }
    if (best !== undefined && (best.pending.size === 0 || this.#workers.length >= this.#size)) {
      return best;
    }
    return this.#spawn();
  }

  #spawn(): PoolWorker {
    const worker = new Worker(WORKER_URL, { type: "module" });
    const entry: PoolWorker = { worker, pending: new Map() };
    worker.onmessage = (event: MessageEvent<VerifyResponse>) => {
      const job = entry.pending.get(event.data.id);
      entry.pending.delete(event.data.id);
      job?.resolve(event.data.ok);
    };
    // A worker that cannot load or crashes is dropped; the next job starts a fresh one.
    // preventDefault() stops the error from also being rethrown in (and killing) this thread.
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#drop(entry, `password worker failed: ${event.message}`);
    };
    worker.onmessageerror = () => this.#drop(entry, "password worker sent an unreadable message");
    this.#workers.push(entry);
    return entry;
  }

  #drop(entry: PoolWorker, reason: string): void {
    const index = this.#workers.indexOf(entry);
    if (index >= 0) this.#workers.splice(index, 1);
    this.#fail(entry, reason);
  }

  #fail(entry: PoolWorker, reason: string): void {
    entry.worker.terminate();
    for (const job of entry.pending.values()) job.reject(new Error(reason));
    entry.pending.clear();
  }
}
