/**
 * The seed's set-up with the real Debian Prometheus behind promgate over real TLS (a self-signed
 * RSA-4096 certificate), driven by real curl, as the Prometheus documentation's nginx block is.
 */
import { gunzipSync } from "node:zlib";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./_assert.ts";
import { startPrometheus } from "./_prometheus.ts";
import {
  curlStatus,
  freePort,
  makeCert,
  makeHtpasswd,
  needs,
  run,
  startPromgate,
  tempDir,
} from "./_util.ts";

const PASSWORD = "correct horse";

async function setup() {
  const dir = await tempDir();
  const port = freePort();
  const external = `https://localhost:${port}/prometheus`;
  const prometheus = await startPrometheus(dir, external);
  await makeHtpasswd(`${dir}/.htpasswd`, { admin: PASSWORD });
  const { certFile } = await makeCert(dir, "rsa:4096");
  const gate = await startPromgate(dir, {
    listen: { hostname: "127.0.0.1", port },
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    auth: { realm: "Prometheus", htpasswdFile: ".htpasswd" },
    routes: [{ path: "/prometheus/", upstream: `${prometheus.url}/` }],
  });
  const base = `https://localhost:${port}`;
  const curl = (...args: string[]) =>
    run("curl", ["-sS", "--cacert", certFile, "-u", `admin:${PASSWORD}`, ...args]);
  return {
    base,
    curl,
    certFile,
    gate,
    async close() {
      assertEquals(await gate.stop(), 0);
      await prometheus.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const deps = needs("prometheus", "htpasswd", "curl", "openssl");

Deno.test("the seed's curl commands work against Prometheus over HTTPS", deps, async () => {
  const s = await setup();
  try {
    const head = await run("curl", [
      "-sS",
      "--head",
      `${s.base}/prometheus/graph`,
      "--cacert",
      s.certFile,
    ]);
    assertMatch(head.stdout, /^HTTP\/2 401/);
    assertMatch(head.stdout, /www-authenticate: Basic realm="Prometheus"/i);
    const metrics = await s.curl(`${s.base}/prometheus/metrics`);
    assertStringIncludes(metrics.stdout, "prometheus_build_info");
    const insecure = await run("curl", [
      "-sSk",
      "-u",
      `admin:${PASSWORD}`,
      `${s.base}/prometheus/metrics`,
    ]);
    assertStringIncludes(insecure.stdout, "prometheus_build_info");
    const wrong = await curlStatus(
      "--cacert",
      s.certFile,
      "-u",
      "admin:wrong",
      `${s.base}/prometheus/metrics`,
    );
    assertEquals(wrong.stdout, "401");
  } finally {
    await s.close();
  }
});

Deno.test("Prometheus' UI pages load under /prometheus/ through its redirects", deps, async () => {
  const s = await setup();
  try {
    for (const path of ["/prometheus/", "/prometheus/graph", "/prometheus/classic/targets"]) {
      const r = await s.curl(
        "-L",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{url_effective}",
        `${s.base}${path}`,
      );
      const [code, finalUrl] = r.stdout.split(" ");
      assertEquals(code, "200", `${path} ended at ${finalUrl}`);
      assert(new URL(finalUrl).pathname.startsWith("/prometheus/"), finalUrl);
    }
    const page = await s.curl("-L", `${s.base}/prometheus/graph`);
    assertMatch(page.stdout, /<title>Prometheus/);
    const asset = /src="([^"]*\/static\/[^"]+\.js[^"]*)"/.exec(page.stdout)?.[1];
    assert(asset, "the page links a script");
    const js = await s.curl(
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      new URL(asset, `${s.base}/prometheus/graph`).href,
    );
    assertEquals(js.stdout, "200");
  } finally {
    await s.close();
  }
});

Deno.test("query API answers byte-correct with and without compression", deps, async () => {
  const s = await setup();
  try {
    const url = `${s.base}/prometheus/api/v1/query?query=up`;
    const plainBody = await s.curl(url);
    assertEquals(JSON.parse(plainBody.stdout).status, "success");
    const compressed = await s.curl("--compressed", url);
    assertEquals(compressed.code, 0, compressed.stderr);
    assertEquals(JSON.parse(compressed.stdout).status, "success");
    // Only gzip accepted: headers and bytes must agree (decode by hand, as a strict client does).
    const raw = await runBytes(s.certFile, url, PASSWORD);
    if (raw.encoding === "gzip") {
      assertEquals(JSON.parse(new TextDecoder().decode(gunzipSync(raw.body))).status, "success");
    } else {
      assertEquals(raw.encoding, null);
      assertEquals(JSON.parse(new TextDecoder().decode(raw.body)).status, "success");
    }
    if (raw.length !== null) assertEquals(Number(raw.length), raw.body.byteLength);
  } finally {
    await s.close();
  }
});

/** curl with only `Accept-Encoding: gzip`, returning raw bytes and the encoding headers. */
async function runBytes(cacert: string, url: string, password: string) {
  const dir = await tempDir();
  try {
    const r = await run("curl", [
      "-sS",
      "--http1.1",
      "--cacert",
      cacert,
      "-u",
      `admin:${password}`,
      "-H",
      "Accept-Encoding: gzip",
      "-D",
      `${dir}/h`,
      "-o",
      `${dir}/b`,
      url,
    ]);
    assertEquals(r.code, 0, r.stderr);
    const headers = await Deno.readTextFile(`${dir}/h`);
    const header = (name: string) =>
      new RegExp(`^${name}:\\s*(.+?)\\r?$`, "im").exec(headers)?.[1] ?? null;
    return {
      body: await Deno.readFile(`${dir}/b`),
      encoding: header("content-encoding"),
      length: header("content-length"),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
