/**
 * Writes config.schema.json, the JSON Schema of the config file, from the zod schema in
 * lib/config/schema.ts (the single source of truth). Editors use it, through the "$schema" key, to
 * check a config and show each key's description. Run with: deno task schema
 * tests/config_test.ts fails when the committed file differs from what this generates.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configSchema } from "../lib/config/schema.ts";

/** Absolute path of the generated file, at the repository root. */
export const schemaFile: string = fileURLToPath(new URL("../config.schema.json", import.meta.url));

/** The JSON Schema as file text: 2-space indented (as deno fmt leaves it), newline-terminated. */
export function generateSchema(): string {
  // draft-07 rather than zod's default 2020-12: every common editor's JSON support reads it.
  // io "input" describes what a person writes: keys with defaults are optional.
  const schema = z.toJSONSchema(configSchema, { target: "draft-07", io: "input" });
  return JSON.stringify(schema, null, 2) + "\n";
}

if (import.meta.main) {
  await writeFile(schemaFile, generateSchema());
  console.log(`wrote ${schemaFile}`);
}
