/**
 * Issue 12 item 2: identity headers spoofed with underscores. CGI, WSGI, Rack and PHP upstreams
 * read `X_WEBAUTH_USER` as `X-Webauth-User` (and join the values when both arrive: a WSGI app saw
 * "admin,alice"), so promgate must drop every client header an upstream could take for one it
 * vouches for (the forwarded user, X-Forwarded-*), whatever the spelling, over HTTP/1.1, HTTP/2
 * and WebSocket upgrades alike; other underscore headers pass.
 */
import { assert, assertEquals } from "../_assert.ts";
import { makeCert, needs, run, startUpstream, tempDir } from "../_util.ts";
import { rawRequest, secretBasic, startGate } from "./_helpers.ts";

const PASSWORD = "underscore-Secr3t";

/** What a client sends to claim another identity, one line per spelling. */
const SPOOFS = [
  "X_WEBAUTH_USER: admin",
  "X-Webauth_User: admin",
  "x_webauth-user: admin",
  "X.Webauth.User: admin",
  "x_forwarded_user: admin",
  "X-Forwarded_User: admin",
  "X_Forwarded_For: 10.0.0.1",
  "X_Forwarded_Proto: https",
  "X_Forwarded_Host: evil.example",
];

/** A header the upstream may use and that promgate vouches nothing about. */
const LEGIT = "X_Api_Key: k-123";

/** The names a CGI-style upstream files the protected headers under. */
const PROTECTED = ["x-webauth-user", "x-forwarded-user", "x-forwarded-for", "x-forwarded-proto"]
  .concat(["x-forwarded-host"]);

function cgi(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "-");
}

/** Every header that reaches the upstream and that a CGI-style server files as a protected one. */
function protectedSeen(headers: Headers): string[] {
  return [...headers].filter(([name]) => PROTECTED.includes(cgi(name)))
    .map(([name, value]) => `${name}: ${value}`).sort();
}

/** An upstream recording every request's headers; it accepts WebSocket upgrades. */
function startHeaderRecorder() {
  const seen: Headers[] = [];
  const upstream = startUpstream((req) => {
    seen.push(new Headers(req.headers));
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("ok\n");
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => socket.close(1000, "seen");
    return response;
  });
  return Object.assign(upstream, { seen });
}

function expected(proto: string, port: number): string[] {
  return [
    "x-forwarded-for: 127.0.0.1",
    `x-forwarded-host: 127.0.0.1:${port}`,
    `x-forwarded-proto: ${proto}`,
    "x-webauth-user: alice",
  ];
}

Deno.test({
  ...needs("htpasswd", "openssl", "curl"),
  name: "a client cannot claim a user or a forwarded address with underscores (h1, h2, WebSocket)",
  async fn() {
    const certDir = await tempDir();
    const upstream = startHeaderRecorder();
    const { certFile, keyFile } = await makeCert(certDir);
    const routes = [{ path: "/app/", upstream: `${upstream.url}/`, forwardUser: "X-WEBAUTH-USER" }];
    const plain = await startGate({ alice: PASSWORD }, routes);
    const tls = await startGate({ alice: PASSWORD }, routes, { tls: { certFile, keyFile } });
    const auth = secretBasic("alice", PASSWORD);
    try {
      // HTTP/1.1, raw: the header lines go out exactly as written.
      const h1 = await rawRequest(
        plain.port,
        [`GET /app/x HTTP/1.1`, `Host: 127.0.0.1:${plain.port}`, `Authorization: ${auth}`]
          .concat(SPOOFS, LEGIT).join("\r\n"),
      );
      assertEquals(h1.status, 200);
      const viaH1 = upstream.seen.at(-1)!;
      const spoofed: Record<string, string[]> = {};
      const check = (via: string, headers: Headers, wanted: string[]) => {
        const got = protectedSeen(headers);
        if (got.join("\n") !== wanted.join("\n")) spoofed[via] = got;
      };
      check("HTTP/1.1", viaH1, expected("http", plain.port));
      assertEquals(viaH1.get("x_api_key"), "k-123", "an unrelated underscore header passes");

      // HTTP/2 over TLS, by the real curl.
      const h2 = await run("curl", [
        "-sS",
        "-k",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        "-H",
        `Authorization: ${auth}`,
        ...SPOOFS.concat(LEGIT).flatMap((line) => ["-H", line]),
        `https://127.0.0.1:${tls.port}/app/x`,
      ]);
      assertEquals(h2.stdout, "200 2", h2.stderr);
      const viaH2 = upstream.seen.at(-1)!;
      check("HTTP/2", viaH2, expected("https", tls.port));
      assertEquals(viaH2.get("x_api_key"), "k-123");

      // A WebSocket upgrade: promgate opens its own handshake upstream with the same headers.
      const ws = await rawRequest(
        plain.port,
        [
          `GET /app/ws HTTP/1.1`,
          `Host: 127.0.0.1:${plain.port}`,
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
          `Authorization: ${auth}`,
        ].concat(SPOOFS, LEGIT).join("\r\n"),
        1500, // promgate closes once the upstream has; this raw client never answers that Close
      );
      assertEquals(ws.status, 101);
      const viaWs = upstream.seen.at(-1)!;
      assert(viaWs.get("upgrade")?.toLowerCase() === "websocket", "the upstream saw the upgrade");
      check("WebSocket", viaWs, expected("http", plain.port));
      assertEquals(viaWs.get("x_api_key"), "k-123");
      assertEquals(spoofed, {}, "the upstream saw client-chosen identity headers");
    } finally {
      await plain.close();
      await tls.close();
      await upstream.close();
      await Deno.remove(certDir, { recursive: true });
    }
  },
});
