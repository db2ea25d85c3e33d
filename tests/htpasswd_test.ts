import { InputError } from "../lib/errors.ts";
import { loadHtpasswd, parseHtpasswd } from "../lib/auth/htpasswd.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./_assert.ts";
import { fromFileUrl } from "./_path.ts";

const FIXTURES = fromFileUrl(new URL("./testdata/htpasswd/", import.meta.url));
const BCRYPT = "$2y$05$Olqs1vpKxUBiaKK4JNLAm.dFuvS4hhnKxQHiPaVYEA4Dt4YAPevy2";
const APR1 = "$apr1$QSm.VTDQ$rX5Av46YEFkJnz9sGNZDp/";

/** The InputError message parseHtpasswd throws for `text`, checked to be an InputError. */
function errorFor(text: string, file = "/etc/promgate/.htpasswd"): string {
  try {
    parseHtpasswd(text, file);
  } catch (error) {
    assert(error instanceof InputError, `expected an InputError, got ${error}`);
    return error.message;
  }
  throw new Error("expected parseHtpasswd to throw");
}

Deno.test("reads users and hash schemes from every htpasswd fixture", async () => {
  const expected: Record<string, Record<string, string>> = {
    "bcrypt.htpasswd": { admin: "bcrypt", "jürgen": "bcrypt", colon: "bcrypt", cost10: "bcrypt" },
    "apr1.htpasswd": { admin: "apr1", "jürgen": "apr1", colon: "apr1", default: "apr1" },
    "md5crypt.htpasswd": { admin: "md5-crypt", "jürgen": "md5-crypt", colon: "md5-crypt" },
    "sha256.htpasswd": {
      admin: "sha256-crypt",
      "jürgen": "sha256-crypt",
      colon: "sha256-crypt",
      rounds5000: "sha256-crypt",
      rounds10000: "sha256-crypt",
    },
    "sha512.htpasswd": {
      admin: "sha512-crypt",
      "jürgen": "sha512-crypt",
      colon: "sha512-crypt",
      rounds1000: "sha512-crypt",
    },
    "sha1.htpasswd": { admin: "sha1", "jürgen": "sha1", colon: "sha1" },
  };
  for (const [file, users] of Object.entries(expected)) {
    const loaded = await loadHtpasswd(FIXTURES + file);
    const schemes = Object.fromEntries([...loaded].map(([user, hash]) => [user, hash.scheme]));
    assertEquals(schemes, users, file);
  }
});

Deno.test("skips comments and blank lines; accepts CRLF, surrounding spaces and a BOM", () => {
  const text =
    `\uFEFF# made by htpasswd\r\n\r\nadmin:${BCRYPT}  \r\n   \r\n  # another comment\r\n` +
    `bob:${APR1}\t\r\n`;
  const users = parseHtpasswd(text, "f");
  assertEquals([...users.keys()], ["admin", "bob"]);
  assertEquals(users.get("admin"), { scheme: "bcrypt", encoded: BCRYPT });
  assertEquals(users.get("bob"), { scheme: "apr1", encoded: APR1 });
});

Deno.test("ignores nginx's third `:comment` field", () => {
  const users = parseHtpasswd(`admin:${BCRYPT}:Jane Admin, ops\n`, "f");
  assertEquals(users.get("admin")?.encoded, BCRYPT);
});

Deno.test("accepts UTF-8 user names", () => {
  assertEquals([...parseHtpasswd(`jürgen:${BCRYPT}\n`, "f").keys()], ["jürgen"]);
});

Deno.test("a line without a colon is an error naming file and line, not quoting the line", () => {
  const message = errorFor(`# users\nadmin:${BCRYPT}\nhunter2\n`);
  assertStringIncludes(message, "/etc/promgate/.htpasswd:3:");
  assertStringIncludes(message, "no colon");
  assert(!message.includes("hunter2"), message);
});

Deno.test("an empty user name is an error naming file and line", () => {
  const message = errorFor(`admin:${BCRYPT}\n:${APR1}\n`);
  assertStringIncludes(message, "/etc/promgate/.htpasswd:2:");
  assertStringIncludes(message, "user name");
  assert(!message.includes(APR1), message);
});

Deno.test("a user without a hash is an error suggesting htpasswd -B", () => {
  const message = errorFor("admin:\n");
  assertStringIncludes(message, "/etc/promgate/.htpasswd:1:");
  assertStringIncludes(message, "htpasswd -B /etc/promgate/.htpasswd admin");
});

Deno.test("a duplicate user is an error showing both line numbers", () => {
  const message = errorFor(`admin:${BCRYPT}\n# again\nbob:${APR1}\nadmin:${APR1}\n`);
  assertStringIncludes(message, "/etc/promgate/.htpasswd:4:");
  assertStringIncludes(message, '"admin"');
  assertStringIncludes(message, "line 1");
  assertStringIncludes(message, "lines 1 and 4");
  assert(!message.includes(BCRYPT) && !message.includes(APR1), message);
});

Deno.test("a DES crypt line made by htpasswd -d names line and user and suggests -B", async () => {
  const file = FIXTURES + "des.htpasswd";
  const error = await assertRejects(() => loadHtpasswd(file), `${file}:1:`);
  assert(error instanceof InputError);
  assertStringIncludes(error.message, '"admin"');
  assertStringIncludes(error.message, "DES crypt");
  assertStringIncludes(error.message, `htpasswd -B ${file} admin`);
  const hash = (await Deno.readTextFile(file)).trim().split(":")[1];
  assert(!error.message.includes(hash), "the message must not show the hash");
});

Deno.test("a plain-text line made by htpasswd -p suggests -B and never shows the password", async () => {
  const file = FIXTURES + "plain.htpasswd";
  const error = await assertRejects(() => loadHtpasswd(file), `${file}:1:`);
  assertStringIncludes(error.message, "plain text");
  assertStringIncludes(error.message, `htpasswd -B ${file} admin`);
  assert(!error.message.includes("secret"), error.message);
});

Deno.test("Argon2, yescrypt and unknown $x$ hashes are errors naming line, user and -B", () => {
  const cases: Array<[string, string]> = [
    ["$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "Argon2"],
    ["$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7", "yescrypt"],
    ["$9$abc$def", "unknown crypt scheme"],
  ];
  for (const [hash, looksLike] of cases) {
    const message = errorFor(`# users\nops:${hash}\n`);
    assertStringIncludes(message, "/etc/promgate/.htpasswd:2:");
    assertStringIncludes(message, '"ops"');
    assertStringIncludes(message, looksLike);
    assertStringIncludes(message, "htpasswd -B /etc/promgate/.htpasswd ops");
    assert(!message.includes(hash), message);
  }
});

Deno.test("suggested commands quote file and user names for the shell", () => {
  const message = errorFor("o'brien:plaintext\n", "/srv/my files/.htpasswd");
  assertStringIncludes(message, `htpasswd -B '/srv/my files/.htpasswd' 'o'\\''brien'`);
});

Deno.test("reports every bad line at once", () => {
  const message = errorFor(`a:secret\nb:${BCRYPT}\nnocolon\nb:${APR1}\n`);
  const lines = message.split("\n");
  assertEquals(lines.length, 3, message);
  assertStringIncludes(lines[0], ".htpasswd:1:");
  assertStringIncludes(lines[1], ".htpasswd:3:");
  assertStringIncludes(lines[2], ".htpasswd:4:");
});

Deno.test("an htpasswd file without users is an error: nobody could log in", () => {
  for (const text of ["", "\n\n", "# only a comment\n"]) {
    const message = errorFor(text);
    assertStringIncludes(message, "/etc/promgate/.htpasswd");
    assertStringIncludes(message, "no users");
    assertStringIncludes(message, "htpasswd -B");
  }
});

Deno.test("a missing htpasswd file is an error saying how to create it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/.htpasswd`;
    const error = await assertRejects(() => loadHtpasswd(file), file);
    assert(error instanceof InputError);
    assertStringIncludes(error.message, "not found");
    assertStringIncludes(error.message, `htpasswd -cB ${file} admin`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a directory given as htpasswd file is an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const error = await assertRejects(() => loadHtpasswd(dir), dir);
    assert(error instanceof InputError);
    assertStringIncludes(error.message, "directory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an htpasswd file that is not UTF-8 is an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/.htpasswd`;
    // "jürgen" in Latin-1: ü is the single byte 0xFC.
    const latin1 = Uint8Array.from([..."j\xFCrgen:"].map((c) => c.charCodeAt(0)));
    await Deno.writeFile(file, new Uint8Array([...latin1, ...new TextEncoder().encode(BCRYPT)]));
    const error = await assertRejects(() => loadHtpasswd(file), file);
    assert(error instanceof InputError);
    assertStringIncludes(error.message, "UTF-8");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
