import { hashSync } from "bcrypt-ts";
import {
  createVerifier,
  type HashScheme,
  parseHash,
  type PasswordHash,
  UnsupportedHashError,
} from "../lib/auth/password/verifier.ts";
import { verifyBcrypt } from "../lib/auth/password/bcrypt.ts";
import { md5Crypt } from "../lib/auth/password/md5_crypt.ts";
import { shaCrypt } from "../lib/auth/password/sha_crypt.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./_assert.ts";

const FIXTURES = new URL("./testdata/htpasswd/", import.meta.url);

/** The passwords the fixtures were made with (tests/testdata/README.md). */
const PASSWORDS: Readonly<Record<string, string>> = {
  admin: "secret",
  "jürgen": "pässwörd",
  colon: "pa:ss:word",
};

/** Reads a fixture's `user:hash` lines directly, so these tests do not depend on htpasswd.ts. */
async function fixture(name: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(new URL(name, FIXTURES));
  const entries = text.trim().split("\n").map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon), line.slice(colon + 1)] as [string, string];
  });
  return new Map(entries);
}

/** Checks every user of a fixture: the right password matches, near misses do not. */
async function checkFixture(
  name: string,
  scheme: HashScheme,
  options: Parameters<typeof createVerifier>[0] = {},
): Promise<void> {
  const verifier = createVerifier(options);
  try {
    for (const [user, encoded] of await fixture(name)) {
      const hash = parseHash(encoded);
      assertEquals(hash.scheme, scheme, `${name} ${user}`);
      const password = PASSWORDS[user] ?? "secret";
      assert(await verifier.verify(password, hash), `${name}: right password of ${user}`);
      for (const wrong of [password + "x", password.slice(0, -1), password.toUpperCase(), ""]) {
        assert(!(await verifier.verify(wrong, hash)), `${name}: wrong password of ${user}`);
      }
    }
  } finally {
    verifier.close();
  }
}

Deno.test("accepts bcrypt $2y$ hashes made by htpasswd -B -C 5 and -C 10", async () => {
  await checkFixture("bcrypt.htpasswd", "bcrypt");
});

Deno.test("accepts APR1 $apr1$ hashes made by htpasswd -m and by plain htpasswd", async () => {
  await checkFixture("apr1.htpasswd", "apr1");
});

Deno.test("accepts MD5-crypt $1$ hashes made by openssl passwd -1", async () => {
  await checkFixture("md5crypt.htpasswd", "md5-crypt");
});

Deno.test("accepts SHA-256-crypt $5$ hashes made by htpasswd -2, with and without -r", async () => {
  await checkFixture("sha256.htpasswd", "sha256-crypt");
});

Deno.test("accepts SHA-512-crypt $6$ hashes made by htpasswd -5, with and without -r", async () => {
  await checkFixture("sha512.htpasswd", "sha512-crypt");
});

Deno.test("accepts {SHA} hashes made by htpasswd -s", async () => {
  await checkFixture("sha1.htpasswd", "sha1");
});

Deno.test("gives the same answers with several bcrypt workers", async () => {
  await checkFixture("bcrypt.htpasswd", "bcrypt", { bcryptWorkers: 3 });
});

Deno.test("gives the same answers hashing inline (the main thread of several)", async () => {
  for (
    const [file, scheme] of [["bcrypt", "bcrypt"], ["apr1", "apr1"], ["sha512", "sha512-crypt"]]
  ) {
    await checkFixture(`${file}.htpasswd`, scheme as HashScheme, { inline: true });
  }
  // One at a time, each in its own task: a timer due meanwhile runs between two hashes.
  const verifier = createVerifier({ inline: true });
  const [, encoded] = [...(await fixture("bcrypt.htpasswd"))][0];
  const order: string[] = [];
  const first = verifier.verify("x", parseHash(encoded)).then(() => order.push("hash 1"));
  setTimeout(() => order.push("timer"), 0);
  const second = verifier.verify("y", parseHash(encoded)).then(() => order.push("hash 2"));
  await Promise.all([first, second]);
  assertEquals(order.indexOf("timer") < order.indexOf("hash 2"), true);
  verifier.close();
  await verifier.verify("z", parseHash(encoded)).then(
    () => assert(false, "verified after close()"),
    () => {},
  );
});

Deno.test("accepts bcrypt $2a$ and $2b$ hashes as well as $2y$", async () => {
  const verifier = createVerifier();
  try {
    for (const revision of ["2a", "2b", "2y"]) {
      const encoded = hashSync("secret", `$${revision}$04$abcdefghijklmnopqrstuu`);
      assert(encoded.startsWith(`$${revision}$04$`), encoded);
      assert(await verifier.verify("secret", parseHash(encoded)), revision);
      assert(!(await verifier.verify("Secret", parseHash(encoded))), revision);
    }
  } finally {
    verifier.close();
  }
});

Deno.test("bcrypt ignores password bytes after the 72nd, as htpasswd's bcrypt does", async () => {
  const verifier = createVerifier();
  try {
    const hash = parseHash(hashSync("a".repeat(72), 4));
    assert(await verifier.verify("a".repeat(72) + "anything", hash));
    assert(!(await verifier.verify("a".repeat(71), hash)));
  } finally {
    verifier.close();
  }
});

/** Drepper's test vectors from https://www.akkadia.org/drepper/SHA-crypt.txt */
const SHA_CRYPT_VECTORS: ReadonlyArray<readonly [setting: string, password: string, hash: string]> =
  [
    [
      "$5$saltstring",
      "Hello world!",
      "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
    ],
    [
      "$5$rounds=10000$saltstringsaltstring",
      "Hello world!",
      "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
    ],
    [
      "$5$rounds=5000$toolongsaltstring",
      "This is just a test",
      "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
    ],
    [
      "$5$rounds=1400$anotherlongsaltstring",
      "a very much longer text to encrypt.  This one even stretches over morethan one line.",
      "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
    ],
    [
      "$5$rounds=77777$short",
      "we have a short salt string but not a short password",
      "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
    ],
    [
      "$5$rounds=123456$asaltof16chars..",
      "a short string",
      "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD",
    ],
    [
      "$5$rounds=10$roundstoolow",
      "the minimum number is still observed",
      "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
    ],
    [
      "$6$saltstring",
      "Hello world!",
      "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ],
    [
      "$6$rounds=10000$saltstringsaltstring",
      "Hello world!",
      "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ],
    [
      "$6$rounds=5000$toolongsaltstring",
      "This is just a test",
      "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ],
    [
      "$6$rounds=1400$anotherlongsaltstring",
      "a very much longer text to encrypt.  This one even stretches over morethan one line.",
      "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ],
    [
      "$6$rounds=77777$short",
      "we have a short salt string but not a short password",
      "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
    ],
    [
      "$6$rounds=123456$asaltof16chars..",
      "a short string",
      "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
    ],
    [
      "$6$rounds=10$roundstoolow",
      "the minimum number is still observed",
      "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ],
  ];

Deno.test("computes Drepper's published SHA-crypt test vectors (salt cut, rounds clamped)", () => {
  for (const [setting, password, expected] of SHA_CRYPT_VECTORS) {
    assertEquals(shaCrypt(password, setting), expected, setting);
  }
});

Deno.test("verifies Drepper's published SHA-crypt test vectors", async () => {
  const verifier = createVerifier();
  try {
    for (const [, password, expected] of SHA_CRYPT_VECTORS) {
      const hash = parseHash(expected);
      assert(await verifier.verify(password, hash), expected);
      assert(!(await verifier.verify(password + " ", hash)), expected);
    }
  } finally {
    verifier.close();
  }
});

Deno.test("computes the $1$ hash openssl passwd -1 made for the same salt", async () => {
  for (const [user, encoded] of await fixture("md5crypt.htpasswd")) {
    assertEquals(md5Crypt(PASSWORDS[user], encoded), encoded, user);
  }
  for (const [user, encoded] of await fixture("apr1.htpasswd")) {
    assertEquals(md5Crypt(PASSWORDS[user] ?? "secret", encoded), encoded, user);
  }
});

Deno.test("never throws for odd passwords: empty, long, NUL, lone surrogate, emoji", async () => {
  const hashes: PasswordHash[] = [];
  for (const name of ["bcrypt", "apr1", "md5crypt", "sha256", "sha512", "sha1"]) {
    hashes.push(parseHash((await fixture(`${name}.htpasswd`)).get("admin")!));
  }
  const odd = ["", "x".repeat(10_000), "sec\0ret", "\ud800", "🔑🔑", "secret\n"];
  const verifier = createVerifier();
  try {
    for (const hash of hashes) {
      for (const password of odd) {
        assertEquals(await verifier.verify(password, hash), false, `${hash.scheme}`);
      }
    }
  } finally {
    verifier.close();
  }
});

Deno.test("answers false, not an exception, for a hand-made hash of the wrong format", async () => {
  const verifier = createVerifier();
  try {
    const schemes: HashScheme[] = ["bcrypt", "apr1", "md5-crypt", "sha256-crypt", "sha1"];
    for (const scheme of schemes) {
      assertEquals(await verifier.verify("secret", { scheme, encoded: "nonsense" }), false);
    }
  } finally {
    verifier.close();
  }
});

/** Hashes promgate refuses: what each looks like, as the error must say. */
const UNSUPPORTED: ReadonlyArray<readonly [encoded: string, looksLike: string]> = [
  ["cdrPun32E8plo", "DES crypt"], // htpasswd -d (tests/testdata/htpasswd/des.htpasswd)
  ["secret", "plain text"], // htpasswd -p
  ["", "empty"],
  ["$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "Argon2"],
  ["$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7", "yescrypt"],
  ["$2x$05$Olqs1vpKxUBiaKK4JNLAm.dFuvS4hhnKxQHiPaVYEA4Dt4YAPevy2", "$2x$"],
  ["$9$abc$def", "unknown crypt scheme (`$9$`)"],
  ["$2y$05$tooshort", "malformed bcrypt"],
  ["$6$salt$short", "malformed SHA-crypt"],
  ["$apr1$salt$short", "malformed MD5-crypt"],
  ["{SHA}notbase64", "malformed {SHA}"],
  ["{SSHA}abcdefghijklmnopqrstuvwxyz0123", "{SSHA}"],
];

Deno.test("refuses DES, plain text, Argon2, yescrypt and unknown hashes, suggesting -B", () => {
  for (const [encoded, looksLike] of UNSUPPORTED) {
    const error = assertThrows(() => parseHash(encoded));
    assert(error instanceof UnsupportedHashError, encoded);
    assertStringIncludes(error.looksLike, looksLike, encoded);
    assertStringIncludes(error.message, "htpasswd -B");
    if (encoded.length > 3) {
      assert(!error.message.includes(encoded), `message must not quote the hash: ${error.message}`);
    }
  }
});

/** Runs `work` while a 5 ms interval timer ticks; returns the longest gap between ticks. */
async function maxTimerGap(work: () => Promise<unknown>): Promise<number> {
  let maxGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  try {
    await work();
    const now = performance.now();
    return Math.max(maxGap, now - last);
  } finally {
    clearInterval(timer);
  }
}

Deno.test("bcrypt verification does not block the event loop", async () => {
  // A cost-10 verify blocks its thread for ~65–90 ms, so four on the main thread would stall
  // it for 260+ ms. In the worker the longest timer gap measured 5–9 ms on a 2-core machine. Starting a worker is only logged, not asserted:
  // `new Worker` blocks the calling thread once for ~17–25 ms in Deno 2.9.6 (it builds a V8
  // isolate), and `deno test` type-checks the worker module then: >100 ms on a cold cache.
  const users = await fixture("bcrypt.htpasswd");
  const verifier = createVerifier();
  try {
    const startGap = await maxTimerGap(() =>
      verifier.verify("secret", parseHash(users.get("admin")!))
    );
    const hash = parseHash(users.get("cost10")!);
    // Up to three tries: in the parallel test batch another process can take the core for a
    // moment, but a verify run on this thread would stall every try by at least `blocking`.
    const tries: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      let results: boolean[] = [];
      const started = performance.now();
      const gap = await maxTimerGap(async () => {
        results = await Promise.all([1, 2, 3, 4].map(() => verifier.verify("secret", hash)));
      });
      const elapsed = performance.now() - started;
      assertEquals(results, [true, true, true, true]);
      // Relative to one verify run on this thread under the same load, so a busy host (tests run
      // in parallel on 2 cores) cannot make it flaky: on the main thread the gap would be >= that.
      const t = performance.now();
      assert(verifyBcrypt("secret", hash.encoded));
      const blocking = performance.now() - t;
      tries.push(
        `worker start: max timer gap ${startGap.toFixed(1)} ms; 4 cost-10 verifies: ` +
          `${elapsed.toFixed(0)} ms, max timer gap ${gap.toFixed(1)} ms; one verify on the main ` +
          `thread blocks it for ${blocking.toFixed(1)} ms`,
      );
      if (gap < blocking * 0.6) break;
      assert(attempt < 3, `event loop stalled every time: ${tries.join(" / ")}`);
    }
    console.log(tries.join("\n"));
  } finally {
    verifier.close();
  }
});

Deno.test("rejects verification after close(), and close() twice is safe", async () => {
  const verifier = createVerifier();
  const hash = parseHash((await fixture("bcrypt.htpasswd")).get("admin")!);
  assert(await verifier.verify("secret", hash));
  verifier.close();
  verifier.close();
  await assertRejects(() => verifier.verify("secret", hash), "closed");
});

Deno.test("close() during a verification rejects it instead of hanging", async () => {
  const verifier = createVerifier();
  const hash = parseHash((await fixture("bcrypt.htpasswd")).get("cost10")!);
  const pending = verifier.verify("secret", hash);
  verifier.close();
  await assertRejects(() => pending, "closed");
});

Deno.test("refuses a worker count below 1", () => {
  assertThrows(() => createVerifier({ bcryptWorkers: 0 }), "bcryptWorkers");
});

Deno.test("workers do not keep the process alive after close()", async () => {
  // Deno keeps a process running while any Worker exists, so close() must terminate them.
  const code = `
    import { createVerifier, parseHash } from "./lib/auth/password/verifier.ts";
    const verifier = createVerifier({ bcryptWorkers: 2 });
    const hash = parseHash(${JSON.stringify((await fixture("bcrypt.htpasswd")).get("admin"))});
    const ok = await Promise.all([verifier.verify("secret", hash), verifier.verify("x", hash)]);
    verifier.close();
    console.log(JSON.stringify(ok));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  assertEquals(new TextDecoder().decode(output.stdout).trim(), "[true,false]");
});
