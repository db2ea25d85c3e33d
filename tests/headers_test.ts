/** Header rules of the proxy: what must not cross it, and what it tells the upstream. */
import { assertEquals } from "./_assert.ts";
import { addForwarded, cgiName, endToEndHeaders, endToEndList } from "../lib/http/headers.ts";

Deno.test("hop-by-hop headers do not cross the proxy; end-to-end headers do", () => {
  const source = new Headers({
    "connection": "keep-alive",
    "keep-alive": "timeout=5",
    "proxy-connection": "keep-alive",
    "proxy-authenticate": "Basic",
    "proxy-authorization": "Basic c2VjcmV0OnNlY3JldA==",
    "te": "trailers",
    "trailer": "x-checksum",
    "transfer-encoding": "chunked",
    "upgrade": "h2c",
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-prometheus-api-version": "1",
  });
  const out = endToEndHeaders(source);
  assertEquals([...out], [
    ["cache-control", "no-store"],
    ["content-type", "application/json"],
    ["x-prometheus-api-version", "1"],
  ]);
});

Deno.test("a client's Proxy header never reaches the upstream (httpoxy)", () => {
  const source = new Headers({ "proxy": "http://evil.example:8080", "accept": "*/*" });
  assertEquals(endToEndList(source), [["accept", "*/*"]]);
});

Deno.test("headers that Connection names are removed, whatever their case and spacing", () => {
  const source = new Headers({
    "connection": "X-Secret ,  close,,x-other-SECRET",
    "x-secret": "1",
    "x-other-secret": "2",
    "x-kept": "3",
  });
  assertEquals([...endToEndHeaders(source)], [["x-kept", "3"]]);
});

Deno.test("headers the caller asks to drop are removed", () => {
  const source = new Headers({
    host: "promgate.example",
    authorization: "Basic YWRtaW46c2VjcmV0",
    accept: "*/*",
  });
  assertEquals([...endToEndHeaders(source, ["host", "authorization"])], [["accept", "*/*"]]);
});

Deno.test("several Set-Cookie headers reach the client as separate cookies", () => {
  const source = new Headers();
  source.append("set-cookie", "a=1; Path=/; Expires=Wed, 09 Jun 2027 10:18:14 GMT");
  source.append("set-cookie", "b=2; Path=/");
  source.append("vary", "Accept-Encoding");
  const out = endToEndHeaders(source);
  assertEquals(out.getSetCookie(), [
    "a=1; Path=/; Expires=Wed, 09 Jun 2027 10:18:14 GMT",
    "b=2; Path=/",
  ]);
  assertEquals(out.get("vary"), "Accept-Encoding");
});

Deno.test("a Set-Cookie that Connection names is dropped like any other named header", () => {
  const source = new Headers({ connection: "set-cookie" });
  source.append("set-cookie", "a=1");
  assertEquals(endToEndHeaders(source).getSetCookie(), []);
});

Deno.test("repeated end-to-end headers keep all their values", () => {
  const source = new Headers();
  source.append("vary", "Accept-Encoding");
  source.append("vary", "Origin");
  assertEquals(endToEndHeaders(source).get("vary"), "Accept-Encoding, Origin");
});

Deno.test("the source headers are left untouched", () => {
  const source = new Headers({ connection: "x-a", "x-a": "1", "x-b": "2" });
  endToEndHeaders(source, ["x-b"]);
  assertEquals([...source], [["connection", "x-a"], ["x-a", "1"], ["x-b", "2"]]);
});

Deno.test("X-Forwarded-For names the client when the request came without one", () => {
  const list: [string, string][] = [];
  addForwarded(list, { clientAddr: "192.0.2.7", proto: "https", host: "example.com" });
  const h = new Headers(list);
  assertEquals(h.get("x-forwarded-for"), "192.0.2.7");
  assertEquals(h.get("x-forwarded-proto"), "https");
  assertEquals(h.get("x-forwarded-host"), "example.com");
});

Deno.test("X-Forwarded-For is appended to the chain the client sent, like nginx", () => {
  const list: [string, string][] = [["x-forwarded-for", "203.0.113.1, 198.51.100.2"]];
  addForwarded(list, { clientAddr: "::1", proto: "http", host: "localhost:12321" });
  const h = new Headers(list);
  assertEquals(h.get("x-forwarded-for"), "203.0.113.1, 198.51.100.2, ::1");
});

Deno.test("a client cannot choose the X-Forwarded-Proto or X-Forwarded-Host the upstream sees", () => {
  const list: [string, string][] = [
    ["x-forwarded-proto", "https"],
    ["x-forwarded-host", "evil.example"],
  ];
  addForwarded(list, { clientAddr: "192.0.2.7", proto: "http", host: "example.com:8080" });
  assertEquals(list.length, 3); // replaced, not added to
  const h = new Headers(list);
  assertEquals(h.get("x-forwarded-proto"), "http");
  assertEquals(h.get("x-forwarded-host"), "example.com:8080");
});

Deno.test("a dropped header is dropped under every spelling a CGI-style upstream reads as it", () => {
  const source = new Headers();
  for (
    const name of [
      "X-Webauth-User",
      "X_WEBAUTH_USER",
      "X-Webauth_User",
      "x_webauth-user",
      "X.Webauth.User",
      "x_forwarded_user",
      "X-Forwarded_User",
    ]
  ) source.append(name, "admin");
  source.append("x_custom_header", "kept");
  source.append("x-webauth-users", "kept");
  const out = endToEndList(source, ["x-forwarded-user", "x-webauth-user", "authorization"]);
  assertEquals(out, [["x-webauth-users", "kept"], ["x_custom_header", "kept"]]);
});

Deno.test("underscore headers that collide with nothing promgate vouches for pass", () => {
  const source = new Headers({ "x_api_key": "k", "accept_language": "en", "x-request_id": "7" });
  assertEquals(endToEndList(source, ["x-forwarded-user"]).length, 3);
});

Deno.test("a client cannot add to the X-Forwarded-* values under an underscore spelling", () => {
  const list: [string, string][] = [
    ["x-forwarded-for", "203.0.113.1"],
    ["x_forwarded_for", "10.0.0.1"],
    ["x_forwarded_proto", "https"],
    ["x-forwarded_host", "evil.example"],
    ["x.forwarded.host", "evil.example"],
    ["x_other", "1"],
  ];
  addForwarded(list, { clientAddr: "192.0.2.7", proto: "http", host: "example.com" });
  assertEquals(list, [
    ["x_other", "1"],
    ["x-forwarded-for", "203.0.113.1, 192.0.2.7"],
    ["x-forwarded-proto", "http"],
    ["x-forwarded-host", "example.com"],
  ]);
});

Deno.test("cgiName folds case, underscores and other punctuation alike", () => {
  assertEquals(cgiName("X_WEBAUTH_USER"), "x-webauth-user");
  assertEquals(cgiName("x.webauth~user"), "x-webauth-user");
  assertEquals(cgiName("x-webauth-user"), "x-webauth-user");
});
