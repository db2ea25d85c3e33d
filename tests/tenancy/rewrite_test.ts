/**
 * The PromQL rewrite of lib/http/tenancy/: every selector of every construct gets the tenant's
 * matcher, the rest of the text stays as written, the output parses again, and what does not
 * parse is refused. The attack table of issue 14 at unit level.
 */
import assert from "node:assert/strict";
import {
  injectMatcher,
  loadPromQL,
  parsePromQL,
  PromQLError,
  quoteRegex,
  tenantMatcher,
} from "../../lib/http/tenancy/mod.ts";

await loadPromQL(); // loaded on first use in promgate; these call the parser directly

const A = tenantMatcher("tenant", ["a"]);
const AB = tenantMatcher("tenant", ["a", "b"]);

/** Rewrites for tenant a and checks the output parses. */
function rewrite(query: string, matcher = A): string {
  const out = injectMatcher(query, matcher);
  parsePromQL(out);
  return out;
}

const CASES: [string, string][] = [
  ["up", 'up{tenant="a"}'],
  ['up{job="x"}', 'up{job="x",tenant="a"}'],
  ["up{}", 'up{tenant="a"}'],
  ["{} or up", '{tenant="a"} or up{tenant="a"}'],
  ['{__name__=~".+"}', '{__name__=~".+",tenant="a"}'],
  ['{__name__="x"}', '{__name__="x",tenant="a"}'],
  ['count by (tenant) ({__name__=~".+"})', 'count by (tenant) ({__name__=~".+",tenant="a"})'],
  ['up{tenant="b"}', 'up{tenant="b",tenant="a"}'],
  ['up{tenant=~".*"}', 'up{tenant=~".*",tenant="a"}'],
  ['up{tenant!="a"}', 'up{tenant!="a",tenant="a"}'],
  ["rate(x[5m])", 'rate(x{tenant="a"}[5m])'],
  ["rate(x[5m] offset 1h)", 'rate(x{tenant="a"}[5m] offset 1h)'],
  ['rate(x{a="b"}[5m] offset -5m)', 'rate(x{a="b",tenant="a"}[5m] offset -5m)'],
  ["x @ end()", 'x{tenant="a"} @ end()'],
  ["x offset 5m @ 100", 'x{tenant="a"} offset 5m @ 100'],
  ['x{a="b"} offset 5m @ 100', 'x{a="b",tenant="a"} offset 5m @ 100'],
  ["x{} @ start() offset 1m", 'x{tenant="a"} @ start() offset 1m'],
  ["max_over_time(x[1h:5m] @ start())", 'max_over_time(x{tenant="a"}[1h:5m] @ start())'],
  [
    "sum(rate(x[5m])) by (job) / on() group_left sum(y)",
    'sum(rate(x{tenant="a"}[5m])) by (job) / on() group_left sum(y{tenant="a"})',
  ],
  ["x or y unless on() z", 'x{tenant="a"} or y{tenant="a"} unless on() z{tenant="a"}'],
  ["x and ignoring(tenant) y", 'x{tenant="a"} and ignoring(tenant) y{tenant="a"}'],
  [
    'label_replace(up{tenant="b"}, "tenant", "a", "tenant", ".*")',
    'label_replace(up{tenant="b",tenant="a"}, "tenant", "a", "tenant", ".*")',
  ],
  ["vector(1)", "vector(1)"],
  ["scalar(x) * 2", 'scalar(x{tenant="a"}) * 2'],
  ["time() - 1", "time() - 1"],
  ['count_values("v", x)', 'count_values("v", x{tenant="a"})'],
  ["topk(3, x)", 'topk(3, x{tenant="a"})'],
  ["-x", '-x{tenant="a"}'],
  ["(x)", '(x{tenant="a"})'],
  ["absent(nope)", 'absent(nope{tenant="a"})'],
  ['x{a="\\"}{"}', 'x{a="\\"}{",tenant="a"}'],
  ["x{a='b'}", "x{a='b',tenant=\"a\"}"],
  ["x{a=`b`}", 'x{a=`b`,tenant="a"}'],
  // A trailing comma stays where it was, after our matcher.
  ['x{a="b",}', 'x{a="b",tenant="a",}'],
  ['x{a="b" , }', 'x{a="b",tenant="a" , }'],
  ["x # a comment {", 'x{tenant="a"} # a comment {'],
  // A comment runs to the end of its line: the matcher goes before it, never into it.
  ["x{ # comment\n}", 'x{tenant="a" # comment\n}'],
  ['x{a="b" # comment\n}', 'x{a="b",tenant="a" # comment\n}'],
  ['x{a="b", # comment }\n}', 'x{a="b",tenant="a", # comment }\n}'],
  // Metric names that look like keywords or functions.
  ["sum", 'sum{tenant="a"}'],
  ["by", 'by{tenant="a"}'],
  ["rate", 'rate{tenant="a"}'],
  ["start + end", 'start{tenant="a"} + end{tenant="a"}'],
  ["offset_x", 'offset_x{tenant="a"}'],
  ["x:recorded:rate5m", 'x:recorded:rate5m{tenant="a"}'],
  ['{"my.metric"}', '{"my.metric",tenant="a"}'],
  ['{"my.metric", job="x"}', '{"my.metric", job="x",tenant="a"}'],
];

for (const [query, expected] of CASES) {
  Deno.test(`tenant a's ${JSON.stringify(query)} becomes ${JSON.stringify(expected)}`, () => {
    assert.equal(rewrite(query), expected);
  });
}

Deno.test("absent() of a selector naming the label keeps tenant=a in its answer, like a hand-written one", () => {
  // Prometheus derives absent()'s labels from the matchers in order: an equality sets a label, a
  // later matcher on the same name removes it. Ours comes last, where a user adding it by hand
  // writes it, so the answer is `{tenant="a"} 1`, not `{} 1`.
  assert.equal(
    rewrite('absent(x{tenant=~"a|b"})'),
    'absent(x{tenant=~"a|b",tenant="a"})',
  );
  assert.equal(
    rewrite('absent_over_time(x{job="j",tenant!="b"}[5m])'),
    'absent_over_time(x{job="j",tenant!="b",tenant="a"}[5m])',
  );
});

/** Prometheus 2.x's holt_winters (Prometheus 3 renamed it; the grammar knows the new name). */
const PROMETHEUS_2: [string, string][] = [
  ["holt_winters(x[10m], 0.5, 0.9)", 'holt_winters(x{tenant="a"}[10m], 0.5, 0.9)'],
  [
    'holt_winters (x{room="n"}[5m] offset 1m, 0.1, 0.1) + holt_winters(y[1h:5m], 0.1, 0.9)',
    'holt_winters (x{room="n",tenant="a"}[5m] offset 1m, 0.1, 0.1) + ' +
    'holt_winters(y{tenant="a"}[1h:5m], 0.1, 0.9)',
  ],
  [
    "holt_winters # the 2.x name\n(x[5m], 0.1, 0.1)",
    'holt_winters # the 2.x name\n(x{tenant="a"}[5m], 0.1, 0.1)',
  ],
  [
    "sum(holt_winters(rate(x[5m])[1h:], 0.1, 0.1))",
    'sum(holt_winters(rate(x{tenant="a"}[5m])[1h:], 0.1, 0.1))',
  ],
  // The name elsewhere: a metric, a label, text in a string or a comment.
  ["holt_winters", 'holt_winters{tenant="a"}'],
  ['holt_winters{holt_winters="x"}', 'holt_winters{holt_winters="x",tenant="a"}'],
  ["sum by (holt_winters) (x)", 'sum by (holt_winters) (x{tenant="a"})'],
  [
    'label_replace(x, "holt_winters", "holt_winters(", "a", "") # holt_winters(',
    'label_replace(x{tenant="a"}, "holt_winters", "holt_winters(", "a", "") # holt_winters(',
  ],
  // Prometheus 3's name for it.
  [
    "double_exponential_smoothing(x[10m], 0.5, 0.9)",
    'double_exponential_smoothing(x{tenant="a"}[10m], 0.5, 0.9)',
  ],
];

for (const [query, expected] of PROMETHEUS_2) {
  Deno.test(`Prometheus 2's ${JSON.stringify(query)} is accepted and rewritten`, () => {
    assert.equal(rewrite(query), expected);
  });
}

Deno.test("holt_winters is a function only as a whole name; errors quote what the client sent", () => {
  for (
    const query of [
      "xholt_winters(x[5m], 1, 1)",
      "holt_winters_x(x[5m], 1, 1)",
      "a:holt_winters(x)",
    ]
  ) {
    assert.throws(() => injectMatcher(query, A), PromQLError, query);
  }
  assert.throws(
    () => injectMatcher("holt_winters(x[5m], 0.1 0.1)", A),
    /unexpected "0\.1\)" at line 1, column 25/,
  );
});

Deno.test("several values become one anchored alternation, regex-quoted", () => {
  assert.equal(rewrite("up", AB), 'up{tenant=~"a|b"}');
  const odd = tenantMatcher("tenant", ["a.b", "c|d", 'q"x', "a.b"]);
  assert.equal(odd.text, 'tenant=~"a\\\\.b|c\\\\|d|q\\"x"');
  assert.deepEqual(odd.values, ["a.b", "c|d", 'q"x']);
  assert.equal(rewrite("up", odd), 'up{tenant=~"a\\\\.b|c\\\\|d|q\\"x"}');
  assert.equal(quoteRegex("^a+b*(c)[d]{e}$?\\"), "\\^a\\+b\\*\\(c\\)\\[d\\]\\{e\\}\\$\\?\\\\");
});

Deno.test("one value with a quote or backslash is written as a valid PromQL string", () => {
  const m = tenantMatcher("tenant", ['a"\\b']);
  assert.equal(m.text, 'tenant="a\\"\\\\b"');
  assert.equal(rewrite("up", m), 'up{tenant="a\\"\\\\b"}');
});

Deno.test("a query without selectors is left byte for byte", () => {
  for (const q of ["1 + 2", "vector(1) * 3", 'label_join(vector(1), "a", ",")', "  pi()  "]) {
    assert.equal(rewrite(q), q);
  }
});

const BROKEN = ["", "   ", "up{", "sum(", "1 +", "up and", "on", "@ 1", 'up{a="b}', "x[5m", ")"];

for (const query of BROKEN) {
  Deno.test(`${JSON.stringify(query)} does not parse and is refused with a position`, () => {
    assert.throws(() => injectMatcher(query, A), (e) => {
      assert.ok(e instanceof PromQLError, String(e));
      assert.match(e.message, /empty query|at line \d+, column \d+/);
      return true;
    });
  });
}

Deno.test("number spellings Prometheus' lexer takes but the grammar does not are refused", () => {
  // Documented in the README: write 5 and 0x1F instead.
  for (const query of ["x * 5.", "x * 0X1F"]) {
    assert.throws(() => injectMatcher(query, A), PromQLError);
  }
  assert.equal(rewrite("x * .5 + 0x1f"), 'x{tenant="a"} * .5 + 0x1f');
});

Deno.test("a parse error names line and column", () => {
  assert.throws(
    () => injectMatcher("sum(rate(x[5m]))\n  + )", A),
    /unexpected "\)" at line 2, column 5/,
  );
});

Deno.test("a 2 KB query is rewritten in every selector, and the output parses", () => {
  const parts = Array.from(
    { length: 30 },
    (_, i) => `rate(http_requests_total{job="api",code=~"5.."}[5m] offset ${i}m)`,
  );
  const query = parts.join(" + ");
  assert.ok(query.length > 1900);
  const out = rewrite(query);
  assert.equal(out.split('code=~"5..",tenant="a"}').length - 1, 30);
});
