/**
 * A seeded walk over the PromQL grammar for the generated multi-tenancy test. Every expression
 * comes as a pair: `original`, as a user would send it, and `twin`, the same text with the
 * matcher `tenant="a"` written into every vector and matrix selector here, at generation time —
 * independently of promgate's rewriter. Functions get arguments of the right types, aggregations
 * by/without, binary operators on/ignoring/group_left/group_right and bool, selectors offset and
 * @, range vectors go into *_over_time/rate & co., subqueries into the same.
 */
import { ANCHOR, LABEL, METRICS } from "./_fixture.ts";
import { prng } from "../_util.ts";

/** One generated expression. */
export interface Pair {
  original: string;
  twin: string;
}

const same = (s: string): Pair => ({ original: s, twin: s });

/** Joins strings and pairs into one pair. */
function cat(...parts: (string | Pair)[]): Pair {
  let original = "";
  let twin = "";
  for (const p of parts) {
    if (typeof p === "string") {
      original += p;
      twin += p;
    } else {
      original += p.original;
      twin += p.twin;
    }
  }
  return { original, twin };
}

const NAMES = [
  ...METRICS.all,
  ...METRICS.all,
  METRICS.onlyB,
  METRICS.shared,
  "up",
];
/** Matchers on other labels (some match nothing of a's, which must stay so). */
const MATCHERS = [
  `room="north"`,
  `room!="south"`,
  `queue=~"q1|q2"`,
  `queue!~"q3"`,
  `instance="i1"`,
  `instance=~"i.*"`,
  `code!="500"`,
  `le="+Inf"`,
  `le=~"0.5|1"`,
  `owner="a"`,
  `version=~".+"`,
  // Matchers on the tenant label itself: ANDed with the user's, they only narrow.
  `${LABEL}=~"a|b"`,
  `${LABEL}!="b"`,
  `${LABEL}=~".+"`,
  `${LABEL}=~".*"`,
];
const GROUPING = [LABEL, "room", "queue", "instance", "code", "le"];
const RANGES = ["1m", "2m", "5m", "10m", "30m", "1h"];
const STEPS = ["1m", "2m", "5m", "10m"];
const OFFSETS = ["30s", "5m", "10m", "1h", "-5m", "-10m"];
const ATS = ["start()", "end()", `${ANCHOR - 3600}`, `${ANCHOR - 2400}`, `${ANCHOR}`];
const NUMBERS = [
  "0",
  "1",
  "2",
  "3",
  "0.5",
  "10",
  "100",
  "1000",
  "-1",
  "1e3",
  "0.25",
  "+Inf",
  "NaN",
];
const FRACTIONS = ["0", "0.1", "0.5", "0.9", "0.99", "1"];

const V_FUNCS = [
  "abs",
  "ceil",
  "floor",
  "exp",
  "ln",
  "log2",
  "log10",
  "sqrt",
  "sgn",
  "timestamp",
  "sort",
  "sort_desc",
  "deg",
  "rad",
  "sin",
  "cos",
  "atan",
  "absent",
  "hour",
  "minute",
  "day_of_week",
  "day_of_month",
  "days_in_month",
  "month",
  "year",
];
const M_FUNCS = [
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "changes",
  "resets",
  "avg_over_time",
  "min_over_time",
  "max_over_time",
  "sum_over_time",
  "count_over_time",
  "last_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "absent_over_time",
  "present_over_time",
];
const AGGREGATIONS = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"];
const ARITHMETIC = ["+", "-", "*", "/", "%", "^"];
const COMPARISON = ["==", "!=", ">", "<", ">=", "<="];
const SET = ["and", "or", "unless"];

/** The grammar walk: `vector()`, `matrix()` and `scalar()` make expressions of that type. */
export class Generator {
  #random: () => number;

  constructor(seed: number) {
    this.#random = prng(seed);
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)];
  }

  #chance(p: number): boolean {
    return this.#random() < p;
  }

  /** Distinct items, 1..max of them. */
  #some(items: readonly string[], max: number): string[] {
    const n = 1 + Math.floor(this.#random() * max);
    return [...new Set(Array.from({ length: n }, () => this.#pick(items)))];
  }

  /** An instant-vector expression of at most `depth` nested levels. */
  vector(depth = 3): Pair {
    if (depth <= 0) return this.#chance(0.9) ? this.#modified(this.#selector()) : this.#vectorOf(0);
    const next = depth - 1;
    switch (
      this.#pick(
        [
          "selector",
          "selector",
          "function",
          "range",
          "range",
          "aggregation",
          "aggregation",
          "binary",
          "binary",
          "scalarBinary",
          "label",
          "histogram",
          "special",
          "paren",
        ] as const,
      )
    ) {
      case "selector":
        return this.#modified(this.#selector());
      case "function":
        return cat(this.#pick(V_FUNCS), "(", this.vector(next), ")");
      case "range":
        return this.#rangeFunction(next);
      case "aggregation":
        return this.#aggregation(next);
      case "binary":
        return this.#binary(next);
      case "scalarBinary":
        return this.#chance(0.5)
          ? cat(
            this.vector(next),
            ` ${this.#pick([...ARITHMETIC, ...COMPARISON])} `,
            this.scalar(0),
          )
          : cat(this.scalar(0), ` ${this.#pick(ARITHMETIC)} `, this.vector(next));
      case "label":
        return this.#label(next);
      case "histogram":
        return this.#histogram();
      case "special":
        return this.#special(next);
      case "paren":
        return cat(this.#chance(0.3) ? "-" : "", "(", this.vector(next), ")");
    }
  }

  /** A range-vector expression: a selector with a range, or a subquery. */
  matrix(depth = 2): Pair {
    if (depth <= 0 || this.#chance(0.7)) {
      const s = this.#selector();
      return this.#modified(cat(s, `[${this.#pick(RANGES)}]`));
    }
    const inner = this.#chance(0.5) ? this.#rangeFunction(depth - 1) : this.vector(depth - 1);
    return this.#modified(
      cat("(", inner, `)[${this.#pick(["10m", "30m", "1h"])}:${this.#pick(STEPS)}]`),
    );
  }

  /** A scalar expression. */
  scalar(depth = 1): Pair {
    const r = this.#random();
    if (depth <= 0 || r < 0.55) return same(this.#pick(NUMBERS));
    if (r < 0.7) return cat("scalar(", this.vector(depth - 1), ")");
    if (r < 0.8) return same(this.#pick(["time()", "pi()"]));
    return cat(
      "(",
      this.scalar(depth - 1),
      ` ${this.#pick(ARITHMETIC)} `,
      this.scalar(depth - 1),
      ")",
    );
  }

  /** A vector or matrix selector's braces: the twin gets tenant="a" among its matchers. */
  #selector(): Pair {
    const nameless = this.#chance(0.1);
    const matchers = this.#chance(0.45) ? this.#some(MATCHERS, 2) : [];
    if (nameless) {
      matchers.unshift(
        `__name__=~"tenancy_(${this.#pick(["temperature|queue", "queue", "requests"])}).*"`,
      );
    }
    const name = nameless ? "" : this.#pick(NAMES);
    const body = matchers.join(",");
    const original = matchers.length ? `${name}{${body}}` : name;
    const twin = `${name}{${[...matchers, `${LABEL}="a"`].join(",")}}`;
    return { original, twin };
  }

  /** offset and/or @ on a selector or subquery, sometimes. */
  #modified(p: Pair): Pair {
    let out = p;
    if (this.#chance(0.15)) out = cat(out, ` offset ${this.#pick(OFFSETS)}`);
    if (this.#chance(0.15)) out = cat(out, ` @ ${this.#pick(ATS)}`);
    return out;
  }

  #vectorOf(depth: number): Pair {
    return cat("vector(", this.scalar(depth), ")");
  }

  #rangeFunction(depth: number): Pair {
    const r = this.#random();
    const m = this.matrix(Math.min(depth, 2));
    if (r < 0.8) return cat(this.#pick(M_FUNCS), "(", m, ")");
    if (r < 0.9) return cat("quantile_over_time(", this.#pick(FRACTIONS), ", ", m, ")");
    if (r < 0.95) return cat("predict_linear(", m, `, ${this.#pick(["60", "600", "-300"])})`);
    return cat(
      "holt_winters(",
      m,
      `, ${this.#pick(["0.1", "0.5"])}, ${this.#pick(["0.1", "0.9"])})`,
    );
  }

  #grouping(): string {
    if (this.#chance(0.35)) return "";
    return ` ${this.#pick(["by", "without"])} (${this.#some(GROUPING, 2).join(", ")})`;
  }

  #aggregation(depth: number): Pair {
    const r = this.#random();
    const inner = this.vector(depth);
    if (r < 0.7) {
      const grouping = this.#grouping();
      // Both placements of the grouping clause are PromQL.
      return this.#chance(0.5)
        ? cat(this.#pick(AGGREGATIONS), grouping, " (", inner, ")")
        : cat(this.#pick(AGGREGATIONS), " (", inner, ")", grouping);
    }
    if (r < 0.85) {
      return cat(
        this.#pick(["topk", "bottomk"]),
        this.#grouping(),
        ` (${this.#pick(["1", "2", "3"])}, `,
        inner,
        ")",
      );
    }
    if (r < 0.95) {
      return cat("quantile", this.#grouping(), ` (${this.#pick(FRACTIONS)}, `, inner, ")");
    }
    return cat("count_values", this.#grouping(), ` ("value", `, inner, ")");
  }

  #binary(depth: number): Pair {
    const kind = this.#pick(["arith", "arith", "compare", "set"] as const);
    const op = kind === "arith"
      ? this.#pick(ARITHMETIC)
      : kind === "compare"
      ? this.#pick(COMPARISON) + (this.#chance(0.4) ? " bool" : "")
      : this.#pick(SET);
    let matching = "";
    if (this.#chance(0.5)) {
      matching = ` ${this.#pick(["on", "ignoring"])} (${
        this.#chance(0.2) ? "" : this.#some(GROUPING, 2).join(", ")
      })`;
      if (kind !== "set" && this.#chance(0.3)) {
        // Always with its (possibly empty) label list: a bare group_left followed by a
        // parenthesised operand would read the operand as the list.
        matching += ` ${this.#pick(["group_left", "group_right"])} (${
          this.#chance(0.5) ? this.#pick(GROUPING) : ""
        })`;
      }
    }
    return cat(this.vector(depth), ` ${op}${matching} `, this.vector(depth));
  }

  #label(depth: number): Pair {
    const inner = this.vector(depth);
    if (this.#chance(0.6)) {
      const dst = this.#pick(["x", "room", "instance", "queue"]);
      const src = this.#pick([LABEL, "room", "instance", "queue", "code"]);
      const regex = this.#pick(["(.*)", "(.+)", "i(.)", "(a|b)"]);
      return cat("label_replace(", inner, `, "${dst}", "$1-x", "${src}", "${regex}")`);
    }
    const labels = this.#some([LABEL, "room", "instance", "queue", "code"], 3).map((l) => `"${l}"`);
    return cat(
      "label_join(",
      inner,
      `, "${this.#pick(["x", "joined", "room"])}", "-", ${labels.join(", ")})`,
    );
  }

  #histogram(): Pair {
    const s = this.#selector();
    const bucket: Pair = {
      original: s.original.replace(/^[a-z_]*/, "tenancy_latency_seconds_bucket"),
      twin: s.twin.replace(/^[a-z_]*/, "tenancy_latency_seconds_bucket"),
    };
    const rate = cat(this.#pick(["rate", "increase"]), "(", bucket, `[${this.#pick(RANGES)}])`);
    const by = this.#chance(0.5)
      ? cat("sum by (le) (", rate, ")")
      : cat("sum by (le, tenant) (", rate, ")");
    return cat(
      "histogram_quantile(",
      this.#pick(FRACTIONS),
      ", ",
      this.#chance(0.8) ? by : rate,
      ")",
    );
  }

  #special(depth: number): Pair {
    const r = this.#random();
    if (r < 0.3) return this.#vectorOf(depth);
    if (r < 0.5) {
      return cat(
        this.#pick(["clamp_min", "clamp_max", "round"]),
        "(",
        this.vector(depth),
        `, ${this.#pick(["1", "10", "1500", "2500"])})`,
      );
    }
    if (r < 0.65) {
      return cat(
        "clamp(",
        this.vector(depth),
        `, ${this.#pick(["0", "1200"])}, ${this.#pick(["1500", "3500"])})`,
      );
    }
    if (r < 0.8) return cat("absent(", this.#modified(this.#selector()), ")");
    return cat(this.vector(depth), " ", this.#pick(SET), " ", this.#vectorOf(0));
  }
}
