/** Minimal assertions (std/assert is not installable here: JSR is unreachable). */
import { deepStrictEqual } from "node:assert";

/** Throws unless `value` is truthy. */
export function assert(value: unknown, message = "assertion failed"): asserts value {
  if (!value) throw new Error(message);
}

/** Throws unless `actual` deeply equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  try {
    deepStrictEqual(actual, expected);
  } catch {
    throw new Error(
      `${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`,
    );
  }
}

/** Throws unless `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(text)) {
    throw new Error(`${message ? message + ": " : ""}${show(text)} does not match ${pattern}`);
  }
}

/** Throws unless `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    throw new Error(`${message ? message + ": " : ""}${show(text)} does not include ${show(part)}`);
  }
}

/** Throws unless `fn` rejects with an error whose message includes `part`. */
export async function assertRejects(fn: () => Promise<unknown>, part?: string): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (part !== undefined) assertStringIncludes(e.message, part);
    return e;
  }
  throw new Error("expected a rejection");
}

/** Throws unless `fn` throws an error whose message includes `part`. */
export function assertThrows(fn: () => unknown, part?: string): Error {
  try {
    fn();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (part !== undefined) assertStringIncludes(e.message, part);
    return e;
  }
  throw new Error("expected an exception");
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : Deno.inspect(value, { depth: 4 });
}
