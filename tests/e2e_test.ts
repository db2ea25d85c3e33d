/**
 * End-to-end: the real promgate process, a real upstream, real TLS, real fetch and curl clients.
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { startTestUpstream } from "./_upstream.ts";
import {
  basic,
  freePort,
  makeCert,
  makeHtpasswd,
  needs,
  run,
  startPromgate,
  tempDir,
} from "./_util.ts";

const PASSWORD = "s3cret-Pässword";

async function setup(options: { tls?: "ec" | "rsa:2048" | "rsa:4096"; accessLog?: unknown } = {}) {
  const dir = await tempDir();
  const upstream = startTestUpstream();
  await makeHtpasswd(`${dir}/.htpasswd`, { admin: PASSWORD, other: "other-pw" });
  const tls = options.tls ? await makeCert(dir, options.tls) : null;
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port: 0 },
    ...(tls ? { tls: { certFile: "cert.pem", keyFile: "key.pem" } } : {}),
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    routes: [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
      { path: "/prometheus/api/", upstream: `${upstream.url}/echo/api/` },
      { path: "/healthz", upstream: `${upstream.url}/echo/healthy`, auth: false },
      { path: "/raw", upstream: upstream.url },
    ],
    ...(options.accessLog !== undefined ? { accessLog: options.accessLog } : {}),
  });
  const client = tls
    ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(tls.certFile)] })
    : undefined;
  const get = (path: string, init: RequestInit = {}) =>
    fetch(gate.url + path, { ...init, client, redirect: "manual" } as RequestInit);
  return {
    dir,
    upstream,
    gate,
    get,
    certFile: tls?.certFile,
    async close() {
      client?.close();
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const auth = { headers: { authorization: basic("admin", PASSWORD) } };

Deno.test("rejects an anonymous request with 401 and the realm", needs("htpasswd"), async () => {
  const s = await setup();
  try {
    const r = await s.get("/prometheus/graph");
    assertEquals(r.status, 401);
    assertEquals(r.headers.get("www-authenticate"), 'Basic realm="Prometheus", charset="UTF-8"');
    await r.body?.cancel();
    const unknown = await s.get("/no/such/route");
    assertEquals(unknown.status, 401, "unknown paths answer 401 too, revealing no routes");
    await unknown.body?.cancel();
  } finally {
    await s.close();
  }
});

Deno.test(
  "rejects a wrong password, an unknown user and malformed headers with 401",
  needs("htpasswd"),
  async () => {
    const s = await setup();
    try {
      for (
        const header of [
          basic("admin", "wrong"),
          basic("nobody", PASSWORD),
          "Basic !!!notbase64",
          "Basic " + btoa("no-colon"),
          "Bearer abc",
          "Basic",
          "Basic " + btoa("\xff\xfe:\xff"),
        ]
      ) {
        const r = await s.get("/prometheus/echo", { headers: { authorization: header } });
        assertEquals(r.status, 401, header);
        await r.body?.cancel();
      }
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "proxies an authenticated request with the prefix replaced",
  needs("htpasswd"),
  async () => {
    const s = await setup();
    try {
      const r = await s.get("/prometheus/echo/x%20y?q=up&a=1", auth);
      assertEquals(r.status, 200);
      const body = await r.json();
      assertEquals(body.path, "/echo/x%20y");
      assertEquals(body.search, "?q=up&a=1");
      assertEquals(body.headers.authorization, undefined, "Authorization is not forwarded");
      assertEquals(body.headers["x-forwarded-for"], "127.0.0.1");
      assertEquals(body.headers["x-forwarded-proto"], "http");
      assertEquals(body.headers["x-forwarded-host"], new URL(s.gate.url).host);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "passes a chunked upload on, and the upstream's gzip answer to it byte-correct",
  needs("htpasswd", "curl"),
  async () => {
    const s = await setup();
    try {
      const data = "x".repeat(300_000) + "end";
      const expected = {
        size: data.length,
        sha256: createHash("sha256").update(data).digest("hex"),
      };
      // The ?gzip upstream compresses regardless; a client that did not ask for gzip would get
      // it raw from any proxy, so that case is left out.
      const cases: [string, string[]][] = [
        ["/prometheus/upload", []],
        ["/prometheus/upload", ["--compressed"]],
        ["/prometheus/upload?gzip", ["--compressed"]],
      ];
      for (const [path, compressed] of cases) {
        // `-T -` reads stdin, so curl sends the body chunked, without a Content-Length.
        const out = await run("curl", [
          "-sS",
          ...compressed,
          "-u",
          `admin:${PASSWORD}`,
          "-T",
          "-",
          "-X",
          "POST",
          `${s.gate.url}${path}`,
        ], { stdin: data });
        assertEquals(out.code, 0, out.stderr);
        assertEquals(JSON.parse(out.stdout), expected, `${path} ${compressed}`);
      }
    } finally {
      await s.close();
    }
  },
);

Deno.test("routes by path segment with the longest prefix winning", needs("htpasswd"), async () => {
  const s = await setup();
  try {
    const cases: [string, number, string | null][] = [
      ["/prometheus/api/v1/query", 200, "/echo/api/v1/query"],
      ["/prometheus/echo/a", 200, "/echo/a"],
      ["/prometheusfoo/echo", 404, null],
      ["/raw/echo", 404, null], // a bare-origin upstream gets the path unchanged: /raw/echo
      ["/healthz", 200, "/echo/healthy"],
      ["/healthzz", 404, null],
    ];
    for (const [path, status, upstreamPath] of cases) {
      const r = await s.get(path, auth);
      assertEquals(r.status, status, path);
      if (upstreamPath) assertEquals((await r.json()).path, upstreamPath, path);
      else await r.body?.cancel();
    }
    const redirect = await s.get("/prometheus?x=1", auth);
    assertEquals(redirect.status, 301);
    assertEquals(redirect.headers.get("location"), "/prometheus/?x=1");
    await redirect.body?.cancel();
  } finally {
    await s.close();
  }
});

Deno.test("serves a public route without credentials", needs("htpasswd"), async () => {
  const s = await setup();
  try {
    const r = await s.get("/healthz");
    assertEquals(r.status, 200);
    assertEquals((await r.json()).path, "/echo/healthy");
  } finally {
    await s.close();
  }
});

Deno.test("maps upstream redirects back under the route", needs("htpasswd"), async () => {
  const s = await setup();
  try {
    const cases: [string, string][] = [
      ["/prometheus/redirect-root", "/prometheus/echo/target?x=1"],
      ["/prometheus/redirect-absolute", "/prometheus/echo/abs"],
      ["/prometheus/redirect-elsewhere", "https://example.org/x"],
    ];
    for (const [path, location] of cases) {
      const r = await s.get(path, auth);
      assertEquals(r.headers.get("location"), location, path);
      await r.body?.cancel();
    }
  } finally {
    await s.close();
  }
});

Deno.test("drops hop-by-hop headers and keeps every Set-Cookie", needs("htpasswd"), async () => {
  const s = await setup();
  try {
    const r = await s.get("/prometheus/hop", auth);
    assertEquals(r.headers.get("x-secret"), null);
    assertEquals(r.headers.get("keep-alive"), null);
    await r.body?.cancel();
    const c = await s.get("/prometheus/cookies", auth);
    assertEquals(c.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
    await c.body?.cancel();
    const e = await s.get("/prometheus/echo", {
      headers: { ...auth.headers, connection: "x-drop", "x-drop": "1", te: "trailers" },
    });
    const seen = (await e.json()).headers;
    assertEquals(seen["x-drop"], undefined);
    assertEquals(seen.te, undefined);
  } finally {
    await s.close();
  }
});

Deno.test(
  "serves HTTPS with an RSA-4096 certificate to curl",
  needs("htpasswd", "curl", "openssl"),
  async () => {
    const s = await setup({ tls: "rsa:4096" });
    try {
      const url = s.gate.url.replace("127.0.0.1", "localhost");
      const head = await run("curl", [
        "-sS",
        "--head",
        `${url}/prometheus/graph`,
        "--cacert",
        s.certFile!,
      ]);
      assertMatch(head.stdout, /^HTTP\/2 401/, head.stderr);
      assertMatch(head.stdout, /www-authenticate: Basic realm="Prometheus", charset="UTF-8"/i);
      const ok = await run("curl", [
        "-sS",
        "-u",
        `admin:${PASSWORD}`,
        "--cacert",
        s.certFile!,
        `${url}/prometheus/echo/m`,
      ]);
      assertEquals(JSON.parse(ok.stdout).path, "/echo/m");
      const insecure = await run("curl", [
        "-sSk",
        "-u",
        `admin:${PASSWORD}`,
        `${url}/prometheus/echo/k`,
      ]);
      assertEquals(JSON.parse(insecure.stdout).headers["x-forwarded-proto"], "https");
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "offers HTTP/2 by ALPN and HTTP/1.1 to clients that ask",
  needs("htpasswd", "curl", "openssl"),
  async () => {
    const s = await setup({ tls: "ec" });
    try {
      for (const [flag, version] of [["--http2", "2"], ["--http1.1", "1.1"]]) {
        const r = await run("curl", [
          "-sS",
          flag,
          "-o",
          "/dev/null",
          "-w",
          "%{http_version} %{http_code}",
          "-u",
          `admin:${PASSWORD}`,
          "--cacert",
          s.certFile!,
          `${s.gate.url}/prometheus/echo`,
        ]);
        assertEquals(r.stdout, `${version} 200`);
      }
      const head = await run("curl", [
        "-sS",
        "--http2",
        "-I",
        "-u",
        `admin:${PASSWORD}`,
        "--cacert",
        s.certFile!,
        `${s.gate.url}/prometheus/chunked`,
      ]);
      assertMatch(head.stdout, /^HTTP\/2 200/, "HEAD over HTTP/2 carries no body and no reset");
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "writes one combined access-log line per request without secrets",
  needs("htpasswd"),
  async () => {
    const s = await setup();
    try {
      const r = await s.get("/prometheus/echo/log?a=b", {
        headers: { ...auth.headers, "user-agent": "curl/8.0", referer: "http://r/" },
      });
      await r.body?.cancel();
      const line = await s.gate.waitForStdout(/GET \/prometheus\/echo\/log/);
      assertMatch(
        line,
        /^127\.0\.0\.1 - admin \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/prometheus\/echo\/log\?a=b HTTP\/1\.1" 200 \d+ "http:\/\/r\/" "curl\/8\.0" \d+\.\d{3}$/,
      );
      const denied = await s.get("/prometheus/x", {
        headers: { authorization: basic("admin", "bad-guess") },
      });
      await denied.body?.cancel();
      const deniedLine = await s.gate.waitForStdout(/GET \/prometheus\/x /);
      assertMatch(deniedLine, / 401 /);
      const all = s.gate.stdout() + s.gate.stderr();
      for (const secret of [PASSWORD, "bad-guess", basic("admin", PASSWORD).slice(6)]) {
        assert(!all.includes(secret), "a secret reached the logs");
      }
    } finally {
      await s.close();
    }
  },
);

Deno.test("writes JSON access-log lines when asked", needs("htpasswd"), async () => {
  const s = await setup({ accessLog: { format: "json" } });
  try {
    const r = await s.get("/prometheus/echo/j", auth);
    await r.body?.cancel();
    const entry = JSON.parse(await s.gate.waitForStdout(/"uri":"\/prometheus\/echo\/j"/));
    assertEquals(entry.remote_user, "admin");
    assertEquals(entry.status, 200);
    assertEquals(entry.route, "/prometheus/");
    assertEquals(entry.protocol, "HTTP/1.1");
    assert(entry.duration_ms >= 0);
  } finally {
    await s.close();
  }
});

Deno.test(
  "answers 502 when the upstream refuses and 504 when it is too slow",
  needs("htpasswd"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    const closedPort = freePort(); // nothing listens there: connections are refused
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: PASSWORD });
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [
        { path: "/down/", upstream: `http://127.0.0.1:${closedPort}/` },
        { path: "/slow/", upstream: `${upstream.url}/`, timeoutSeconds: 0.3 },
      ],
    });
    try {
      const down = await fetch(`${gate.url}/down/x`, auth);
      assertEquals(down.status, 502);
      assertEquals(await down.text(), "502 Bad Gateway\n");
      const slow = await fetch(`${gate.url}/slow/slow?ms=2000`, auth);
      assertEquals(slow.status, 504);
      await slow.body?.cancel();
      await gate.waitForStdout(/GET \/slow\/slow\?ms=2000 HTTP\/1\.1" 504/);
      assertMatch(
        gate.stderr(),
        new RegExp(`upstream http://127.0.0.1:${closedPort}/ failed: .*refused`, "i"),
      );
      assertStringIncludes(gate.stderr(), "sent no response headers within 0.3 s");
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(
    `finishes an in-flight request on ${signal} and exits 0`,
    needs("htpasswd"),
    async () => {
      const s = await setup();
      const pending = s.get("/prometheus/slow?ms=700", auth);
      await new Promise((r) => setTimeout(r, 200));
      const code = s.gate.stop(signal);
      const r = await pending;
      assertEquals(r.status, 200);
      assertEquals(await r.text(), "finally\n");
      assertEquals(await code, 0);
      await s.upstream.close();
    },
  );
}

Deno.test(
  "serves HTTPS with a generated self-signed certificate whose fingerprint it prints",
  needs("htpasswd", "curl", "openssl"),
  async () => {
    const dir = await tempDir();
    const upstream = startTestUpstream();
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: PASSWORD });
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      tls: { selfSigned: true },
      auth: { htpasswdFile: ".htpasswd" },
      routes: [{ path: "/prometheus/", upstream: `${upstream.url}/` }],
    });
    try {
      const printed = /SHA-256 fingerprint ([0-9A-F:]{95})/.exec(gate.stderr())?.[1];
      assert(printed, gate.stderr());
      const ok = await run("curl", [
        "-sSk",
        "-u",
        `admin:${PASSWORD}`,
        `${gate.url}/prometheus/echo`,
      ]);
      assertEquals(JSON.parse(ok.stdout).path, "/echo");
      const pem = await run("sh", [
        "-c",
        `openssl s_client -connect 127.0.0.1:${gate.port} -servername localhost </dev/null ` +
        `2>/dev/null | openssl x509 -noout -fingerprint -sha256 -ext subjectAltName`,
      ]);
      assertStringIncludes(pem.stdout, `Fingerprint=${printed}`);
      assertMatch(pem.stdout, /DNS:localhost, IP Address:127\.0\.0\.1/);
    } finally {
      assertEquals(await gate.stop(), 0);
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
