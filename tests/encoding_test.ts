/** Which Accept-Encoding promgate sends upstream, and when it re-encodes (lib/http/body/encoding.ts). */
import { assertEquals } from "./_assert.ts";
import { planEncoding, withoutRefused } from "../lib/http/body/encoding.ts";

Deno.test("a client's Accept-Encoding reaches the upstream as it is when it refuses nothing", () => {
  for (const value of ["gzip", "deflate, gzip, br, zstd", "gzip;q=0.5, br", "br;q=0.05, *"]) {
    assertEquals(withoutRefused(value), value);
  }
  assertEquals(withoutRefused(null), null);
  assertEquals(withoutRefused(""), null);
});

Deno.test("codings a client refuses with q=0 are not offered to the upstream", () => {
  assertEquals(withoutRefused("gzip;q=0, br"), "br");
  assertEquals(withoutRefused("*;q=0, gzip"), "gzip");
  assertEquals(withoutRefused("GZIP; Q=0, deflate;q=0.5"), "deflate;q=0.5");
  // "*" would let a server that ignores q-values pick the refused coding: dropped.
  assertEquals(withoutRefused("gzip;q=0, *"), null);
  assertEquals(withoutRefused("gzip;q=0.000"), null);
});

Deno.test("a runtime that passes bodies through never re-encodes them", () => {
  const plan = planEncoding(false, "gzip, br");
  assertEquals(plan.acceptEncoding, "gzip, br");
  assertEquals(plan.decoded("gzip"), false);
  assertEquals(planEncoding(false, "gzip;q=0, br").acceptEncoding, "br");
});

Deno.test("a runtime whose fetch decodes asks for gzip or identity and knows what it decoded", () => {
  const gzip = planEncoding(true, "deflate, gzip, br, zstd");
  assertEquals([gzip.acceptEncoding, gzip.decoded("gzip"), gzip.decoded("deflate")], [
    "gzip",
    true,
    false,
  ]);
  const none = planEncoding(true, null);
  assertEquals([none.acceptEncoding, none.decoded("gzip")], ["identity", false]);
});
