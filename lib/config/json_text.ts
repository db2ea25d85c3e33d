/**
 * Strict JSON text checking for config files. JSON.parse reports positions differently in every
 * runtime (and not at all in some), and silently keeps the last of two duplicate keys, so the
 * text is first checked here: errors get line:column and a hint, and a duplicated key ("auth"
 * twice) is an error too.
 */
import { InputError } from "../errors.ts";

type Key = PropertyKey;

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** "routes[1].upstream"; keys that are not identifiers are quoted: ["odd key"]. */
export function jsonPath(path: readonly Key[]): string {
  return path.map((k, i) => {
    if (typeof k === "number") return `[${k}]`;
    const s = String(k);
    if (/^[A-Za-z_$][\w$]*$/.test(s)) return i === 0 ? s : `.${s}`;
    return `[${JSON.stringify(s)}]`;
  }).join("");
}

class JsonSyntaxError extends Error {
  constructor(readonly pos: number, message: string) {
    super(message);
  }
}

interface Scanner {
  text: string;
  i: number;
  duplicates: { pos: number; key: string; first: number; path: Key[] }[];
}

/**
 * Parses `text` as JSON after checking it strictly. Throws InputError with FILE:LINE:COLUMN, what
 * is wrong and how to fix it; duplicate keys are errors.
 */
export function parseJsonStrict(text: string, file: string): unknown {
  const s: Scanner = { text, i: 0, duplicates: [] };
  try {
    skipSpace(s);
    scanValue(s, [], 0);
    skipSpace(s);
    if (s.i < text.length) throw new JsonSyntaxError(s.i, "unexpected text after the JSON value.");
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    throw new InputError(`${file}:${lineCol(text, e.pos)}: invalid JSON: ${e.message}`);
  }
  if (s.duplicates.length > 0) {
    throw new InputError(
      s.duplicates.map((d) => {
        const where = d.path.length ? ` in ${jsonPath(d.path)}` : "";
        return `${file}:${lineCol(text, d.pos)}: duplicate key ${show(d.key)}${where} (first at ` +
          `${lineCol(text, d.first)}); JSON would keep only the last. Remove one.`;
      }).join("\n"),
    );
  }
  return JSON.parse(text);
}

function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return `${line}:${pos - before.lastIndexOf("\n")}`;
}

function skipSpace(s: Scanner): void {
  for (; s.i < s.text.length; s.i++) {
    const c = s.text[s.i];
    if (c === "/" && (s.text[s.i + 1] === "/" || s.text[s.i + 1] === "*")) {
      throw new JsonSyntaxError(s.i, "comments are not allowed in JSON; remove it.");
    }
    if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") return;
  }
}

function scanValue(s: Scanner, path: Key[], depth: number): void {
  if (depth > 64) throw new JsonSyntaxError(s.i, "nested too deeply.");
  const c = s.text[s.i];
  if (c === "{") return scanObject(s, path, depth);
  if (c === "[") return scanArray(s, path, depth);
  if (c === '"') return void scanString(s);
  if (c !== undefined && /[-+.0-9]/.test(c)) return scanNumber(s);
  scanWord(s);
}

function scanObject(s: Scanner, path: Key[], depth: number): void {
  const seen = new Map<string, number>();
  s.i++;
  skipSpace(s);
  if (s.text[s.i] === "}") return void s.i++;
  for (;;) {
    if (s.text[s.i] !== '"') throw new JsonSyntaxError(s.i, expectedKeyText(s.text[s.i]));
    const pos = s.i;
    const key = scanString(s);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, pos);
    else s.duplicates.push({ pos, key, first, path });
    skipSpace(s);
    if (s.text[s.i] !== ":") throw new JsonSyntaxError(s.i, `expected ":" after ${show(key)}.`);
    s.i++;
    skipSpace(s);
    scanValue(s, [...path, key], depth + 1);
    if (!scanSeparator(s, "}", `after the value of ${show(key)}`)) return;
  }
}

function scanArray(s: Scanner, path: Key[], depth: number): void {
  s.i++;
  skipSpace(s);
  if (s.text[s.i] === "]") return void s.i++;
  for (let n = 0;; n++) {
    scanValue(s, [...path, n], depth + 1);
    if (!scanSeparator(s, "]", "after an array item")) return;
  }
}

/** After a member: consumes "," (returns true: another follows) or the closer (returns false). */
function scanSeparator(s: Scanner, close: string, where: string): boolean {
  const end = s.i; // a missing comma belongs right after the value, not at the next line's start
  skipSpace(s);
  const c = s.text[s.i];
  if (c === close) return (s.i++, false);
  if (c !== ",") {
    const what = c === undefined
      ? `end of file; a "${close}" is missing`
      : `expected "," or "${close}"`;
    throw new JsonSyntaxError(end, `${what} ${where}.`);
  }
  const comma = s.i++;
  skipSpace(s);
  if (s.text[s.i] === close) {
    throw new JsonSyntaxError(comma, `trailing comma before "${close}"; remove the comma.`);
  }
  return true;
}

function expectedKeyText(c: string | undefined): string {
  if (c === undefined) return 'end of file; a "}" is missing.';
  if (c === "'") return "keys need double quotes, not single quotes.";
  return `expected a key in double quotes, found ${show(c)}.`;
}

/** Scans a string literal and returns its value (JSON.parse decodes the checked slice). */
function scanString(s: Scanner): string {
  const start = s.i++;
  for (;;) {
    const c = s.text[s.i];
    if (c === undefined) throw new JsonSyntaxError(start, 'string is not closed with a ".');
    if (c === '"') return JSON.parse(s.text.slice(start, ++s.i));
    if (c === "\n") {
      throw new JsonSyntaxError(
        s.i,
        'line break inside a string; close it with " (write \\n for a newline).',
      );
    }
    if (c < " ") throw new JsonSyntaxError(s.i, "control character inside a string; escape it.");
    if (c === "\\") scanEscape(s);
    else s.i++;
  }
}

function scanEscape(s: Scanner): void {
  const e = s.text[s.i + 1];
  if (e === "u" && /^[0-9a-fA-F]{4}$/.test(s.text.slice(s.i + 2, s.i + 6))) return void (s.i += 6);
  if (e !== undefined && e !== "u" && '"\\/bfnrt'.includes(e)) return void (s.i += 2);
  throw new JsonSyntaxError(
    s.i,
    `invalid escape \\${e ?? ""} in a string; write \\\\ for a backslash.`,
  );
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

function scanNumber(s: Scanner): void {
  NUMBER.lastIndex = s.i;
  const m = NUMBER.exec(s.text);
  const end = m ? s.i + m[0].length : s.i;
  if (!m || /[-+.\w]/.test(s.text[end] ?? "")) {
    throw new JsonSyntaxError(s.i, "invalid number (JSON numbers look like 12, -1.5 or 1e3).");
  }
  s.i = end;
}

const WORD = /[A-Za-z_$][\w$]*/y;

function scanWord(s: Scanner): void {
  WORD.lastIndex = s.i;
  const word = WORD.exec(s.text)?.[0];
  if (word === "true" || word === "false" || word === "null") return void (s.i += word.length);
  const c = s.text[s.i];
  let why = `unexpected ${show(c)} where a value should be.`;
  if (c === undefined) why = "unexpected end of file; a value is missing.";
  else if (c === "'") why = "strings need double quotes, not single quotes.";
  else if (word) {
    why = `unexpected word ${
      show(word)
    }: strings need double quotes; literals are true, false and null.`;
  }
  throw new JsonSyntaxError(s.i, why);
}
