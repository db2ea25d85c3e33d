/**
 * A real OpenID provider for the JWT tests: `oidc-provider` (npm, OpenID certified) on a free
 * 127.0.0.1 port, with its own RSA signing keys. Machines are its clients: each gets access
 * tokens (JWTs for the audience "promgate") by the client-credentials grant, with
 * `preferred_username` = the client id and `groups` from the table given to {@link startIdp}.
 * `rotate()` restarts the provider on the same port with a new signing key (the old one still
 * published), as a provider rotating its keys does. It runs under Deno in the test process;
 * promgate (Deno, Bun or the binary) reaches it over HTTP like any provider.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { exportJWK, generateKeyPair, type JWK } from "jose";

/** A machine: a client of the provider. */
export interface Machine {
  /** Group names put in its tokens' `groups` claim. */
  readonly groups: readonly string[];
  /** The audience its tokens are for (default "promgate"). */
  readonly audience?: string;
  /** Seconds its tokens live (default 300). */
  readonly ttlSeconds?: number;
  /** Seconds after issue before its tokens become valid (`nbf`; default none). */
  readonly notBeforeSeconds?: number;
}

export interface Idp {
  /** `http://127.0.0.1:PORT`, the issuer (`iss`) of its tokens. */
  readonly issuer: string;
  /** A fresh access token for client `id` (client-credentials grant). */
  token(id: string): Promise<string>;
  /** The kid of the key the provider signs with now. */
  readonly signingKid: string;
  /** Its published keys (the public parts), as its jwks_uri serves them. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** How many times its JWK Set was fetched. */
  readonly jwksFetches: number;
  /** Restarts the provider with a new signing key; the old key stays published after it. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

/** The secret of every client (a test fixture, not a credential). */
const CLIENT_SECRET = "test-client-secret";
/** The resource indicator every token is issued for (resource servers need an absolute URI). */
const RESOURCE = "urn:promgate";

/** A signing key: the private JWK the provider holds, with its kid. */
async function newSigningKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
}

/**
 * Starts the provider. `keys` lets a second provider share the first one's keys (same kid,
 * same signature, another issuer); by default it makes one key, kid "key-1".
 */
export async function startIdp(
  machines: Record<string, Machine>,
  keys?: JWK[],
): Promise<Idp & { readonly keys: JWK[] }> {
  let signing = keys ?? [await newSigningKey("key-1")];
  let jwksFetches = 0;
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let callback = providerFor(issuer, machines, signing).callback();
  server.on("request", (req, res) => {
    if (req.url?.split("?")[0] === "/jwks") jwksFetches++;
    callback(req, res);
  });
  return {
    issuer,
    get keys() {
      return signing;
    },
    get signingKid() {
      return signing[0].kid!;
    },
    get jwksFetches() {
      return jwksFetches;
    },
    async token(id: string) {
      const response = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: "Basic " + btoa(`${id}:${CLIENT_SECRET}`),
        },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: RESOURCE }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(`token for ${id}: ${JSON.stringify(body)}`);
      return body.access_token as string;
    },
    async jwks() {
      return await (await fetch(`${issuer}/jwks`)).json();
    },
    async rotate() {
      signing = [await newSigningKey(`key-${signing.length + 1}`), ...signing];
      callback = providerFor(issuer, machines, signing).callback();
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The provider's configuration: clients for the machines, JWT access tokens for "promgate". */
function providerFor(issuer: string, machines: Record<string, Machine>, keys: JWK[]) {
  const machine = (id: string | undefined): Machine => machines[id ?? ""] ?? { groups: [] };
  return quietly(() =>
    new Provider(issuer, {
      jwks: { keys: keys as never },
      clients: Object.keys(machines).map((id) => ({
        client_id: id,
        client_secret: CLIENT_SECRET,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
      })),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (
            _ctx: unknown,
            _resource: string,
            client: { clientId: string },
          ) => {
            const m = machine(client.clientId);
            return {
              scope: "",
              audience: m.audience ?? "promgate",
              accessTokenFormat: "jwt",
              accessTokenTTL: m.ttlSeconds ?? 300,
              jwt: { sign: { alg: "RS256" } },
            };
          },
        },
      },
      ttl: {
        ClientCredentials: (_ctx: unknown, _token: unknown, client: { clientId: string }) =>
          machine(client.clientId).ttlSeconds ?? 300,
      },
      extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => ({
        preferred_username: token.clientId,
        groups: [...machine(token.clientId).groups],
      }),
      formats: {
        customizers: {
          jwt: (_ctx: unknown, token: { clientId?: string }, jwt: { payload: JwtPayload }) => {
            const delay = machine(token.clientId).notBeforeSeconds;
            if (delay) jwt.payload.nbf = jwt.payload.iat + delay;
          },
        },
      },
    })
  );
}

interface JwtPayload {
  iat: number;
  nbf?: number;
}

/**
 * Runs `make` with oidc-provider's start-up advice silenced: it warns about Deno ("Unsupported
 * runtime") and its in-memory store, both expected in a test.
 */
export function quietly<T>(make: () => T): T {
  const warn = console.warn;
  const info = console.info;
  const filter = (write: (...args: unknown[]) => void) => (...args: unknown[]) => {
    if (!/^oidc-provider (WARNING|NOTICE)/.test(String(args[0]))) write(...args);
  };
  console.warn = filter(warn);
  console.info = filter(info);
  try {
    return make();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}
