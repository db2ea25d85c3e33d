/**
 * One store for several server threads: the main thread's {@link StoreBroker} keeps a store (a
 * LocalStore) and serves its operations to every thread over a MessagePort; a server thread uses
 * a {@link ThreadStore}, whose operations are messages to the broker. The broker handles one
 * message at a time, so an increment from one thread and a read from another see one order, and
 * a message published by one thread reaches the subscribers of all.
 */
import { LocalStore } from "./local.ts";
import type { Json, SetOptions, Store } from "./types.ts";

/** The store operations a thread may call; their arguments and results are JSON. */
const OPERATIONS = ["increment", "get", "put", "delete", "add", "has", "remove", "publish"];

/** From a thread to the broker. */
type ToBroker =
  | { type: "call"; id: number; op: string; args: Json[] }
  | { type: "subscribe" | "unsubscribe"; channel: string };

/** From the broker to a thread. */
type ToClient =
  | { type: "result"; id: number; value: Json }
  | { type: "error"; id: number; message: string }
  | { type: "message"; channel: string; message: Json };

interface Connection {
  readonly served: MessagePort;
  readonly channels: Map<string, () => void>;
}

/** The main thread's side: serves one store to every connected thread. */
export class StoreBroker {
  readonly #store: Store;
  /**
   * Each connection by the end handed out: the end served here, and the unsubscribes of the
   * channels the thread listens to.
   */
  readonly #connections = new Map<MessagePort, Connection>();

  constructor(store: Store = new LocalStore()) {
    this.#store = store;
  }

  /** A new connection: the broker serves one end; the other is for a thread's ThreadStore. */
  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const connection: Connection = { served: port1, channels: new Map() };
    this.#connections.set(port2, connection);
    port1.onmessage = (event: MessageEvent<ToBroker>) => this.#serve(connection, event.data);
    return port2;
  }

  /** Ends the connection of `port` (from {@link connect}), e.g. of a thread that died. */
  disconnect(port: MessagePort): void {
    const connection = this.#connections.get(port);
    if (!connection) return;
    this.#connections.delete(port);
    for (const unsubscribe of connection.channels.values()) unsubscribe();
    connection.served.close();
  }

  /** Ends every connection and closes the store. */
  async close(): Promise<void> {
    for (const port of [...this.#connections.keys()]) this.disconnect(port);
    await this.#store.close();
  }

  #serve({ served, channels }: Connection, message: ToBroker): void {
    const send = (answer: ToClient) => served.postMessage(answer);
    if (message.type === "call") {
      const { id, op, args } = message;
      if (!OPERATIONS.includes(op)) {
        return send({ type: "error", id, message: `no store operation ${JSON.stringify(op)}` });
      }
      const call = (this.#store as unknown as Record<string, (...a: Json[]) => Promise<Json>>)[op];
      void Promise.resolve()
        .then(() => call.apply(this.#store, args))
        .then(
          (value) => send({ type: "result", id, value: value ?? null }),
          (error) => send({ type: "error", id, message: String(error?.message ?? error) }),
        );
    } else if (message.type === "subscribe" && !channels.has(message.channel)) {
      const { channel } = message;
      channels.set(
        channel,
        this.#store.subscribe(channel, (m) => send({ type: "message", channel, message: m })),
      );
    } else if (message.type === "unsubscribe") {
      channels.get(message.channel)?.();
      channels.delete(message.channel);
    }
  }
}

/** A server thread's side: a {@link Store} whose operations run in the main thread's broker. */
export class ThreadStore implements Store {
  readonly #port: MessagePort;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve(v: Json): void; reject(e: Error): void }>();
  readonly #listeners = new Map<string, Set<(message: Json) => void>>();
  #closed = false;

  /** @param port the thread's end of a {@link StoreBroker.connect} */
  constructor(port: MessagePort) {
    this.#port = port;
    port.onmessage = (event: MessageEvent<ToClient>) => this.#receive(event.data);
  }

  increment(key: string, ttlMs: number, by = 1): Promise<number> {
    return this.#call("increment", [key, ttlMs, by]) as Promise<number>;
  }

  get(key: string): Promise<Json> {
    return this.#call("get", [key]);
  }

  async put(key: string, value: Json, ttlMs: number): Promise<void> {
    await this.#call("put", [key, value, ttlMs]);
  }

  async delete(key: string): Promise<void> {
    await this.#call("delete", [key]);
  }

  add(set: string, member: string, ttlMs: number, options: SetOptions = {}): Promise<number> {
    const wire: Json = { ...options };
    return this.#call("add", [set, member, ttlMs, wire]) as Promise<number>;
  }

  has(set: string, member: string): Promise<boolean> {
    return this.#call("has", [set, member]) as Promise<boolean>;
  }

  async remove(set: string, member: string): Promise<void> {
    await this.#call("remove", [set, member]);
  }

  async publish(channel: string, message: Json): Promise<void> {
    await this.#call("publish", [channel, message]);
  }

  subscribe(channel: string, listener: (message: Json) => void): () => void {
    let listeners = this.#listeners.get(channel);
    if (!listeners) {
      this.#listeners.set(channel, listeners = new Set());
      this.#send({ type: "subscribe", channel });
    }
    const own = (message: Json) => listener(message);
    listeners.add(own);
    return () => {
      listeners.delete(own);
      if (listeners.size > 0 || this.#listeners.get(channel) !== listeners) return;
      this.#listeners.delete(channel);
      if (!this.#closed) this.#send({ type: "unsubscribe", channel });
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const { reject } of this.#pending.values()) reject(new Error("the store is closed"));
    this.#pending.clear();
    this.#listeners.clear();
    this.#port.close();
    return Promise.resolve();
  }

  #call(op: string, args: Json[]): Promise<Json> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      this.#send({ type: "call", id, op, args });
    });
  }

  #send(message: ToBroker): void {
    this.#port.postMessage(message);
  }

  #receive(message: ToClient): void {
    if (message.type === "message") {
      for (const listener of this.#listeners.get(message.channel) ?? []) listener(message.message);
      return;
    }
    const pending = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    if (message.type === "result") pending?.resolve(message.value);
    else pending?.reject(new Error(`store: ${message.message}`));
  }
}
