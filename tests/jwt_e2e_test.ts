/**
 * JWT bearer tokens end to end: the real promgate process (Deno, Bun or the binary, by
 * PROMGATE_CMD) in front of a real upstream, with a real OpenID provider (oidc-provider, in this
 * test process) as auth.jwt's issuer, its keys found by OIDC discovery. Valid tokens come from
 * the provider only; the rejected ones are made as an attacker would make them (with jose):
 * `alg: none`, HMAC keyed with the provider's public key, a key the provider does not publish,
 * a tampered payload — or are real provider tokens that are wrong here (another audience,
 * another issuer, expired, not yet valid). Then the provider rotates its keys, and a token
 * signed with the new key works without a restart.
 */
import { createPublicKey } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { assert, assertEquals } from "./_assert.ts";
import { startIdp } from "./_oidc_provider.ts";
import { basic, type Promgate, startPromgate, tempDir } from "./_util.ts";
import { startTestUpstream } from "./_upstream.ts";
import { fromFileUrl } from "./_path.ts";

const HTPASSWD = fromFileUrl(new URL("./testdata/jwt/htpasswd", import.meta.url));

const MACHINES = {
  "ops-bot": { groups: ["ops"] },
  "viewer-bot": { groups: ["viewers"] },
  "grafana-bot": { groups: ["ops"], audience: "grafana" },
  "brief-bot": { groups: ["ops"], ttlSeconds: 1 },
  "later-bot": { groups: ["ops"], notBeforeSeconds: 3600 },
};

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

/** The claims of a valid ops-bot token, fresh, for forged tokens to carry. */
function claimsLike(valid: string): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { ...decodeJwt(valid), iat: now, exp: now + 300 };
}

/** The reason of the first "refused a JWT" line promgate wrote to stderr after `from`. */
async function refusalLogged(gate: Promgate, from: number): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const line = /refused a JWT from \S+: (.*)/.exec(gate.stderr().slice(from))?.[1];
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  return "(nothing logged)";
}

Deno.test("JWT bearer tokens from a real OpenID provider: accepted, refused, rotated", async () => {
  const idp = await startIdp(MACHINES);
  // Another provider with the very same keys: its tokens differ only in `iss`.
  const otherIdp = await startIdp(MACHINES, idp.keys);
  const upstream = startTestUpstream();
  const dir = await tempDir();
  let gate: Promgate | null = null;
  try {
    gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      // One server thread: each thread keeps its own key cache, and the test counts fetches.
      workers: 1,
      auth: {
        htpasswdFile: HTPASSWD,
        jwt: {
          issuer: idp.issuer,
          audience: "promgate",
          userClaim: "preferred_username",
          groupsClaim: "groups",
          leewaySeconds: 1,
          keysRefreshSeconds: 1,
        },
        // Every refusal below must show as 401, not as the throttle's 429 (tested in jwt_test).
        throttle: false,
      },
      // "ops" is filled by the provider's groups claim only.
      groups: { ops: [] },
      routes: [
        { path: "/prometheus/", upstream: `${upstream.url}/echo/`, forwardUser: true },
        {
          path: "/admin/",
          upstream: `${upstream.url}/echo/admin/`,
          allow: ["@ops"],
          forwardUser: true,
        },
      ],
    });
    const g = gate;
    const send = async (path: string, authorization: string) => {
      const response = await fetch(`${g.url}${path}`, { headers: { authorization } });
      const text = await response.text();
      return { status: response.status, text };
    };
    const bearer = (token: string) => `Bearer ${token}`;

    // Accepted: the user is forwarded, and the groups claim makes ops-bot a member of @ops.
    const opsToken = await idp.token("ops-bot");
    const ok = await send("/prometheus/api/v1/query", bearer(opsToken));
    assertEquals(ok.status, 200, ok.text);
    assertEquals(JSON.parse(ok.text).headers["x-forwarded-user"], "ops-bot");
    assertEquals((await send("/admin/x", bearer(opsToken))).status, 200);
    const viewer = await idp.token("viewer-bot");
    assertEquals((await send("/prometheus/", bearer(viewer))).status, 200);
    assertEquals((await send("/admin/x", bearer(viewer))).status, 403, "viewer-bot is not @ops");
    // Basic auth keeps working beside JWTs; alice is not in @ops.
    assertEquals((await send("/prometheus/", basic("alice", "secret"))).status, 200);
    assertEquals((await send("/admin/x", basic("alice", "secret"))).status, 403);

    // The rejection table: each must be 401.
    const claims = claimsLike(opsToken);
    const [header, payload, signature] = opsToken.split(".");
    const publicJwk = (await idp.jwks()).keys.find((k) => k.kid === idp.signingKid)!;
    const publicPem = createPublicKey({ key: publicJwk as never, format: "jwk" })
      .export({ type: "spki", format: "pem" });
    const stranger = await generateKeyPair("RS256");
    const briefToken = await idp.token("brief-bot");
    const cases: [string, RegExp, () => Promise<string>][] = [
      [
        "alg none (unsigned)",
        /"alg".*not allowed/,
        () => Promise.resolve(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`),
      ],
      [
        "HS256 keyed with the provider's public key",
        /"alg".*not allowed/,
        () =>
          new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: idp.signingKid })
            .sign(new TextEncoder().encode(String(publicPem))),
      ],
      [
        "signed by another key under the provider's kid",
        /signature verification/,
        () =>
          new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: idp.signingKid })
            .sign(stranger.privateKey),
      ],
      [
        "unknown kid (after one refresh)",
        /no applicable key/,
        () =>
          new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "key-unknown" })
            .sign(stranger.privateKey),
      ],
      ["tampered payload (groups added), original signature", /signature verification/, () => {
        const [h, p, s] = viewer.split(".");
        const changed = { ...decodeJwt(`${h}.${p}.${s}`), groups: ["ops"] };
        return Promise.resolve(`${h}.${b64url(changed)}.${s}`);
      }],
      ["wrong aud (a token for grafana)", /"aud"/, () => idp.token("grafana-bot")],
      ["wrong iss (another provider, same keys)", /"iss"/, () => otherIdp.token("ops-bot")],
      ["not yet valid (nbf in an hour)", /"nbf"/, () => idp.token("later-bot")],
      ["expired (provider TTL 1 s, leeway 1 s)", /"exp"/, async () => {
        const exp = decodeJwt(briefToken).exp!;
        await new Promise((r) => setTimeout(r, Math.max(0, (exp + 2) * 1000 - Date.now())));
        return briefToken;
      }],
      [
        "truncated signature",
        /signature verification/,
        () => Promise.resolve(`${header}.${payload}.${signature.slice(8)}`),
      ],
    ];
    const table: [string, number, string][] = [];
    for (const [name, reason, make] of cases) {
      const token = await make();
      const fetchesBefore = idp.jwksFetches;
      const logged = g.stderr().length;
      const { status } = await send("/prometheus/", bearer(token));
      const why = await refusalLogged(g, logged);
      table.push([name, status, why]);
      assert(reason.test(why), `${name}: refused for another reason: ${why}`);
      if (name.startsWith("unknown kid")) {
        assert(idp.jwksFetches - fetchesBefore <= 1, "one refresh at most for an unknown kid");
        // Within the refresh interval a second unknown kid causes no fetch at all.
        const again = idp.jwksFetches;
        await send("/prometheus/", bearer(token));
        assertEquals(idp.jwksFetches, again, "no fetch within keysRefreshSeconds");
      }
    }
    console.log("\nJWT rejection table (case -> status observed):");
    for (const [name, status, why] of table) {
      console.log(`  ${name.padEnd(54)} ${status}  (promgate: ${why})`);
    }
    for (const [name, status] of table) assertEquals(status, 401, name);
    assertEquals(decodeProtectedHeader(opsToken).kid, "key-1");

    // Rotation: the provider signs with a new key; promgate (same process) fetches it within
    // one refresh, and tokens signed with the old key, still published, keep working.
    const pid = gate.pid;
    await idp.rotate();
    const rotated = await idp.token("ops-bot");
    assertEquals(decodeProtectedHeader(rotated).kid, "key-2");
    await new Promise((r) => setTimeout(r, 1100)); // past keysRefreshSeconds since the last fetch
    const before = idp.jwksFetches;
    const afterRotation = await send("/admin/x", bearer(rotated));
    console.log(
      `  ${"rotation: token signed with the new key".padEnd(54)} ${afterRotation.status}`,
    );
    assertEquals(afterRotation.status, 200, afterRotation.text);
    assertEquals(idp.jwksFetches - before, 1, "one refresh for the new kid");
    assertEquals((await send("/admin/x", bearer(opsToken))).status, 200, "old key still works");
    assertEquals(gate.pid, pid);

    // Never a token in promgate's output.
    await gate.stop();
    const output = gate.stdout() + gate.stderr();
    for (const token of [opsToken, viewer, rotated, briefToken]) {
      assert(!output.includes(token.split(".")[2].slice(0, 24)), "a token reached the log");
    }
    assert(output.includes("refused a JWT"), "refusals are logged (without the token)");
  } finally {
    await gate?.stop();
    await upstream.close();
    await idp.close();
    await otherIdp.close();
    await Deno.remove(dir, { recursive: true });
  }
});
