/**
 * TRACE, TRACK and CONNECT are never forwarded (issue 12, item 10): promgate answers 405 with an
 * `Allow` header, as nginx answers TRACE, before authentication (the answer is the same on every
 * path, so it reveals no route). TRACE echoes a request back, credentials included; CONNECT asks
 * for a tunnel. Sent as raw HTTP/1.1, since fetch refuses to send these methods.
 */
import { assertEquals } from "../_assert.ts";
import { needs } from "../_util.ts";
import { rawRequest, secretBasic, startGate, startRecorder } from "./_helpers.ts";

Deno.test(
  "TRACE, TRACK and CONNECT get 405 with Allow, logged in or not, and never reach the upstream",
  needs("htpasswd"),
  async () => {
    const upstream = startRecorder();
    const gate = await startGate({ alice: "trace-pw-1" }, [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
      { path: "/healthz", upstream: `${upstream.url}/-/healthy`, auth: false },
    ]);
    try {
      const auth = `Authorization: ${secretBasic("alice", "trace-pw-1")}`;
      const host = `Host: 127.0.0.1:${gate.port}`;
      const wrong: string[] = [];
      for (const [line, parserMayRefuse] of requestLines(upstream.port)) {
        for (const headers of [[host], [host, auth]]) {
          const r = await rawRequest(gate.port, [line, ...headers].join("\r\n"));
          const ours = r.status === 405 && r.headers.get("allow") === ALLOW;
          // 400 from the runtime's parser, or a closed connection: refused before promgate.
          const parser = parserMayRefuse && (r.status === 400 || r.status === 0);
          if (!ours && !parser) {
            const who = headers.length > 1 ? "alice" : "anonymous";
            wrong.push(`${line} (${who}): ${r.status} allow=${r.headers.get("allow")}`);
          }
        }
      }
      assertEquals(wrong, [], "answers other than 405 with Allow");
      assertEquals(upstream.seen.map((s) => s.target), [], "nothing reached the upstream");
      // Ordinary methods still pass.
      const get = await rawRequest(gate.port, `GET /prometheus/x HTTP/1.1\r\n${host}\r\n${auth}`);
      assertEquals(get.status, 200);
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
);

const ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/**
 * Request lines, and whether a runtime's own HTTP parser may refuse them before promgate sees
 * them (measured: Deno answers 400 to `CONNECT /x` and both to `TRACE *`; Bun closes the
 * connection on `TRACK` and on a lower-case method). Bun hands `CONNECT /x` to promgate.
 */
function requestLines(upstreamPort: number): [string, boolean][] {
  return [
    ["TRACE /prometheus/api/v1/query HTTP/1.1", false],
    ["TRACE /healthz HTTP/1.1", false],
    ["TRACE /nope HTTP/1.1", false],
    ["TRACE * HTTP/1.1", true],
    ["trace /prometheus/ HTTP/1.1", true],
    ["TRACK /prometheus/ HTTP/1.1", true],
    ["CONNECT /x HTTP/1.1", true],
    ["CONNECT /prometheus/x HTTP/1.1", true],
    [`CONNECT 127.0.0.1:${upstreamPort} HTTP/1.1`, false],
  ];
}
