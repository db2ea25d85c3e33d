/**
 * A real OpenID provider people log in at, for the single sign-on tests: `oidc-provider` (npm,
 * OpenID certified) on a free 127.0.0.1 port with its built-in development login form
 * (devInteractions: a user name and any password; a test fixture, never for production). One
 * confidential client, "promgate", whose redirect URI is promgate's callback. Users' ID tokens
 * carry `preferred_username` and `groups` from the table given to {@link startLoginIdp}; the
 * consent step is granted for the client up front, so a login is one form.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { exportJWK, generateKeyPair } from "jose";
import { quietly } from "./_oidc_provider.ts";

/** The client secret of promgate's client (a test fixture, not a credential). */
export const LOGIN_CLIENT_SECRET = "sso-test-client-secret";

export interface LoginIdp {
  /** `http://127.0.0.1:PORT`, the issuer. */
  readonly issuer: string;
  close(): Promise<void>;
}

/**
 * Starts the provider for promgate at `promgateBase` (e.g. `https://127.0.0.1:PORT`), with
 * `users` (user name -> groups) who may log in.
 */
export async function startLoginIdp(
  promgateBase: string,
  users: Record<string, readonly string[]>,
): Promise<LoginIdp> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const key = { ...(await exportJWK(privateKey)), kid: "login-1", alg: "RS256", use: "sig" };
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = quietly(() =>
    new Provider(issuer, {
      jwks: { keys: [key as never] },
      clients: [{
        client_id: "promgate",
        client_secret: LOGIN_CLIENT_SECRET,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: [`${promgateBase}/-/promgate/oidc/callback`],
        post_logout_redirect_uris: [`${promgateBase}/`],
      }],
      claims: { openid: ["sub"], profile: ["preferred_username"], groups: ["groups"] },
      scopes: ["openid", "profile", "groups"],
      // Put the scopes' claims in the ID token itself (not only in userinfo).
      conformIdTokenClaims: false,
      // Fixed lifetimes (without them oidc-provider prints a notice at every login).
      ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 600, IdToken: 600 },
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => true },
      findAccount: (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: () => ({ sub: id, preferred_username: id, groups: [...(users[id] ?? [])] }),
      }),
      loadExistingGrant: async (ctx: GrantContext) => {
        const { oidc } = ctx;
        const grantId = oidc.result?.consent?.grantId ??
          oidc.session.grantIdFor(oidc.client.clientId);
        if (grantId) return await oidc.provider.Grant.find(grantId);
        const grant = new oidc.provider.Grant({
          clientId: oidc.client.clientId,
          accountId: oidc.session.accountId,
        });
        grant.addOIDCScope("openid profile groups");
        grant.addOIDCClaims(["preferred_username", "groups"]);
        await grant.save();
        return grant;
      },
    } as never)
  );
  // deno-lint-ignore no-explicit-any -- oidc-provider's types do not declare proxy
  (provider as any).proxy = false;
  const callback = provider.callback();
  server.on("request", (req, res) => callback(req, res));
  return {
    issuer,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The parts of oidc-provider's context that granting consent up front uses. */
interface GrantContext {
  oidc: {
    result?: { consent?: { grantId?: string } };
    session: { accountId: string; grantIdFor(clientId: string): string | undefined };
    client: { clientId: string };
    provider: {
      // deno-lint-ignore no-explicit-any -- oidc-provider's Grant model
      Grant: any;
    };
  };
}
