/**
 * The PromQL rewrite of lib/http/tenancy/: every selector of every construct gets the tenant's
 * matcher, the rest of the text stays as written, the output parses again, and what does not
 * parse is refused. The attack table of issue 14 at unit level.
 */
import assert from "node:assert/strict";
import {
  injectMatcher,
  parsePromQL,
  PromQLError,
  quoteRegex,
  tenantMatcher,
} from "../../lib/http/tenancy/mod.ts";

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
  ['up{job="x"}', 'up{tenant="a",job="x"}'],
  ["up{}", 'up{tenant="a"}'],
  ['{__name__=~".+"}', '{tenant="a",__name__=~".+"}'],
  ['count by (tenant) ({__name__=~".+"})', 'count by (tenant) ({tenant="a",__name__=~".+"})'],
  ['up{tenant="b"}', 'up{tenant="a",tenant="b"}'],
  ['up{tenant=~".*"}', 'up{tenant="a",tenant=~".*"}'],
  ['up{tenant!="a"}', 'up{tenant="a",tenant!="a"}'],
  ["rate(x[5m])", 'rate(x{tenant="a"}[5m])'],
  ["rate(x[5m] offset 1h)", 'rate(x{tenant="a"}[5m] offset 1h)'],
  ["x @ end()", 'x{tenant="a"} @ end()'],
  ["x offset 5m @ 100", 'x{tenant="a"} offset 5m @ 100'],
  ["max_over_time(x[1h:5m] @ start())", 'max_over_time(x{tenant="a"}[1h:5m] @ start())'],
  [
    "sum(rate(x[5m])) by (job) / on() group_left sum(y)",
    'sum(rate(x{tenant="a"}[5m])) by (job) / on() group_left sum(y{tenant="a"})',
  ],
  ["x or y unless on() z", 'x{tenant="a"} or y{tenant="a"} unless on() z{tenant="a"}'],
  ["x and ignoring(tenant) y", 'x{tenant="a"} and ignoring(tenant) y{tenant="a"}'],
  [
    'label_replace(up{tenant="b"}, "tenant", "a", "tenant", ".*")',
    'label_replace(up{tenant="a",tenant="b"}, "tenant", "a", "tenant", ".*")',
  ],
  ["vector(1)", "vector(1)"],
  ["scalar(x) * 2", 'scalar(x{tenant="a"}) * 2'],
  ["time() - 1", "time() - 1"],
  ['count_values("v", x)', 'count_values("v", x{tenant="a"})'],
  ["topk(3, x)", 'topk(3, x{tenant="a"})'],
  ["-x", '-x{tenant="a"}'],
  ["(x)", '(x{tenant="a"})'],
  ["absent(nope)", 'absent(nope{tenant="a"})'],
  ['x{a="\\"}{"}', 'x{tenant="a",a="\\"}{"}'],
  ["x{a='b'}", "x{tenant=\"a\",a='b'}"],
  ["x{a=`b`}", 'x{tenant="a",a=`b`}'],
  ['x{a="b",}', 'x{tenant="a",a="b",}'],
  ["x # a comment {", 'x{tenant="a"} # a comment {'],
  ["x{ # comment\n}", 'x{tenant="a" # comment\n}'],
  // Metric names that look like keywords or functions.
  ["sum", 'sum{tenant="a"}'],
  ["by", 'by{tenant="a"}'],
  ["rate", 'rate{tenant="a"}'],
  ["start + end", 'start{tenant="a"} + end{tenant="a"}'],
  ["offset_x", 'offset_x{tenant="a"}'],
  ["x:recorded:rate5m", 'x:recorded:rate5m{tenant="a"}'],
  ['{"my.metric"}', '{"my.metric",tenant="a"}'],
  ['{"my.metric", job="x"}', '{"my.metric",tenant="a", job="x"}'],
];

for (const [query, expected] of CASES) {
  Deno.test(`tenant a's ${JSON.stringify(query)} becomes ${JSON.stringify(expected)}`, () => {
    assert.equal(rewrite(query), expected);
  });
}

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
  assert.equal(out.split('{tenant="a",job="api"').length - 1, 30);
});
