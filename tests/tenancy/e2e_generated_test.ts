/**
 * Generated PromQL against multi-tenancy: a few thousand expressions from a seeded grammar walk
 * (tests/tenancy/_promql_gen.ts). For each, the answer through the real promgate as alice
 * (tenant a) must equal the real Prometheus' own answer to the twin expression — the same text
 * with `tenant="a"` written into every selector at generation time — and hold no number of b, c or
 * of a series without the tenant label. Instant queries mostly, every fourth a range query; every
 * third sent as a POST form. The seed is printed; set PROMGATE_TENANCY_SEED to replay one, and
 * PROMGATE_TENANCY_COUNT to change how many expressions run.
 */
import { assert, assertEquals } from "../_assert.ts";
import { needs } from "../_util.ts";
import { canonical, leaks, observe, type Observed, sameAnswer } from "./_answers.ts";
import { ANCHOR } from "./_fixture.ts";
import { Generator, type Pair } from "./_promql_gen.ts";
import { startTenancyStack, type TenancyStack } from "./_stack.ts";

const DEFAULT_SEED = 14_2024;
const DEFAULT_COUNT = 3000;
/** Requests in flight at once (each is one query to promgate and one to Prometheus). */
const CONCURRENCY = 4;
const T = ANCHOR - 1800;
const RANGE = { start: ANCHOR - 5400, end: T, step: 600 };

/** One expression's outcome. */
interface Outcome {
  index: number;
  pair: Pair;
  kind: "query" | "query_range";
  method: "GET" | "POST";
  truth: Observed;
  got: Observed;
  /** How often it was asked again because the answers differed. */
  retries: number;
}

function params(kind: Outcome["kind"], query: string): URLSearchParams {
  const p = new URLSearchParams({ query });
  if (kind === "query") p.set("time", String(T));
  else for (const [k, v] of Object.entries(RANGE)) p.set(k, String(v));
  return p;
}

async function runOne(s: TenancyStack, index: number, pair: Pair): Promise<Outcome> {
  const kind = index % 4 === 3 ? "query_range" : "query";
  const method = index % 3 === 2 ? "POST" : "GET";
  const alice = s.as("alice");
  const ask = async () => {
    const truth = await observe(await s.direct(`/api/v1/${kind}?${params(kind, pair.twin)}`));
    const got = await observe(
      method === "GET"
        ? await alice(`/api/v1/${kind}?${params(kind, pair.original)}`)
        : await alice(`/api/v1/${kind}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: params(kind, pair.original).toString(),
        }),
    );
    return { truth, got };
  };
  let answers = await ask();
  // Prometheus breaks ties in topk/bottomk by an order that changes between evaluations, so
  // different answers are asked again (up to 3 times): a rewrite that changes the answer does
  // so every time.
  let retries = 0;
  while (!sameAnswer(answers.got, answers.truth) && retries < 3) {
    retries++;
    answers = await ask();
  }
  return { index, pair, kind, method, ...answers, retries };
}

/** What is wrong with an outcome, or null. */
function problem(o: Outcome): string | null {
  if (o.got.status === 400 && !o.got.contentType.includes("json") && o.truth.status === 200) {
    return `promgate refused what Prometheus answers: ${o.got.text.trim()}`;
  }
  if (!sameAnswer(o.got, o.truth)) {
    const [got, truth] = [cut(canonical(o.got)), cut(canonical(o.truth))];
    return `answers differ:\n  promgate:   ${got}\n  Prometheus: ${truth}`;
  }
  // Equal answers may still share a number of another band by arithmetic; only a number the
  // ground truth does not hold is a leak.
  const expected = new Set(leaks(o.truth.json, ["a"]).map((l) => l.what));
  const leaked = leaks(o.got.json, ["a"]).filter((l) => !expected.has(l.what));
  if (leaked.length) return `values of other tenants: ${JSON.stringify(leaked.slice(0, 5))}`;
  return null;
}

/** A failure's kind: its first line without positions and quoted text. */
function kindOf(problem: string): string {
  return problem.split("\n")[0].replace(/ at line .*| "(?:[^"\\]|\\.)*"/g, "").slice(0, 100);
}

function cut(s: string, n = 400): string {
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}

/** Runs `work` over `items` with at most `limit` in flight, keeping the order of results. */
async function pool<T, R>(items: T[], limit: number, work: (item: T, i: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

const deps = needs("prometheus", "promtool", "htpasswd", "openssl");

Deno.test(
  'generated PromQL through promgate as tenant a equals Prometheus\' answer with tenant="a" written in',
  deps,
  async () => {
    const seed = Number(Deno.env.get("PROMGATE_TENANCY_SEED") ?? DEFAULT_SEED);
    const count = Number(Deno.env.get("PROMGATE_TENANCY_COUNT") ?? DEFAULT_COUNT);
    assert(Number.isInteger(seed) && Number.isInteger(count) && count > 0, "seed and count");
    const generator = new Generator(seed);
    const pairs = Array.from({ length: count }, () => generator.vector(3));
    // The generator must be reproducible: the same seed, the same expressions.
    assertEquals(new Generator(seed).vector(3), pairs[0]);

    const s = await startTenancyStack();
    const started = performance.now();
    let outcomes: Outcome[];
    try {
      outcomes = await pool(pairs, CONCURRENCY, (pair, i) => runOne(s, i, pair));
    } finally {
      await s.close();
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const failures = outcomes.flatMap((o) => {
      const p = problem(o);
      return p ? [{ o, p }] : [];
    });
    const nonEmpty = outcomes.filter((o) => {
      const body = o.truth.json as { status?: string; data?: { result?: unknown } } | undefined;
      const result = body?.data?.result;
      return body?.status === "success" && (!Array.isArray(result) || result.length > 0);
    }).length;
    const errors = outcomes.filter((o) => o.truth.status !== 200).length;
    console.log(
      `generated PromQL: seed ${seed}, ${count} expressions ` +
        `(${outcomes.filter((o) => o.kind === "query_range").length} as query_range, ` +
        `${outcomes.filter((o) => o.method === "POST").length} as POST) in ${seconds} s: ` +
        `${nonEmpty} with data, ${
          count - nonEmpty - errors
        } empty, ${errors} errors on both sides, ` +
        `${
          outcomes.filter((o) => o.retries > 0 && !problem(o)).length
        } equal only when asked again, ` +
        `${failures.length} failures`,
    );
    // Failures by kind (the message without positions and values), most frequent first.
    const kinds = new Map<string, number>();
    for (const { p } of failures) {
      const kind = kindOf(p);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    for (const [kind, n] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`${n} × ${kind}`);
    // Up to three examples of each kind.
    const shown = new Map<string, number>();
    const examples = failures.filter(({ p }) => {
      const kind = kindOf(p);
      shown.set(kind, (shown.get(kind) ?? 0) + 1);
      return shown.get(kind)! <= 3;
    });
    for (const { o, p } of examples) {
      console.log(
        `#${o.index} ${o.method} ${o.kind}\n  original: ${o.pair.original}\n  twin:     ${o.pair.twin}\n  ${p}`,
      );
    }
    // An expression list that mostly errs or finds nothing would prove little.
    assert(nonEmpty >= count * 0.3, `only ${nonEmpty} of ${count} expressions found data`);
    assertEquals(
      failures.length,
      0,
      `failures with seed ${seed} (replay: PROMGATE_TENANCY_SEED=${seed})`,
    );
  },
);
