/**
 * promgate's peak RSS while a large download and a large upload run at once (issue 12: a
 * 300 MiB download plus a 200 MiB upload under Deno with `"workers": "auto"`, goal < 150 MB).
 *
 *   deno run -A bench/streaming_rss.ts [--workers auto|N] [--accept-encoding VALUE] [--sized]
 *     [--only download|upload]
 *
 * Both go through real curl to a real promgate (PROMGATE_CMD as in the tests) in front of the
 * test upstream. The download sends `--accept-encoding` (default none, as curl does; `gzip` as
 * browsers and Go clients do); the upload is chunked from a pipe unless `--sized`.
 */
import { parseArgs } from "node:util";
import { patternStream, startTestUpstream } from "../tests/_upstream.ts";
import { makeHtpasswd, peakRssMiB, startPromgate, tempDir } from "../tests/_util.ts";

const MiB = 1024 ** 2;
const { values } = parseArgs({
  options: {
    workers: { type: "string", default: "auto" },
    "accept-encoding": { type: "string", default: "" },
    sized: { type: "boolean", default: false },
    only: { type: "string", default: "" },
  },
});

const dir = await tempDir();
const upstream = startTestUpstream();
await makeHtpasswd(`${dir}/.htpasswd`, { admin: "pw" });
const gate = await startPromgate(dir, {
  listen: { hostname: "127.0.0.1", port: 0 },
  auth: { htpasswdFile: ".htpasswd" },
  routes: [{ path: "/up/", upstream: `${upstream.url}/` }],
  accessLog: false,
  workers: values.workers === "auto" ? "auto" : Number(values.workers),
});
const uploadFile = `${dir}/upload.bin`;
if (values.sized) {
  await patternStream((values.only === "download" ? 0 : 200) * MiB).pipeTo(
    (await Deno.create(uploadFile)).writable,
  );
}

const curl = (args: string[], stdin: "piped" | "null" = "null") =>
  new Deno.Command("curl", {
    args: [
      "-sS",
      "-u",
      "admin:pw",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{time_total}s",
      ...args,
    ],
    stdin,
    stdout: "piped",
  }).spawn();

try {
  const startRss = await peakRssMiB(gate.pid);
  const started = performance.now();
  const encoding = values["accept-encoding"];
  const downMiB = values.only === "upload" ? 0 : 300;
  const upMiB = values.only === "download" ? 0 : 200;
  const down = curl([
    ...(encoding ? ["-H", `Accept-Encoding: ${encoding}`] : []),
    `${gate.url}/up/bytes?n=${downMiB * MiB}`,
  ]);
  const upUrl = `${gate.url}/up/upload`;
  const up = values.sized
    ? curl(["--data-binary", `@${uploadFile}`, upUrl])
    : curl(["-T", "-", "-X", "POST", upUrl], "piped");
  if (!values.sized) await patternStream(upMiB * MiB).pipeTo(up.stdin);
  const [d, u] = await Promise.all([down.output(), up.output()]);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  console.log(
    `workers ${values.workers}, download (Accept-Encoding: ${encoding || "none"}) ` +
      `${text(d.stdout)}, upload (${values.sized ? "sized" : "chunked"}) ${text(u.stdout)}, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s: promgate RSS ` +
      `${startRss.toFixed(0)} MiB at start, peak ${(await peakRssMiB(gate.pid)).toFixed(0)} MiB`,
  );
} finally {
  await gate.stop();
  await upstream.close();
  await Deno.remove(dir, { recursive: true });
}
