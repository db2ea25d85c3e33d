/**
 * Where a process keeps the state that several promgate replicas share, when the config names a
 * Redis (`state.redis`): one connection per process, held by the main thread — by the store that
 * every server thread reaches through the main thread's broker (threads/group.ts), or by the app
 * itself when it serves alone. So there is one connection, one fallback (the local counts are
 * one for all threads while Redis is away) and one log line per switch, whatever the threads.
 *
 * Shared across replicas: the failed-login throttle's keys ("throttle.*": counts, blocks, the
 * names failing from an address, the addresses where a user logged in) and the per-user limits'
 * rate windows and concurrency slots ("limits.rate:*", "limits.busy:*"). Kept by each replica
 * alone: the verified-credential cache (its keys are HMACs under a secret each process draws at
 * start, and it exists to save this machine a hash: a shared one would put a network round trip
 * on every login and verified-credential digests in Redis), and the notices between the process's
 * threads (lib/state/replicated.ts keeps publish/subscribe local).
 */
import { readFile } from "node:fs/promises";
import type { Config } from "../config/mod.ts";
import { InputError } from "../errors.ts";
import {
  type CreateRedisClient,
  loadReplicaStores,
  type ReplicatedStore,
  StateStatus,
} from "../state/mod.ts";
import type { Logger } from "./types.ts";

/**
 * How long start-up waits for Redis to answer before serving from local counts (and connecting
 * on): a refused connection ends the wait at once; a host that does not answer, after this.
 */
const START_WAIT_MS = 3000;

/** A process's shared state: the store and its record for the metrics. */
export interface SharedState {
  readonly store: ReplicatedStore;
  readonly status: StateStatus;
}

/**
 * Whether a store key is one the replicas share: the throttle's, and the per-user limits' rate
 * windows and concurrency slots (lib/http/limits.ts). A slot is a lease renewed while its
 * response streams, so a crashed replica's slots free themselves within one lease (LEASE_MS).
 */
export function sharedByReplicas(key: string): boolean {
  return key.startsWith("throttle.") || key.startsWith("limits.rate:") ||
    key.startsWith("limits.busy:");
}

/**
 * Connects to the Redis `config.state` names (waiting at most {@link START_WAIT_MS}; promgate
 * serves meanwhile); null when it names none. Throws InputError when the password file cannot
 * be read.
 */
export async function openSharedState(config: Config, log: Logger): Promise<SharedState | null> {
  const state = config.state;
  if (!state) return null;
  let password: string | undefined;
  if (state.passwordFile !== null) {
    try {
      password = (await readFile(state.passwordFile, "utf8")).replace(/\r?\n$/, "");
    } catch (error) {
      throw new InputError(
        `state.passwordFile: ${state.passwordFile} cannot be read ` +
          `(${(error as Error).message.split("\n")[0]}). Make it readable by promgate.`,
      );
    }
  }
  // Loaded here, in the main thread only (see RedisStoreOptions.createClient).
  const [{ RedisStore, ReplicatedStore }, createClient] = await Promise.all([
    loadReplicaStores(),
    loadCreateClient(),
  ]);
  const status = StateStatus.create(true);
  const store = new ReplicatedStore({
    remote: new RedisStore({
      url: state.redis,
      password,
      keyPrefix: state.keyPrefix,
      createClient,
    }),
    shared: sharedByReplicas,
    timeoutMs: state.timeoutMs,
    name: `redis ${state.redis}`,
    log,
    status,
  });
  await store.start(START_WAIT_MS);
  return { store, status };
}

/**
 * `createClient` of @redis/client, from the file that defines the client rather than the
 * package's index, which also loads its cluster, sentinel, pool and multi-database clients
 * (~120 KB more in the binary; promgate uses none). The version is pinned in package.json. The
 * file is CommonJS with `__esModule`: Bun hands its `default` export as `default`, Deno (as Node
 * does) the whole exports object.
 */
async function loadCreateClient(): Promise<CreateRedisClient> {
  const loaded = await import("@redis/client/dist/lib/client/index.js");
  const exported = loaded.default as unknown as {
    create?: CreateRedisClient;
    default?: { create: CreateRedisClient };
  };
  const create = exported.create ?? exported.default?.create;
  if (!create) throw new Error("@redis/client: its client module has no create(); reinstall it");
  return create;
}
