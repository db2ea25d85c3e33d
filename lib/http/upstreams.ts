/**
 * Routes with several upstreams (`"upstream": [url, url]`): which one serves a request, and which
 * are healthy. Each such route gets a pool; a pool knows each upstream's health from active
 * checks (GET healthCheck.path on an interval) and from requests (a connect error, a body that
 * broke off before promgate sent anything marks it down at once; unhealthyAfter 502/503 answers
 * in a row do too).
 *
 * Picking never waits: among the upstreams that are up, "first-available" takes the first in
 * config order and "least-loaded" the one with fewest requests in flight. When none is up the
 * route answers 503 at once, as HAProxy does (nginx would try one anyway; for an HA pair whose
 * checks both fail, trying costs the client a timeout for nothing). Without active checks, an
 * upstream marked down is tried again after DEFAULTS.upstreams.downSeconds (nginx's
 * fail_timeout), so a route never stays down for good.
 */
import type { Config, HealthCheckConfig, RouteConfig } from "../config/mod.ts";
import { DEFAULTS } from "../defaults.ts";
import type { UpstreamFetch } from "./types.ts";

/** One upstream of a route and what is known of its health. */
export class Upstream {
  /** The origin requests go to, e.g. "http://prom-a:9090" (also the metrics label). */
  readonly origin: string;
  up = true;
  /** Requests sent to it and not yet finished (for "least-loaded"). */
  inFlight = 0;
  /** Requests sent to it so far: breaks ties in "least-loaded" so equals take turns. */
  served = 0;
  /** Without active checks: when (ms, the pool's clock) a down upstream may be tried again. */
  retryAt = 0;
  /** Consecutive active checks passed / failed. */
  passes = 0;
  fails = 0;

  constructor(href: string) {
    this.origin = new URL(href).origin;
  }
}

/** What a pool reports, for metrics and logs. */
export interface PoolEvents {
  /** One line when an upstream goes down or comes back. */
  readonly notice?: (line: string) => void;
}

/** The upstreams of one route. */
export class UpstreamPool {
  readonly route: string;
  readonly members: readonly Upstream[];
  readonly #balance: "first-available" | "least-loaded";
  readonly #check: HealthCheckConfig | null;
  readonly #fetch: UpstreamFetch;
  readonly #events: PoolEvents;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(
    route: RouteConfig,
    fetchUpstream: UpstreamFetch,
    events: PoolEvents = {},
    now: () => number = () => performance.now(),
  ) {
    this.route = route.path;
    this.members = (route.upstreams ?? [route.upstream.href]).map((h) => new Upstream(h));
    this.#balance = route.balance ?? DEFAULTS.upstreams.balance;
    this.#check = route.healthCheck ?? null;
    this.#fetch = fetchUpstream;
    this.#events = events;
    this.#now = now;
  }

  /** The upstream for the next request (never `exclude`), or null when none is up. */
  pick(exclude?: Upstream): Upstream | null {
    let best: Upstream | null = null;
    for (const u of this.members) {
      if (u === exclude || !this.#usable(u)) continue;
      if (this.#balance === "first-available") return u;
      if (
        !best || u.inFlight < best.inFlight ||
        (u.inFlight === best.inFlight && u.served < best.served)
      ) best = u;
    }
    return best;
  }

  #usable(u: Upstream): boolean {
    // With active checks only a check brings an upstream back; without, time does.
    return u.up || (this.#check === null && this.#now() >= u.retryAt);
  }

  /** Counts a request sent to `u`; call the returned function once when it has finished. */
  begin(u: Upstream): () => void {
    u.inFlight++;
    u.served++;
    let open = true;
    return () => {
      if (open) u.inFlight--;
      open = false;
    };
  }

  /** A request to `u` failed as the upstream's fault (passive check): mark it down now. */
  failed(u: Upstream, reason: string): void {
    u.passes = 0;
    u.retryAt = this.#now() + DEFAULTS.upstreams.downSeconds * 1000;
    this.#set(u, false, reason);
  }

  /**
   * `u` answered 502 or 503. Prometheus also answers 503 to a query that timed out, so one such
   * answer does not take a server out: `unhealthyAfter` of them in a row (counted with failed
   * checks) do.
   */
  answeredBadly(u: Upstream, status: number): void {
    const limit = this.#check?.unhealthyAfter ?? DEFAULTS.upstreams.healthCheck.unhealthyAfter;
    u.passes = 0;
    if (++u.fails >= limit) this.failed(u, `answered ${status} ${u.fails} times in a row`);
  }

  /** A request to `u` got an answer: an upstream tried again after downSeconds is back. */
  succeeded(u: Upstream): void {
    if (u.up) u.fails = 0;
    if (!u.up && this.#check === null) this.#set(u, true, "it answered a request");
  }

  #set(u: Upstream, up: boolean, reason: string): void {
    if (u.up === up) return;
    u.up = up;
    const what = up ? "up again" : "down";
    this.#events.notice?.(`upstream ${u.origin} of route ${this.route} is ${what}: ${reason}`);
  }

  /** Starts the active checks (a first round at once); a no-op without healthCheck. */
  start(): void {
    if (!this.#check || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.checkAll(), this.#check.intervalMs);
    void this.checkAll();
  }

  /** Stops the active checks. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round of active checks, all upstreams at once (skipped while one is still running). */
  async checkAll(): Promise<void> {
    if (!this.#check || this.#checking) return;
    this.#checking = true;
    try {
      await Promise.all(this.members.map((u) => this.#checkOne(u, this.#check!)));
    } finally {
      this.#checking = false;
    }
  }

  async #checkOne(u: Upstream, check: HealthCheckConfig): Promise<void> {
    const problem = await probe(this.#fetch, u.origin + check.path, check.timeoutMs);
    if (problem === null) {
      u.fails = 0;
      if (++u.passes >= check.healthyAfter) this.#set(u, true, `${check.path} passed`);
    } else {
      u.passes = 0;
      if (++u.fails >= check.unhealthyAfter) this.#set(u, false, `${check.path} ${problem}`);
    }
  }

  /** Takes over what `old` knew of the upstreams both name (a reload keeps known-down ones down). */
  inherit(old: UpstreamPool): void {
    for (const u of this.members) {
      const prior = old.members.find((o) => o.origin === u.origin);
      if (!prior) continue;
      u.up = prior.up;
      u.retryAt = prior.retryAt;
      u.passes = prior.passes;
      u.fails = prior.fails;
    }
  }
}

/** null when GET `url` answers 2xx within `timeoutMs`, else what went wrong. */
async function probe(fetchUpstream: UpstreamFetch, url: string, timeoutMs: number) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchUpstream(url, {
      method: "GET",
      signal: controller.signal,
      redirect: "manual",
    });
    await response.body?.cancel().catch(() => {});
    return response.ok ? null : `answered ${response.status}`;
  } catch (error) {
    if (controller.signal.aborted) return `gave no answer within ${timeoutMs / 1000} s`;
    let e = error;
    while (e instanceof Error && e.cause instanceof Error) e = e.cause;
    const message = e instanceof Error ? e.message : String(e);
    // Deno's fetch wraps the reason ("error sending request for url (…): …"); the URL is known.
    return `failed: ${
      message.replace(/^error sending request for url \([^)]*\):\s*/, "").split("\n")[0]
    }`;
  } finally {
    clearTimeout(timer);
  }
}

/** The pools of one config: one per route with several upstreams or a healthCheck. */
export class UpstreamPools {
  readonly #pools = new Map<string, UpstreamPool>();

  constructor(config: Config, fetchUpstream: UpstreamFetch, events: PoolEvents = {}) {
    for (const route of config.routes) {
      if ((route.upstreams?.length ?? 1) > 1 || route.healthCheck) {
        this.#pools.set(route.path, new UpstreamPool(route, fetchUpstream, events));
      }
    }
  }

  /** The pool of `route`, or undefined when it has one upstream and no checks (sent as is). */
  get(route: RouteConfig): UpstreamPool | undefined {
    return this.#pools.size === 0 ? undefined : this.#pools.get(route.path);
  }

  /** Starts every pool's checks, first taking over what `previous` (the config before) knew. */
  start(previous?: UpstreamPools | null): void {
    for (const [path, pool] of this.#pools) {
      const old = previous ? previous.#pools.get(path) : undefined;
      if (old) pool.inherit(old);
      pool.start();
    }
  }

  stop(): void {
    for (const pool of this.#pools.values()) pool.stop();
  }

  /** [route, origin, up] of every pooled upstream, for promgate_upstream_up. */
  health(): [string, string, boolean][] {
    const out: [string, string, boolean][] = [];
    for (const pool of this.#pools.values()) {
      for (const u of pool.members) out.push([pool.route, u.origin, u.up]);
    }
    return out;
  }
}
