/**
 * The notices between server threads, over the publish/subscribe of the store the main thread
 * serves them (lib/state/threads.ts): which watched files changed (the first thread watches),
 * and each thread's request counts for a scrape answered by another.
 */
import type { MetricsSnapshot } from "../../http/mod.ts";
import type { Json, Store } from "../../state/mod.ts";

/** How long a scrape waits for the other threads' counts before answering with what it has. */
const SNAPSHOT_WAIT_MS = 1000;

const FILES = "threads.files";
const METRICS_WANTED = "threads.metrics?";
const METRICS = "threads.metrics";

/** One server thread's end of the notices. */
export class Notices {
  readonly #store: Store;
  readonly #index: number;
  readonly #threads: number;
  #nextId = 1;

  /**
   * @param index this thread's number
   * @param threads how many server threads there are
   */
  constructor(store: Store, index: number, threads: number) {
    this.#store = store;
    this.#index = index;
    this.#threads = threads;
  }

  /** Tells the other threads that the watched files `changed` changed. */
  filesChanged(changed: string[]): void {
    void this.#store.publish(FILES, { from: this.#index, changed }).catch(() => {});
  }

  /**
   * Reloads with `reload` what the other threads report changed, and answers their requests for
   * counts with `snapshot`; returns the unsubscribe.
   */
  serve(reload: (changed: string[]) => void, snapshot: () => MetricsSnapshot): () => void {
    const store = this.#store;
    const files = store.subscribe(FILES, (message) => {
      const { from, changed } = message as { from: number; changed: string[] };
      if (from !== this.#index) reload(changed);
    });
    const metrics = store.subscribe(METRICS_WANTED, (message) => {
      const { from, id } = message as { from: number; id: string };
      if (from === this.#index) return;
      const counts = snapshot() as unknown as Json;
      void store.publish(METRICS, { id, snapshot: counts }).catch(() => {});
    });
    return () => {
      files();
      metrics();
    };
  }

  /** The other threads' counts, from those that answer within {@link SNAPSHOT_WAIT_MS}. */
  otherMetrics(): Promise<MetricsSnapshot[]> {
    const id = `${this.#index}:${this.#nextId++}`;
    const counts: MetricsSnapshot[] = [];
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve(counts);
      };
      // Subscribed before asking: the store serves this thread's messages in order.
      const unsubscribe = this.#store.subscribe(METRICS, (message) => {
        const answer = message as { id: string; snapshot: Json };
        if (answer.id !== id) return;
        counts.push(answer.snapshot as unknown as MetricsSnapshot);
        if (counts.length >= this.#threads - 1) done();
      });
      const timer = setTimeout(done, SNAPSHOT_WAIT_MS);
      if (this.#threads <= 1) return done();
      void this.#store.publish(METRICS_WANTED, { from: this.#index, id }).catch(done);
    });
  }
}
