/**
 * What the server threads know about their connections, for the client timeouts' sweep
 * (lib/slow_clients/sweep.ts):
 * per client port, how many requests are in flight and when the last one started and ended.
 *
 * Neither Deno's nor Bun's server (`serve`) tells a program about connections, only about requests, and
 * each request's peer port identifies its connection among the open sockets the sweep lists.
 * The table lives in a SharedArrayBuffer so that every server thread writes to the one table the
 * sweep in the main thread reads: any thread may own any socket on the shared port. Two clients
 * on different addresses with the same port share a slot, which can only make the sweep
 * lenient (a slot shows the busier of the two), never close a busy connection.
 */
import type { ClientInfo, HttpHandler } from "../http/mod.ts";

/** Int32 fields per port: requests in flight, last start, last end (see #stamp). */
const FIELDS = 3;
const ACTIVE = 0;
const STARTED = 1;
const ENDED = 2;
const PORTS = 65536;
/** The Float64 epoch (ms) precedes the slots. */
const HEADER_BYTES = 8;

/** Time in the table's unit: Int32 deciseconds last 6.8 years from the epoch. */
const TICK_MS = 100;

/** One client port's requests, as the sweep reads them (times in ms since the table's epoch). */
export interface PortActivity {
  /** Requests in flight (and upgraded WebSockets still open). */
  readonly active: number;
  /** When the last request started, or -1 if none has since the table was made. */
  readonly startedMs: number;
  /** When the last request ended, or -1 if none has. */
  readonly endedMs: number;
}

/** The shared table; build it with {@linkcode ConnectionTable.create} or from a shared buffer. */
export class ConnectionTable {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: Int32Array;
  readonly #epoch: number;

  /** Wraps `buffer` (made by {@linkcode ConnectionTable.create}, possibly in another thread). */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#epoch = new Float64Array(buffer, 0, 1)[0];
    this.#slots = new Int32Array(buffer, HEADER_BYTES, PORTS * FIELDS);
  }

  /** A new, empty table whose clock starts now. */
  static create(): ConnectionTable {
    const buffer = new SharedArrayBuffer(HEADER_BYTES + PORTS * FIELDS * 4);
    new Float64Array(buffer, 0, 1)[0] = Date.now();
    return new ConnectionTable(buffer);
  }

  /** Now, in ms since the table's epoch (at the table's resolution). */
  nowMs(): number {
    return this.#ticks() * TICK_MS;
  }

  /** A request (or an upgraded WebSocket) began on the connection from `port`. */
  begin(port: number): void {
    const at = (port & 0xffff) * FIELDS;
    Atomics.add(this.#slots, at + ACTIVE, 1);
    Atomics.store(this.#slots, at + STARTED, this.#stamp());
  }

  /** What {@linkcode begin} began has ended. */
  end(port: number): void {
    const at = (port & 0xffff) * FIELDS;
    // Never below zero, so a stray end cannot make a later request's connection look idle.
    if (Atomics.sub(this.#slots, at + ACTIVE, 1) <= 0) Atomics.add(this.#slots, at + ACTIVE, 1);
    Atomics.store(this.#slots, at + ENDED, this.#stamp());
  }

  /** What is known about requests from client port `port`. */
  read(port: number): PortActivity {
    const at = (port & 0xffff) * FIELDS;
    const started = Atomics.load(this.#slots, at + STARTED);
    const ended = Atomics.load(this.#slots, at + ENDED);
    return {
      active: Atomics.load(this.#slots, at + ACTIVE),
      startedMs: started === 0 ? -1 : (started - 1) * TICK_MS,
      endedMs: ended === 0 ? -1 : (ended - 1) * TICK_MS,
    };
  }

  /** Now in table units; never 0, which stands for "never" (so a new table needs no filling). */
  #stamp(): number {
    return this.#ticks() + 1;
  }

  #ticks(): number {
    return Math.floor((Date.now() - this.#epoch) / TICK_MS);
  }
}

/**
 * `handler`, recording each request in `table` by the client port the server reports, from its
 * start until its response is handed back, and giving it a {@linkcode ClientInfo.hold} that keeps
 * the connection busy for what outlasts the request (a response body still streaming, an open
 * WebSocket). A request whose client port the server does not know is passed on untracked.
 */
export function trackConnections(table: ConnectionTable, handler: HttpHandler): HttpHandler {
  return (req, client) => {
    const port = client.port;
    if (port === undefined) return handler(req, client);
    table.begin(port);
    const end = () => table.end(port);
    try {
      return Promise.resolve(handler(req, new TrackedClient(client, table, port))).then(
        (response) => {
          end();
          return response;
        },
        (error) => {
          end();
          throw error;
        },
      );
    } catch (error) {
      end();
      throw error;
    }
  };
}

/** The server's facts about a client, with {@linkcode ClientInfo.hold} backed by the table. */
class TrackedClient implements ClientInfo {
  readonly address: string;
  readonly protocol: string;
  readonly port: number;
  readonly spent?: (chunk: Uint8Array) => void;
  readonly #table: ConnectionTable;

  constructor(client: ClientInfo, table: ConnectionTable, port: number) {
    this.address = client.address;
    this.protocol = client.protocol;
    this.port = port;
    this.spent = client.spent;
    this.#table = table;
  }

  hold(): () => void {
    this.#table.begin(this.port);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#table.end(this.port);
    };
  }
}
