/** promgate's own messages on stderr, and how an error is put into one. */

/** Writes one message to stderr, prefixed "promgate: " (the only place that prefix is written). */
export function log(line: string): void {
  console.error(`promgate: ${line}`);
}

/** What an error says: its message, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
