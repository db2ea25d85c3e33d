/**
 * Narrows a PromQL expression to a tenant: every series selector gets the tenant's matcher.
 *
 * The expression is parsed with `@prometheus-io/lezer-promql`, the Prometheus project's own
 * grammar (the one its UI uses); an expression with any syntax error is refused, never forwarded.
 * Every `VectorSelector` node — bare, inside a range (`MatrixSelector`), a subquery, a function's
 * arguments, an aggregation, either side of a binary operation, with `offset` or `@` — gets the
 * matcher spliced into the original text by node position, so everything else stays byte for
 * byte what the client wrote (strings, comments, spacing). The result is not parsed again: each
 * splice puts one whole matcher where the grammar takes one (tests/tenancy/rewrite_test.ts parses
 * every output it checks).
 *
 * A selector that already has matchers on the tenant label keeps them and gets ours besides:
 * Prometheus requires every matcher of a selector to hold (they are ANDed, even on one label),
 * so `{tenant="b"}` becomes `{tenant="b",tenant="a"}`, which matches nothing — a user's own
 * matcher can only narrow, never widen.
 *
 * The grammar is Prometheus 3's; Prometheus 2's `holt_winters` (renamed
 * `double_exponential_smoothing` in 3) is parsed as a same-length function name it knows, in a
 * copy used only for parsing, so the positions hold for the original text (see {@link RENAMED}).
 */
import type { parser as Grammar } from "@prometheus-io/lezer-promql";
import type { TenantMatcher } from "./matcher.ts";

type Tree = ReturnType<typeof Grammar.parse>;
type SyntaxNode = Tree["topNode"];

let parser: typeof Grammar | null = null;
let loading: Promise<void> | null = null;

/**
 * Loads the grammar; {@link parse} and {@link injectMatcher} need it done. It is loaded on first
 * use rather than at start because it costs ~10 MiB in every thread that loads it, and only a
 * route with tenancy needs it.
 */
export function loadPromQL(): Promise<void> {
  return loading ??= import("@prometheus-io/lezer-promql").then((grammar) => {
    parser = grammar.parser;
  });
}

/** A query promgate refuses to forward: it does not parse. `position` is a 0-based offset. */
export class PromQLError extends Error {
  constructor(readonly position: number, message: string) {
    super(message);
    this.name = "PromQLError";
  }
}

/** One insertion into the original text. */
interface Splice {
  readonly at: number;
  readonly text: string;
}

/**
 * `query` with `matcher` added to every series selector. Throws {@link PromQLError} when the
 * query does not parse.
 */
export function injectMatcher(query: string, matcher: TenantMatcher): string {
  const splices = selectorSplices(parse(query), matcher.text);
  if (splices.length === 0) return query;
  let out = "";
  let last = 0;
  for (const { at, text } of splices) {
    out += query.slice(last, at) + text;
    last = at;
  }
  // Not parsed again here (that would double the cost, ~0.35 ms per 2 KB): each splice inserts a
  // whole matcher where the grammar takes one; tests/tenancy/rewrite_test.ts parses every output.
  return out + query.slice(last);
}

/**
 * Function names of Prometheus 2 that the grammar (Prometheus 3's) lacks, each with one it has of
 * the same length: [2.x name, stand-in]. Debian's Prometheus (2.42) knows only `holt_winters`;
 * Prometheus 3 renamed it `double_exponential_smoothing`. It is the only 2.x function name
 * Prometheus 3 dropped.
 */
const RENAMED: readonly (readonly [string, string])[] = [["holt_winters", "day_of_month"]];

/** Each 2.x name as a whole identifier (PromQL identifiers are `[a-zA-Z_:][a-zA-Z0-9_:]*`). */
const RENAMED_WORDS = RENAMED.map(([old, stand]) => {
  if (old.length !== stand.length) throw new Error(`${stand} must be as long as ${old}`);
  return [new RegExp(`(?<![A-Za-z0-9_:])${old}(?![A-Za-z0-9_:])`, "g"), stand] as const;
});

/**
 * The text the grammar parses: `query` with each whole-word 2.x function name replaced by its
 * stand-in. Same length, so every node position is a position in `query`. Where the name is not
 * a call (a metric or label name, text in a string or comment) the stand-in plays the same part:
 * the grammar reads a function name as an identifier wherever a call cannot stand.
 */
function parseable(query: string): string {
  let text = query;
  for (const [word, stand] of RENAMED_WORDS) text = text.replace(word, stand);
  return text;
}

/** Parses `query`, refusing an empty one and any tree holding an error node. */
export function parse(query: string): Tree {
  if (query.trim() === "") throw new PromQLError(0, "empty query");
  if (parser === null) {
    throw new Error("the PromQL grammar is not loaded: await loadPromQL() first");
  }
  const tree = parser.parse(parseable(query));
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) throw new PromQLError(cursor.from, describeError(query, cursor.from));
  } while (cursor.next());
  return tree;
}

function describeError(query: string, at: number): string {
  const { line, column } = lineColumn(query, at);
  const near = query.slice(at, at + 20);
  return near === ""
    ? `unexpected end of input at line ${line}, column ${column}`
    : `unexpected ${JSON.stringify(near)} at line ${line}, column ${column}`;
}

function lineColumn(text: string, at: number): { line: number; column: number } {
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  return { line, column: at - (before.lastIndexOf("\n") + 1) + 1 };
}

/** Where each selector gets the matcher, in text order. */
function selectorSplices(tree: Tree, matcher: string): Splice[] {
  const splices: Splice[] = [];
  tree.iterate({
    enter(node) {
      if (node.name !== "VectorSelector") return;
      splices.push(spliceFor(node.node, matcher));
      return false; // a selector holds no selector
    },
  });
  return splices;
}

/**
 * `,matcher` right after a selector's last matcher, `matcher` inside empty braces, or `{matcher}`
 * after a bare metric name. Last, because Prometheus derives `absent()`'s labels from the
 * matchers in order (an equality sets a label, a later matcher on the same name removes it):
 * `absent(x{tenant=~"a|b",tenant="a"})` answers `{tenant="a"}` as the user's own restriction
 * would. Inserting right after the last matcher node (not before `}`) keeps a trailing comma after
 * ours and a comment, which runs to the end of its line, after it.
 */
function spliceFor(selector: SyntaxNode, matcher: string): Splice {
  const braces = selector.getChild("LabelMatchers");
  if (braces === null) return { at: selector.to, text: `{${matcher}}` };
  for (let child = braces.lastChild; child !== null; child = child.prevSibling) {
    if (child.name !== "LineComment") return { at: child.to, text: `,${matcher}` };
  }
  return { at: braces.from + 1, text: matcher };
}
