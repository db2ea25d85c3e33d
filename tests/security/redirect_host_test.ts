/**
 * Issue 12 item 9: a redirect must not send the browser to the host the client named. An upstream
 * that redirects to its own absolute URL gets a root-relative Location, so a request carrying
 * `Host: evil.example` (a poisoned cache or a DNS-rebinding page) is never told to go there.
 */
import { assert, assertEquals } from "../_assert.ts";
import { needs, startUpstream } from "../_util.ts";
import { rawGet, secretBasic, startGate } from "./_helpers.ts";

Deno.test({
  ...needs("htpasswd"),
  name: "a redirect to the upstream's own absolute URL never points at the client's Host",
  async fn() {
    const upstream = startUpstream((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/login") return new Response("login page\n");
      const location = `http://127.0.0.1:${upstream.port}/login?next=%2Fgraph`;
      return new Response(null, { status: 302, headers: { location } });
    });
    const gate = await startGate({ admin: "redirect-Secr3t" }, [
      { path: "/grafana/", upstream: `${upstream.url}/` },
    ]);
    const auth = `Authorization: ${secretBasic("admin", "redirect-Secr3t")}`;
    try {
      for (const host of ["evil.example", "evil.example:443", `127.0.0.1:${gate.port}`]) {
        const r = await rawGet(gate.port, "/grafana/graph", { host, headers: [auth] });
        assertEquals(r.status, 302, host);
        const location = r.headers.get("location") ?? "";
        assert(!location.includes("evil.example"), `Host ${host} gave Location ${location}`);
        assertEquals(location, "/grafana/login?next=%2Fgraph", host);
      }
    } finally {
      await gate.close();
      await upstream.close();
    }
  },
});
