/**
 * `promgate token create NAME`: makes a new API token. The token goes to stdout, alone, so that
 * `> prometheus.token` gives Prometheus' `credentials_file`; the line for the tokens file goes to
 * stderr after a `#` comment, both valid in that file, so that `2>> tokens` adds them. The token
 * is printed this once and stored nowhere: the tokens file holds only its SHA-256.
 */
import { InputError } from "../errors.ts";
import { newToken, tokenLine, tokenNameProblem } from "../auth/mod.ts";

/** What `promgate token create` prints: the token (stdout) and the lines to add (stderr). */
export interface CreatedToken {
  readonly token: string;
  readonly lines: string;
}

/** Makes a token for `name`. Throws InputError when the name cannot name a token. */
export function tokenCreateCommand(name: string, now: Date = new Date()): CreatedToken {
  const problem = tokenNameProblem(name);
  if (problem) {
    throw new InputError(
      `token create: ${JSON.stringify(name)} cannot name a token: ${problem}`,
    );
  }
  const token = newToken();
  const comment = `# token for ${name}, made ${now.toISOString().slice(0, 19)}Z by ` +
    "`promgate token create`; add these lines to auth.tokensFile";
  return { token, lines: `${comment}\n${tokenLine(name, token)}` };
}
