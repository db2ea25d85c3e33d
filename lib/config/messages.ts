/**
 * zod issues -> one message line each: file, JSON path, what is wrong, how to fix. The walk over
 * zod's internal `_zod.def` is confined to this file.
 */
import { z } from "zod";
import { jsonPath } from "./json_text.ts";
import { isRecord, show } from "./rules.ts";
import { configSchema } from "./schema.ts";

// ---------------------------------------------------------------------------------------------
// zod issues -> one message line each.

type Issue = z.core.$ZodIssue;
type Key = PropertyKey;

/** A message line and the JSON path that places it in document order. */
interface Line {
  order: readonly Key[];
  text: string;
}

/** Turns one zod issue into message lines ("routes[0].upstream: ..."), without the file name. */
export function formatIssue(issue: Issue, raw: unknown): Line[] {
  const path = issue.path;
  const line = (text: string, order = path) => ({ order, text: at(path, text) });
  const value = valueAt(raw, path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => line(unknownKeyText(k, keysAt(path)), [...path, k]));
    case "invalid_union":
      return formatUnion(issue, raw);
    case "invalid_type":
      return [line(typeText(issue.expected, value) + exampleText(path))];
    case "invalid_value":
      return [line(`${show(value)} is not one of ${issue.values.map(show).join(", ")}.`)];
    case "too_small":
    case "too_big":
      return [line(sizeText(issue, value) + exampleText(path))];
    default:
      return [line(issue.message)];
  }
}

const at = (
  path: readonly Key[],
  text: string,
) => (path.length ? `${jsonPath(path)}: ${text}` : text);

/** For accessLog-like unions: an object gets the object branch's issues, anything else one line. */
function formatUnion(issue: z.core.$ZodIssueInvalidUnion, raw: unknown): Line[] {
  // A required union (routes[].upstream: a URL or a list of them) that is absent.
  if (valueAt(raw, issue.path) === undefined) {
    return [{ order: issue.path, text: at(issue.path, "missing." + exampleText(issue.path)) }];
  }
  const branch = issue.errors.find((errs) => errs.every((e) => e.path.length > 0 || isKeyIssue(e)));
  if (branch) {
    return branch.flatMap((e) => formatIssue({ ...e, path: [...issue.path, ...e.path] }, raw));
  }
  const examples = metaAt(issue.path)?.examples as unknown[] | undefined;
  const text = `${show(valueAt(raw, issue.path))} is not valid.` +
    (examples ? ` Use ${examples.map((x) => JSON.stringify(x)).join(" or ")}.` : "");
  return [{ order: issue.path, text: at(issue.path, text) }];
}

/** Sorts lines as their keys appear in the file; keys absent from it go after their siblings. */
export function inDocumentOrder(lines: Line[], raw: unknown): string[] {
  const rank = (path: readonly Key[]) => {
    let v = raw;
    return path.map((k) => {
      const keys = isRecord(v) ? Object.keys(v) : [];
      v = valueAt(v, [k]);
      if (typeof k === "number") return k;
      const i = keys.indexOf(String(k));
      return i < 0 ? keys.length : i;
    });
  };
  const ranked = lines.map((l) => ({ r: rank(l.order), text: l.text }));
  ranked.sort((a, b) => {
    for (let i = 0; i < Math.min(a.r.length, b.r.length); i++) {
      if (a.r[i] !== b.r[i]) return a.r[i] - b.r[i];
    }
    return a.r.length - b.r.length;
  });
  return ranked.map((l) => l.text);
}

const isKeyIssue = (e: Issue) => e.code === "unrecognized_keys";

function typeText(expected: string, value: unknown): string {
  if (value === undefined) return "missing.";
  if (value === null) {
    return `null is not allowed; expected ${expectedWords[expected] ?? expected}.`;
  }
  if (expected === "int" && typeof value === "number") return `${value} is not a whole number.`;
  return `${show(value)} is ${kindOf(value)}; expected ${expectedWords[expected] ?? expected}.`;
}

const expectedWords: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "an object { ... }",
  array: "an array [ ... ]",
};

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

function sizeText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown) {
  const small = issue.code === "too_small";
  const limit = small ? (issue as z.core.$ZodIssueTooSmall).minimum : issue.maximum;
  if (issue.origin === "string") return "is empty.";
  if (issue.origin === "array") {
    return small ? "is empty; it needs at least one item." : "is too long.";
  }
  const bound = small
    ? (issue.inclusive ? "at least" : "greater than")
    : (issue.inclusive ? "at most" : "less than");
  return `${show(value)} is too ${small ? "small" : "big"}: it must be ${bound} ${limit}.`;
}

function exampleText(path: readonly Key[]): string {
  const examples = metaAt(path)?.examples as unknown[] | undefined;
  if (!examples?.length) return path.length ? "" : " See config.example.json.";
  const name = path.at(-1);
  const example = JSON.stringify(examples[0]);
  return typeof name === "string" ? ` e.g. "${name}": ${example}` : ` e.g. ${example}`;
}

/** Names the closest valid key (ignoring case, "_" and "-"), or lists the valid keys. */
function unknownKeyText(key: string, valid: string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = editDistance(norm(key), norm(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))) {
    return `unknown key ${show(key)}. Did you mean ${show(best)}?`;
  }
  return `unknown key ${show(key)}. Valid keys: ${valid.join(", ")}.`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

function valueAt(raw: unknown, path: readonly Key[]): unknown {
  let v = raw;
  for (const k of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<Key, unknown>)[k];
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Walking the schema by JSON path, for valid-key lists and examples.

type Schema = z.core.$ZodType;

/** The schema and its wrappers (default, optional, ...) from the outside in. */
function layers(s: Schema): Schema[] {
  const out = [s];
  for (let def = s._zod.def as { innerType?: Schema; in?: Schema }; def.innerType || def.in;) {
    const inner = (def.innerType ?? def.in)!;
    out.push(inner);
    def = inner._zod.def as typeof def;
  }
  return out;
}

function schemaAt(path: readonly Key[]): Schema | undefined {
  let s: Schema | undefined = configSchema;
  for (const k of path) s = s && childOf(s, k);
  return s;
}

function childOf(s: Schema, key: Key): Schema | undefined {
  for (const layer of layers(s)) {
    const def = layer._zod.def as {
      type: string;
      shape?: Record<string, Schema>;
      element?: Schema;
      options?: Schema[];
    };
    if (def.type === "object" && typeof key === "string") return def.shape?.[key];
    if (def.type === "array" && typeof key === "number") return def.element;
    if (def.type === "union") {
      return def.options?.map((o) => childOf(o, key)).find((c) => c !== undefined);
    }
  }
  return undefined;
}

function keysAt(path: readonly Key[]): string[] {
  const s = schemaAt(path);
  for (const layer of s ? layers(s) : []) {
    const def = layer._zod.def as { type: string; shape?: object; options?: Schema[] };
    if (def.type === "object") return Object.keys(def.shape ?? {});
    const object = def.options?.find((o) => o._zod.def.type === "object");
    if (object) return Object.keys(objectShape(object));
  }
  return [];
}

const objectShape = (s: Schema) => (s._zod.def as unknown as { shape: object }).shape;

function metaAt(path: readonly Key[]): Record<string, unknown> | undefined {
  const s = schemaAt(path);
  for (const layer of s ? layers(s) : []) {
    const meta = z.globalRegistry.get(layer);
    if (meta?.examples !== undefined) return meta;
  }
  return undefined;
}
