/**
 * The schema of auth: basic auth (realm, htpasswdFile), API tokens, JWT bearer tokens (jwt),
 * single sign-on (oidc) and the throttling of failed logins. Part of the config schema
 * (schema.ts).
 */
import { z } from "zod";
import { DEFAULTS } from "../defaults.ts";
import { providerUrlProblem, realmProblem, rule, tokenHeaderProblem } from "./rules.ts";

const seconds = (fallback: number, description: string) =>
  z.number().positive().max(86_400).default(fallback).meta({ description });

/** The throttle defaults (lib/defaults.ts). */
const T = DEFAULTS.throttle;

const throttleSchema = z.strictObject({
  clientFailures: z.number().int().min(1).default(T.clientFailures).meta({
    description: "Failed logins from one client address (IPv6: one /64) as one user name before " +
      "that address waits to try that name again; other names from the address are not " +
      `affected. Default ${T.clientFailures}.`,
  }),
  userFailures: z.number().int().min(1).default(T.userFailures).meta({
    description: "Failed logins as one user name, from any addresses, before that name waits at " +
      "every address where it has not logged in within knownAddressDays. " +
      `Default ${T.userFailures}.`,
  }),
  clientUsers: z.number().int().min(1).max(1000).default(T.clientUsers).meta({
    description: "Distinct user names failing from one client address (password spraying) " +
      "before that address waits, for every name that has not logged in from it within " +
      `knownAddressDays. Default ${T.clientUsers}.`,
  }),
  baseDelaySeconds: seconds(
    T.baseDelaySeconds,
    `The first delay; each further failure doubles it. Default ${T.baseDelaySeconds}.`,
  ),
  maxDelaySeconds: seconds(
    T.maxDelaySeconds,
    "The longest delay, and the Retry-After of every 429 (so it does not tell when a block " +
      `ends). Default ${T.maxDelaySeconds}.`,
  ),
  forgetAfterSeconds: seconds(
    T.forgetAfterSeconds,
    `Failures are forgotten this long after the last one. Default ${T.forgetAfterSeconds}.`,
  ),
  knownAddressDays: z.number().min(0).max(366).default(T.knownAddressDays).meta({
    description: "Days an address where a user logged in stays known for that user: failures " +
      "from other addresses (userFailures, clientUsers) do not make that user wait there. " +
      `0 turns this off. Default ${T.knownAddressDays}.`,
  }),
}).refine((t) => t.maxDelaySeconds >= t.baseDelaySeconds, {
  message: "maxDelaySeconds is below baseDelaySeconds. Raise maxDelaySeconds or lower " +
    "baseDelaySeconds.",
  path: ["maxDelaySeconds"],
});

/** The auth.jwt defaults (lib/defaults.ts). */
const J = DEFAULTS.jwt;

const jwtSchema = z.strictObject({
  issuer: z.string().min(1).superRefine(rule(providerUrlProblem)).meta({
    description: "The identity provider's issuer, exactly as its tokens carry it in `iss`. " +
      "Without jwksUrl or jwksFile, its keys are found by OIDC discovery (issuer + " +
      "`/.well-known/openid-configuration`, then its `jwks_uri`). https, except for 127.0.0.1 " +
      "and localhost.",
    examples: ["https://idp.example.com/realms/main"],
  }),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).meta({
    description: "The audience (`aud`) a token must be issued for: one value or a list (any " +
      "one of them matches). Give promgate its own audience at the provider, so that tokens " +
      "meant for other services are refused here.",
    examples: ["promgate"],
  }),
  userClaim: z.string().min(1).default(J.userClaim).meta({
    description: "The claim that names the user, for allow, admins, tenancy, forwardUser and " +
      "the access log; a token without it (or with white space or a control character in it) " +
      `is refused. Default "${J.userClaim}"; e.g. "preferred_username" or "email".`,
    examples: ["preferred_username"],
  }),
  groupsClaim: z.string().min(1).optional().meta({
    description: "A claim with a list of group names (or one name): each makes the user a " +
      'member of "@name" for every rule, in addition to the groups that name the user. ' +
      "Default: none (groups only from the config).",
    examples: ["groups"],
  }),
  jwksUrl: z.string().min(1).superRefine(rule(providerUrlProblem)).optional().meta({
    description: "Where the provider publishes its keys (a JWK Set), instead of discovery. " +
      "https, except for 127.0.0.1 and localhost.",
    examples: ["https://idp.example.com/realms/main/protocol/openid-connect/certs"],
  }),
  jwksFile: z.string().min(1).optional().meta({
    description: "A JWK Set file with the provider's public keys, for hosts that cannot reach " +
      "the provider. Read at start and on reload (SIGHUP). Relative to the config file's " +
      "directory.",
    examples: ["jwks.json"],
  }),
  algorithms: z.array(z.enum(J.algorithms)).min(1).default([...J.algorithms]).meta({
    description: "Signature algorithms accepted. Only asymmetric ones can be listed: HMAC " +
      "(HS256…) would let a token signed with the provider's public key pass, and `none` is " +
      "never accepted. Default all of " + J.algorithms.join(", ") + ".",
    examples: [["RS256"]],
  }),
  leewaySeconds: z.number().min(0).max(300).default(J.leewaySeconds).meta({
    description: "Clock difference allowed when checking exp (expiry), nbf (not before) and " +
      `iat. 0-300, default ${J.leewaySeconds}.`,
    examples: [J.leewaySeconds],
  }),
  keysRefreshSeconds: z.number().min(1).max(3600).default(J.keysRefreshSeconds).meta({
    description: "A token with an unknown key id (`kid`) makes promgate fetch the provider's " +
      "keys again, at most once per this many seconds; a token still unknown then is refused. " +
      "So keys the provider rotates in work without a restart. Keys are also re-fetched every " +
      `10 minutes. 1-3600, default ${J.keysRefreshSeconds}.`,
    examples: [J.keysRefreshSeconds],
  }),
}).refine((j) => j.jwksUrl === undefined || j.jwksFile === undefined, {
  message: "jwksUrl and jwksFile are both set; keep the one that holds the provider's keys.",
  path: ["jwksFile"],
}).optional().meta({
  description: "JWT bearer tokens from an identity provider (`Authorization: Bearer " +
    "<JWT>`): checked for signature, issuer, audience and time, then identified by userClaim " +
    "with the groups of groupsClaim. Default: none.",
});

/** The auth.oidc defaults (lib/defaults.ts). */
const O = DEFAULTS.oidc;

const oidcSchema = z.strictObject({
  issuer: z.string().min(1).superRefine(rule(providerUrlProblem)).meta({
    description: "The OpenID provider's issuer; its endpoints are found by OIDC discovery " +
      "(issuer + `/.well-known/openid-configuration`). https, except for 127.0.0.1 and localhost.",
    examples: ["https://idp.example.com/realms/main"],
  }),
  clientId: z.string().min(1).meta({
    description: "promgate's client id at the provider (a confidential client for the " +
      "authorization code flow, with redirect URI https://HOST" + O.callbackPath + ").",
    examples: ["promgate"],
  }),
  clientSecretFile: z.string().min(1).meta({
    description: "A file holding the client's secret (white space around it is ignored). " +
      "Relative to the config file's directory. Never put the secret in the config.",
    examples: ["oidc-client-secret"],
  }),
  cookieSecretFile: z.string().min(1).meta({
    description: "A file of at least 32 random bytes that the session cookies are encrypted " +
      "and authenticated with (AES-256-GCM), e.g. made by `openssl rand -base64 48 > FILE`. " +
      "Replicas share it; changing it ends every session. Relative to the config file's " +
      "directory.",
    examples: ["cookie-secret"],
  }),
  scopes: z.array(z.string().min(1).regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).min(1)
    .default([...O.scopes]).refine((s) => s.includes("openid"), {
      message: 'scopes must include "openid". Add it to the list.',
    }).meta({
      description: 'Scopes asked for; must include "openid". Add the one that puts the groups ' +
        `claim in the ID token (often "groups"). Default ${JSON.stringify(O.scopes)}.`,
      examples: [["openid", "profile", "groups"]],
    }),
  sessionHours: z.number().min(0.01).max(720).default(O.sessionHours).meta({
    description: "How long a login lasts (the session cookie's lifetime); then the browser " +
      `logs in again. Default ${O.sessionHours}.`,
    examples: [O.sessionHours],
  }),
  userClaim: z.string().min(1).default(O.userClaim).meta({
    description: "The ID token claim that names the user, as auth.jwt.userClaim. Default " +
      `"${O.userClaim}"; e.g. "preferred_username" or "email".`,
    examples: ["preferred_username"],
  }),
  groupsClaim: z.string().min(1).optional().meta({
    description: 'An ID token claim with group names: each makes the user a member of "@name" ' +
      "for every rule, as auth.jwt.groupsClaim. Default: none.",
    examples: ["groups"],
  }),
  externalUrl: z.string().min(1).refine(
    (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && new URL(u).pathname === "/",
    {
      message:
        "externalUrl is not an http(s) URL without a path. Write e.g. https://prom.example.com",
    },
  ).optional().meta({
    description: "The scheme and host browsers reach promgate at, when a TLS-terminating proxy " +
      "in front of it changes them: the redirect URI becomes externalUrl + " + O.callbackPath +
      ", and cookies are Secure when it is https. Default: from each request (its Host, and " +
      "https when promgate serves tls).",
    examples: ["https://prom.example.com"],
  }),
}).optional().meta({
  description: "Single sign-on for browsers: a browser without a session that asks for a page " +
    "is sent to the provider's login (authorization code flow with PKCE), then carries an " +
    "encrypted session cookie. API clients still get 401. Endpoints: " +
    `${O.loginPath}?rd=PATH, ${O.callbackPath}, ${O.logoutPath}. Default: none.`,
});
/** auth: who may log in, and how; optional when every route has "auth": false. */
export const authSchema = z.strictObject({
  realm: z.string().superRefine(rule(realmProblem)).default(DEFAULTS.auth.realm).meta({
    description: "Realm shown in the browser's login prompt. Printable ASCII without \" or \\. " +
      `Default "${DEFAULTS.auth.realm}".`,
    examples: [DEFAULTS.auth.realm],
  }),
  htpasswdFile: z.string().min(1).meta({
    description: "htpasswd file with the users, e.g. made by `htpasswd -cB .htpasswd admin`. " +
      "Relative to the config file's directory.",
    examples: [".htpasswd"],
  }),
  tokensFile: z.string().min(1).optional().meta({
    description: "API tokens: one `NAME:sha256:HEX` line per token (the SHA-256 of the token, " +
      "never the token), as `promgate token create NAME` prints it; `#` comments and blank lines " +
      "allowed. `Authorization: Bearer TOKEN` then identifies as NAME, which groups, allow, " +
      "admins, forwardUser and tenancy treat like an htpasswd user of that name. Re-read when it " +
      "changes: a removed line revokes its token. Relative to the config file's directory.",
    examples: ["tokens"],
  }),
  tokenHeader: z.string().min(1).superRefine(rule(tokenHeaderProblem)).optional().meta({
    description: "A request header that may carry a token instead of `Authorization: Bearer`, " +
      "for clients that cannot set Authorization. promgate removes it before forwarding. Needs " +
      "tokensFile. Default: none.",
    examples: ["X-Promgate-Token"],
  }),
  jwt: jwtSchema,
  oidc: oidcSchema,
  throttle: z.union([z.literal(false), throttleSchema]).default({ ...T }).meta({
    description: "Brute-force throttling of failed logins, on by default. Failures count per " +
      "(address, user name) pair (clientFailures), per user name (userFailures) and per " +
      "address by distinct names (clientUsers); past a limit, password checks for what it " +
      "covers are answered 429 for a delay that doubles from baseDelaySeconds to " +
      "maxDelaySeconds. The user and address limits spare addresses where the user logged in " +
      "within knownAddressDays. Logins already verified are never throttled. false turns it off.",
  }),
}).refine((a) => a.tokenHeader === undefined || a.tokensFile !== undefined, {
  message: "tokenHeader needs tokensFile: set auth.tokensFile, or remove tokenHeader.",
  path: ["tokenHeader"],
}).optional().meta({
  description:
    'HTTP basic auth (and API tokens, JWT bearer tokens, single sign-on) for every route except those with "auth": ' +
    'false. Required unless every route has "auth": false.',
});
