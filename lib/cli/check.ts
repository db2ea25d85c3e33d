/**
 * `promgate --check --config FILE`: everything start-up checks, without listening — the config,
 * the certificate and key (readable, PEM, belonging together), the htpasswd and tokens files, the
 * JWT and single sign-on providers named (not contacted), and the upstream URLs — as `nginx -t` does. Errors are InputErrors (exit 2) from the same loaders
 * start-up uses; this module adds the summary and the same warnings start-up prints
 * (lib/service/warnings.ts), which do not change the exit code.
 */
import { loadConfig } from "../config/mod.ts";
import { loadHtpasswd, loadTokens } from "../auth/mod.ts";
import { configWarnings } from "../service/mod.ts";

/** Loads and checks `configPath`; returns the summary to print. Throws InputError if invalid. */
export async function checkCommand(configPath: string): Promise<string> {
  const config = await loadConfig(configPath);
  const needsAuth = config.routes.some((r) => r.auth);
  const users = needsAuth && config.auth ? await loadHtpasswd(config.auth.htpasswdFile) : null;
  const tokensFile = users && config.auth?.tokensFile;
  const tokens = tokensFile ? await loadTokens(tokensFile) : null;
  const jwt = config.auth?.jwt;
  const oidc = config.auth?.oidc;
  const lines = [
    `${config.file}: ok`,
    `  listen ${config.listen.hostname}:${config.listen.port} ${
      config.tls ? `https (${config.tls.certFile})` : "http (no tls)"
    }`,
    ...(users && config.auth ? [`  ${users.size} user(s) in ${config.auth.htpasswdFile}`] : []),
    ...(tokens ? [`  ${tokens.size} token(s) in ${tokensFile}`] : []),
    ...(users && jwt ? [`  JWT bearer tokens from ${jwt.issuer} (audience ${jwt.audience})`] : []),
    ...(users && oidc
      ? [`  single sign-on with ${oidc.issuer} (client ${oidc.clientId}, ${oidc.sessionHours} h)`]
      : []),
    ...config.routes.map((r) =>
      `  route ${r.path} -> ${r.upstream.href}${r.auth ? "" : " (public)"}`
    ),
    ...(config.state
      ? [
        `  state shared in redis ${config.state.redis} (key prefix ${
          JSON.stringify(config.state.keyPrefix)
        }, timeout ${config.state.timeoutMs} ms${
          config.state.passwordFile ? ", password file" : ""
        })`,
      ]
      : []),
    ...(await configWarnings(config)).map((line) => `warning: ${line}`),
  ];
  return lines.join("\n");
}
