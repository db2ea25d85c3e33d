/**
 * Issue 6 item 7 (live reload): the htpasswd file and the certificate/key are re-read when they
 * change, the config on SIGHUP; a new version that does not load is logged and the last good one
 * keeps serving; requests in flight are not cut; SIGTERM drains for shutdownGraceSeconds.
 * Real promgate processes, real htpasswd files (Apache's htpasswd), real TLS (openssl).
 */
import { X509Certificate } from "node:crypto";
import { assert, assertEquals, assertStringIncludes } from "../_assert.ts";
import {
  freePort,
  makeCert,
  makeHtpasswd,
  needs,
  promgateCommand,
  run,
  startPromgate,
  startUpstream,
  tempDir,
  type Upstream,
} from "../_util.ts";
import { type Gate, rawGet, secret, secretBasic, startGate, startRecorder } from "./_helpers.ts";

/** Waits until promgate's stderr matches `pattern` at least `count` times. */
async function waitForLog(
  gate: { stderr(): string },
  pattern: RegExp,
  count = 1,
  timeoutMs = 10_000,
): Promise<void> {
  const global = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : "g");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((gate.stderr().match(global)?.length ?? 0) >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${count}x ${pattern} on stderr within ${timeoutMs} ms:\n${gate.stderr()}`);
}

/** GET `path` with an Authorization header (or none); returns status and body. */
async function get(
  gate: Gate,
  path: string,
  authorization?: string,
): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const r = await fetch(gate.url + path, { headers });
  return { status: r.status, body: await r.text() };
}

/** Rewrites the htpasswd file the way `mv new .htpasswd` does: a new file renamed over it. */
async function replaceHtpasswd(gate: Gate, users: Record<string, string>): Promise<void> {
  const next = `${gate.dir}/.htpasswd.new`;
  await makeHtpasswd(next, users);
  await Deno.rename(next, `${gate.dir}/.htpasswd`);
}

/** Writes `config` over promgate's config file and sends SIGHUP. */
async function rewriteConfigAndHup(gate: Gate, config: unknown): Promise<void> {
  await Deno.writeTextFile(`${gate.dir}/config.json`, JSON.stringify(config, null, 2));
  Deno.kill(gate.pid, "SIGHUP");
}

const AUTH = { realm: "Prometheus", htpasswdFile: ".htpasswd" };

/**
 * An upstream whose `/slow` answers after `delayMs` with a body in two parts 300 ms apart, and
 * whose `/endless` streams a line every 100 ms until the client goes away. `started` counts the
 * slow and endless requests that arrived. Everything else answers `name`.
 */
function startSlowUpstream(name: string, delayMs = 1500): Upstream & { started: () => number } {
  let started = 0;
  const upstream = startUpstream(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/slow") {
      started++;
      await new Promise((r) => setTimeout(r, delayMs));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`${name} part 1\n`));
          timer = setTimeout(() => {
            controller.enqueue(new TextEncoder().encode(`${name} part 2\n`));
            controller.close();
          }, 300);
        },
        cancel: () => clearTimeout(timer),
      });
      return new Response(body, { headers: { "content-type": "text/plain" } });
    }
    if (path === "/endless") {
      started++;
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => {
            try {
              controller.enqueue(new TextEncoder().encode("tick\n"));
            } catch {
              clearInterval(timer);
            }
          }, 100);
        },
        cancel: () => clearInterval(timer),
      });
      return new Response(body, { headers: { "content-type": "text/plain" } });
    }
    return new Response(`${name}\n`);
  });
  return Object.assign(upstream, { started: () => started });
}

async function until(probe: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// -- htpasswd ------------------------------------------------------------------------------------

Deno.test({
  ...needs("htpasswd"),
  name: "a user added to the htpasswd file can log in, and changed or removed ones cannot",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ alice: "alice-old-pw" }, [
      { path: "/prometheus/", upstream: `${recorder.url}/` },
    ]);
    try {
      const aliceOld = secretBasic("alice", "alice-old-pw");
      // Twice, so the second answer comes from the verified-credential cache.
      assertEquals((await get(gate, "/prometheus/x", aliceOld)).status, 200);
      assertEquals((await get(gate, "/prometheus/x", aliceOld)).status, 200);
      secret("alice-new-pw");
      secret("bob-pw-1234");
      await replaceHtpasswd(gate, { alice: "alice-new-pw", bob: "bob-pw-1234" });
      await waitForLog(gate, /reload: htpasswd \S+\.htpasswd: 2 users/);
      assertEquals((await get(gate, "/prometheus/x", aliceOld)).status, 401);
      assertEquals(
        (await get(gate, "/prometheus/x", secretBasic("alice", "alice-new-pw"))).status,
        200,
      );
      const bob = secretBasic("bob", "bob-pw-1234");
      assertEquals((await get(gate, "/prometheus/x", bob)).status, 200);

      await replaceHtpasswd(gate, { alice: "alice-new-pw" });
      await waitForLog(gate, /reload: htpasswd \S+\.htpasswd: 1 users/);
      assertEquals((await get(gate, "/prometheus/x", bob)).status, 401);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "an invalid new htpasswd file is refused with a log line and the old users keep working",
  async fn() {
    const recorder = startRecorder();
    const gate = await startGate({ alice: "alice-keep-pw" }, [
      { path: "/prometheus/", upstream: `${recorder.url}/` },
    ]);
    try {
      const alice = secretBasic("alice", "alice-keep-pw");
      assertEquals((await get(gate, "/prometheus/x", alice)).status, 200);
      // A plain-text password (htpasswd -p), which promgate refuses at start too.
      const good = await Deno.readTextFile(`${gate.dir}/.htpasswd`);
      await Deno.writeTextFile(
        `${gate.dir}/.htpasswd`,
        good + `bob:${secret("bob-plaintext-pw")}\n`,
      );
      await waitForLog(gate, /reload: kept the previous users: \S+\.htpasswd:2: /);
      assertEquals((await get(gate, "/prometheus/x", alice)).status, 200);
      const bob = secretBasic("bob", "bob-plaintext-pw");
      assertEquals((await get(gate, "/prometheus/x", bob)).status, 401);
      const line = gate.stderr().split("\n").find((l) => l.includes("kept the previous users"));
      assert(line?.startsWith("promgate: reload: "), gate.stderr());
      // A file that does not load is not retried until it changes again: one line, not one a poll.
      await new Promise((r) => setTimeout(r, 2500));
      assertEquals(gate.stderr().split("kept the previous users").length, 2, gate.stderr());
    } finally {
      await gate.close(); // also checks that no password or hash was printed
      await recorder.close();
    }
  },
});

// -- reload gauges (issue 12 item 11) ----------------------------------------------------------

/** The reload gauges as one scrape of /metrics on a new connection (any server thread) shows. */
async function reloadGauges(gate: Gate): Promise<{ successful: number; since: number }> {
  const scrape = await rawGet(gate.port, "/metrics");
  const value = (name: string) => {
    const line = scrape.body.split("\n").find((l) => l.startsWith(`${name} `));
    if (!line) {
      throw new Error(`no ${name} in the scrape (status ${scrape.status}):\n${scrape.body}`);
    }
    return Number(line.slice(name.length + 1));
  };
  return {
    successful: value("promgate_config_last_reload_successful"),
    since: value("promgate_config_last_reload_success_timestamp_seconds"),
  };
}

/** Scrapes until the gauges say `successful`, then `count` more times; all must agree. */
async function settledGauges(gate: Gate, successful: number, count = 6) {
  await untilAsync(async () => (await reloadGauges(gate)).successful === successful, "gauges");
  const seen = [];
  for (let i = 0; i < count; i++) seen.push(await reloadGauges(gate));
  assertEquals(new Set(seen.map((g) => JSON.stringify(g))).size, 1, JSON.stringify(seen));
  return seen[0];
}

async function untilAsync(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const METRICS = { metrics: { path: "/metrics", auth: false } };

for (const workers of [1, 2]) {
  Deno.test({
    ...needs("htpasswd"),
    name: `an htpasswd file refused for one bad line shows as promgate_config_last_reload_` +
      `successful 0 on every scrape (workers: ${workers}) until it is fixed`,
    async fn() {
      const recorder = startRecorder();
      const gate = await startGate({ alice: "gauge-alice-pw", bob: "gauge-bob-pw" }, [
        { path: "/prometheus/", upstream: `${recorder.url}/` },
      ], { ...METRICS, workers });
      const [alice, bob] = [
        secretBasic("alice", "gauge-alice-pw"),
        secretBasic("bob", "gauge-bob-pw"),
      ];
      try {
        if (workers > 1) assertStringIncludes(gate.stderr(), `${workers} server threads`);
        const atStart = await settledGauges(gate, 1);
        assert(Math.abs(atStart.since - Date.now() / 1000) < 60, `start-up: ${atStart.since}`);
        // Bob is removed, but one line of the new file is a plain-text password.
        await makeHtpasswd(`${gate.dir}/.htpasswd.new`, { alice: "gauge-alice-pw" });
        const next = await Deno.readTextFile(`${gate.dir}/.htpasswd.new`);
        await Deno.writeTextFile(`${gate.dir}/.htpasswd`, next + `carol:${secret("carol-pw-x")}\n`);
        await waitForLog(gate, /reload: kept the previous users: \S+\.htpasswd:2: /);
        const refused = await settledGauges(gate, 0);
        assertEquals(refused.since, atStart.since, "the timestamp is the last success");
        // The last good users keep working (the rule for a refused reload); the gauge says so.
        assertEquals((await get(gate, "/prometheus/x", bob)).status, 200);

        await replaceHtpasswd(gate, { alice: "gauge-alice-pw" });
        await waitForLog(gate, /reload: htpasswd \S+\.htpasswd: 1 users/);
        const fixed = await settledGauges(gate, 1);
        assert(fixed.since > atStart.since, `${fixed.since} after ${atStart.since}`);
        assertEquals((await get(gate, "/prometheus/x", bob)).status, 401);
        assertEquals((await get(gate, "/prometheus/x", alice)).status, 200);
      } finally {
        await gate.close();
        await recorder.close();
      }
    },
  });
}

Deno.test({
  ...needs("htpasswd"),
  name: "a good htpasswd change does not clear the gauge while the config SIGHUP refused is " +
    "still broken; a SIGHUP that loads does",
  async fn() {
    const recorder = startRecorder();
    const routes = [{ path: "/prometheus/", upstream: `${recorder.url}/` }];
    const gate = await startGate({ admin: "gauge-hup-pw" }, routes, METRICS);
    const config = (extra: Record<string, unknown> = {}) => ({
      listen: { hostname: "127.0.0.1", port: 0 },
      auth: AUTH,
      routes: [{ ...routes[0], ...extra }],
      ...METRICS,
    });
    try {
      const atStart = await settledGauges(gate, 1, 1);
      await rewriteConfigAndHup(gate, config({ auht: false }));
      await waitForLog(gate, /reload: kept the previous config/);
      assertEquals((await settledGauges(gate, 0, 1)).since, atStart.since);

      await replaceHtpasswd(gate, { admin: "gauge-hup-pw", other: "gauge-other-pw" });
      await waitForLog(gate, /reload: htpasswd \S+: 2 users/);
      await waitForLog(gate, /reload: still serving the previous version of: config/);
      assertEquals((await settledGauges(gate, 0, 1)).since, atStart.since);

      await rewriteConfigAndHup(gate, config());
      await waitForLog(gate, /reload: config \S+config\.json: 1 routes/);
      assert((await settledGauges(gate, 1, 1)).since > atStart.since);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "a refused API tokens file keeps the gauge at 0 through a good htpasswd change, until " +
    "the tokens file loads",
  async fn() {
    const recorder = startRecorder();
    const tokensDir = await tempDir();
    const tokensFile = `${tokensDir}/tokens`;
    await Deno.writeTextFile(tokensFile, "# no tokens yet\n");
    const gate = await startGate({ admin: "gauge-tokens-pw" }, [
      { path: "/prometheus/", upstream: `${recorder.url}/` },
    ], {
      auth: { realm: "Prometheus", htpasswdFile: ".htpasswd", tokensFile },
      ...METRICS,
    });
    try {
      const atStart = await settledGauges(gate, 1, 1);
      await Deno.writeTextFile(tokensFile, "prometheus:not-a-hash\n");
      await waitForLog(gate, /reload: kept the previous tokens: \S+tokens:1: /);
      assertEquals((await settledGauges(gate, 0, 1)).since, atStart.since);

      // Before tokens had a reload kind of their own, this cleared the failure.
      await replaceHtpasswd(gate, { admin: "gauge-tokens-pw", other: "gauge-other-pw" });
      await waitForLog(gate, /reload: htpasswd \S+: 2 users/);
      await waitForLog(gate, /reload: still serving the previous version of: tokens/);
      assertEquals((await settledGauges(gate, 0, 1)).since, atStart.since);

      await Deno.writeTextFile(tokensFile, "");
      await waitForLog(gate, /reload: tokens \S+tokens: 0 tokens/);
      assert((await settledGauges(gate, 1, 1)).since > atStart.since);
    } finally {
      await gate.close();
      await recorder.close();
      await Deno.remove(tokensDir, { recursive: true });
    }
  },
});

// -- SIGHUP ------------------------------------------------------------------------------------

Deno.test({
  ...needs("htpasswd"),
  name: "SIGHUP serves a new route; a new listen address is logged as needing a restart",
  async fn() {
    const first = startRecorder();
    const second = startSlowUpstream("second");
    const routes = [{ path: "/prometheus/", upstream: `${first.url}/` }];
    const gate = await startGate({ admin: "hup-admin-pw" }, routes);
    const admin = secretBasic("admin", "hup-admin-pw");
    try {
      assertEquals((await get(gate, "/other/x", admin)).status, 404);
      const otherPort = freePort();
      await rewriteConfigAndHup(gate, {
        listen: { hostname: "127.0.0.1", port: otherPort },
        auth: { ...AUTH, realm: "Reloaded" },
        routes: [...routes, { path: "/other/", upstream: `${second.url}/` }],
      });
      await waitForLog(gate, /reload: config \S+config\.json: 2 routes/);
      assertStringIncludes(gate.stderr(), "SIGHUP: reloading the config");
      assertStringIncludes(gate.stderr(), `listen changed to 127.0.0.1:${otherPort}; restart`);
      assertEquals(await get(gate, "/other/x", admin), { status: 200, body: "second\n" });
      assertEquals((await get(gate, "/prometheus/x", admin)).status, 200);
      const r = await fetch(`${gate.url}/prometheus/x`);
      await r.body?.cancel();
      assertEquals(r.headers.get("www-authenticate"), 'Basic realm="Reloaded", charset="UTF-8"');
    } finally {
      await gate.close();
      await first.close();
      await second.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "SIGHUP with an invalid config logs why and keeps serving the old config",
  async fn() {
    const recorder = startRecorder();
    const routes = [{ path: "/prometheus/", upstream: `${recorder.url}/` }];
    const gate = await startGate({ admin: "bad-hup-pw" }, routes);
    const admin = secretBasic("admin", "bad-hup-pw");
    try {
      await rewriteConfigAndHup(gate, {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: AUTH,
        routes: [{ path: "/prometheus/", upstream: `${recorder.url}/`, auht: false }],
      });
      await waitForLog(gate, /reload: kept the previous config/);
      await waitForLog(gate, /reload: \S+config\.json: routes\[0\]: unknown key "auht"/);
      assertEquals((await get(gate, "/prometheus/x", admin)).status, 200);
      assertEquals((await get(gate, "/prometheus/x")).status, 401);
      // An htpasswd file that does not load makes the whole new config fail, too.
      await Deno.writeTextFile(`${gate.dir}/broken.htpasswd`, "carol\n");
      await rewriteConfigAndHup(gate, {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: { ...AUTH, htpasswdFile: "broken.htpasswd" },
        routes: [{ path: "/public/", upstream: `${recorder.url}/`, auth: false }, ...routes],
      });
      await waitForLog(gate, /reload: kept the previous config/, 2);
      await waitForLog(gate, /reload: \S+broken\.htpasswd:1: expected `user:hash`/);
      assertEquals((await get(gate, "/public/x")).status, 401);
      assertEquals((await get(gate, "/prometheus/x", admin)).status, 200);
    } finally {
      await gate.close();
      await recorder.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "a request in flight during a reload completes on the old config, and is logged",
  async fn() {
    const before = startSlowUpstream("before");
    const after = startSlowUpstream("after");
    const gate = await startGate({ admin: "inflight-pw" }, [
      { path: "/prometheus/", upstream: `${before.url}/` },
    ]);
    const admin = secretBasic("admin", "inflight-pw");
    try {
      const pending = get(gate, "/prometheus/slow", admin);
      await until(() => before.started() === 1, "the request to reach the upstream");
      await rewriteConfigAndHup(gate, {
        listen: { hostname: "127.0.0.1", port: 0 },
        auth: AUTH,
        routes: [{ path: "/prometheus/", upstream: `${after.url}/` }],
      });
      await waitForLog(gate, /reload: config /);
      assertEquals(await get(gate, "/prometheus/x", admin), { status: 200, body: "after\n" });
      assertEquals(await pending, { status: 200, body: "before part 1\nbefore part 2\n" });
      await gate.waitForStdout(/"GET \/prometheus\/slow HTTP\/1\.1" 200 /);
    } finally {
      await gate.close();
      await before.close();
      await after.close();
    }
  },
});

// -- SIGTERM -------------------------------------------------------------------------------------

Deno.test({
  ...needs("htpasswd"),
  name: "SIGTERM lets a request in flight finish, then exits 0",
  async fn() {
    const upstream = startSlowUpstream("slow");
    const gate = await startGate({ admin: "term-pw" }, [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
    ], { shutdownGraceSeconds: 8 });
    const admin = secretBasic("admin", "term-pw");
    try {
      const pending = get(gate, "/prometheus/slow", admin);
      await until(() => upstream.started() === 1, "the request to reach the upstream");
      const code = gate.stop("SIGTERM");
      assertEquals(await pending, { status: 200, body: "slow part 1\nslow part 2\n" });
      assertEquals(await code, 0);
      assertStringIncludes(gate.stderr(), "SIGTERM: finishing in-flight requests (for up to 8 s)");
      assert(!gate.stderr().includes("ran out"), gate.stderr());
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

Deno.test({
  ...needs("htpasswd"),
  name: "SIGTERM cuts a request that outlasts shutdownGraceSeconds at the grace",
  async fn() {
    const upstream = startSlowUpstream("endless", 0);
    const gate = await startGate({ admin: "grace-pw" }, [
      { path: "/prometheus/", upstream: `${upstream.url}/` },
    ], { shutdownGraceSeconds: 1 });
    const admin = secretBasic("admin", "grace-pw");
    try {
      const response = await fetch(`${gate.url}/prometheus/endless`, {
        headers: { authorization: admin },
      });
      assertEquals(response.status, 200);
      const body = response.text().then(() => "complete", () => "cut");
      const signalled = Date.now();
      const code = await gate.stop("SIGTERM");
      const took = Date.now() - signalled;
      assertEquals(code, 0);
      assert(took >= 900 && took < 8000, `exited ${took} ms after SIGTERM`);
      assertEquals(await body, "cut");
      assertStringIncludes(gate.stderr(), "shutdown grace of 1 s ran out");
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});

// -- certificate -------------------------------------------------------------------------------

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is shown. */
async function servedFingerprint(port: number): Promise<string> {
  const r = await run("sh", [
    "-c",
    `openssl s_client -connect 127.0.0.1:${port} -servername localhost </dev/null 2>/dev/null` +
    " | openssl x509 -noout -fingerprint -sha256",
  ]);
  const found = /=([0-9A-F:]{95})/i.exec(r.stdout)?.[1];
  if (!found) throw new Error(`no certificate from port ${port}: ${r.stdout} ${r.stderr}`);
  return found.toUpperCase();
}

const fingerprintOf = async (file: string) =>
  new X509Certificate(await Deno.readTextFile(file)).fingerprint256;

Deno.test({
  ...needs("htpasswd", "openssl", "curl"),
  name: "new TLS connections get a replaced certificate; a key that does not match is refused",
  async fn() {
    const dir = await tempDir();
    const upstream = startSlowUpstream("tls");
    await makeHtpasswd(`${dir}/.htpasswd`, { admin: "tls-reload-pw" });
    const { certFile, keyFile } = await makeCert(dir);
    const gate = await startPromgate(dir, {
      listen: { hostname: "127.0.0.1", port: 0 },
      tls: { certFile: "cert.pem", keyFile: "key.pem" },
      auth: AUTH,
      routes: [{ path: "/prometheus/", upstream: `${upstream.url}/` }],
    });
    const curl = (cacert: string, path: string) =>
      run("curl", ["-sS", "--cacert", cacert, "-u", "admin:tls-reload-pw", gate.url + path]);
    try {
      const oldPrint = await fingerprintOf(certFile);
      assertEquals(await servedFingerprint(gate.port), oldPrint);
      await Deno.copyFile(certFile, `${dir}/old-cert.pem`);

      // A request in flight on the old certificate's connection must finish.
      const pending = curl(`${dir}/old-cert.pem`, "/prometheus/slow");
      await until(() => upstream.started() === 1, "the request to reach the upstream");

      await Deno.mkdir(`${dir}/new`);
      const fresh = await makeCert(`${dir}/new`);
      const newPrint = await fingerprintOf(fresh.certFile);
      assert(newPrint !== oldPrint);
      // First only the certificate: its key is still the old one, so it must not be served.
      await Deno.copyFile(fresh.certFile, `${dir}/cert.pem.tmp`);
      await Deno.rename(`${dir}/cert.pem.tmp`, certFile);
      await waitForLog(gate, /reload: kept the previous certificate: .*does not belong/);
      assertEquals(await servedFingerprint(gate.port), oldPrint);
      // Then the key: now the pair loads and new connections see it.
      await Deno.copyFile(fresh.keyFile, `${dir}/key.pem.tmp`);
      await Deno.rename(`${dir}/key.pem.tmp`, keyFile);
      await waitForLog(gate, /reload: certificate \S+cert\.pem: serving it to new connections/);
      assertEquals(await servedFingerprint(gate.port), newPrint);
      assertStringIncludes(gate.stderr(), `SHA-256 fingerprint ${newPrint}`);

      const finished = await pending;
      assertEquals(finished.stdout, "tls part 1\ntls part 2\n", finished.stderr);
      const again = await curl(fresh.certFile, "/prometheus/x");
      assertEquals(again.stdout, "tls\n", again.stderr);

      // The port is still promgate's alone: a second promgate on it must fail to start.
      const other = `${dir}/second`;
      await Deno.mkdir(other);
      await Deno.writeTextFile(
        `${other}/config.json`,
        JSON.stringify({
          listen: { hostname: "127.0.0.1", port: gate.port },
          tls: { certFile: certFile, keyFile: keyFile },
          auth: { htpasswdFile: `${dir}/.htpasswd` },
          routes: [{ path: "/", upstream: `${upstream.url}/` }],
        }),
      );
      const [program, ...args] = promgateCommand();
      const second = await new Deno.Command(program, {
        args: [...args, "--config", `${other}/config.json`],
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.timeout(15_000),
      }).output();
      const why = new TextDecoder().decode(second.stderr);
      assert(second.code !== 0 && /in use/i.test(why), `a second promgate on the port: ${why}`);
    } finally {
      await gate.stop();
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...needs("htpasswd", "openssl"),
  name: "a self-signed certificate is the same on every server thread, kept on SIGHUP, " +
    "and replaced everywhere when its hostnames change",
  async fn() {
    const upstream = startSlowUpstream("self-signed");
    const routes = [{ path: "/prometheus/", upstream: `${upstream.url}/` }];
    const tls = (hostnames?: string[]) => ({
      selfSigned: true,
      ...(hostnames ? { hostnames } : {}),
    });
    const gate = await startGate({ admin: secret("self-signed-pw") }, routes, {
      tls: tls(),
      workers: 2,
    });
    const config = (hostnames?: string[]) => ({
      listen: { hostname: "127.0.0.1", port: gate.port },
      tls: tls(hostnames),
      auth: AUTH,
      routes,
      workers: 2,
    });
    // Ten new connections: the kernel spreads them over both threads (all ten on one: p < 0.2%).
    const servedByAll = async () => {
      const prints = new Set<string>();
      for (let i = 0; i < 10; i++) prints.add(await servedFingerprint(gate.port));
      return [...prints];
    };
    const printed = () => [...gate.stderr().matchAll(/SHA-256 fingerprint ([0-9A-F:]{95})/g)];
    try {
      assertStringIncludes(gate.stderr(), "2 server threads");
      const first = printed()[0]?.[1];
      assert(first, `no fingerprint printed at start:\n${gate.stderr()}`);
      assertEquals(await servedByAll(), [first]);

      await rewriteConfigAndHup(gate, config());
      await waitForLog(gate, /reload: config /);
      assertEquals(await servedByAll(), [first], "a SIGHUP must keep a pinned fingerprint");

      await rewriteConfigAndHup(gate, config(["localhost", "127.0.0.1", "promgate.test"]));
      await waitForLog(gate, /reload: certificate a self-signed certificate: serving it/);
      const fresh = printed().at(-1)![1];
      assert(fresh !== first, "new hostnames must give a new certificate");
      assertEquals(await servedByAll(), [fresh]);
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});
