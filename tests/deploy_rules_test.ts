/**
 * The alerting rules shipped in deploy/ (issue 12 item 11): valid for the real promtool, their
 * unit tests pass, and every promgate metric they query is one promgate exposes.
 */
import { Metrics } from "../lib/http/metrics.ts";
import { ReloadStatus } from "../lib/service/reload_status.ts";
import { assert, assertEquals } from "./_assert.ts";
import { needs, REPO, run } from "./_util.ts";

const RULES = `${REPO}deploy/promgate.rules.yml`;
const RULE_TESTS = `${REPO}deploy/promgate.rules.test.yml`;

Deno.test("promtool check rules accepts deploy/promgate.rules.yml", needs("promtool"), async () => {
  const out = await run("promtool", ["check", "rules", RULES]);
  assertEquals(out.code, 0, out.stdout + out.stderr);
});

Deno.test(
  "the reload alert fires after 5 minutes of refused reloads (promtool test rules)",
  needs("promtool"),
  async () => {
    const out = await run("promtool", ["test", "rules", RULE_TESTS], { cwd: `${REPO}deploy` });
    assertEquals(out.code, 0, out.stdout + out.stderr);
    assert(/SUCCESS/.test(out.stdout), out.stdout);
  },
);

Deno.test("every promgate metric the rules query is one promgate exposes", async () => {
  const rules = await Deno.readTextFile(RULES);
  const queried = new Set(rules.match(/\bpromgate_[a-z_]+/g) ?? []);
  assert(queried.size > 0, "the rules query no promgate metric");
  const metrics = new Metrics({ version: "t", runtime: "t", commit: "t" }, ReloadStatus.create());
  const exposed = new Set(
    [...metrics.render().matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]),
  );
  assertEquals([...queried].filter((name) => !exposed.has(name)), []);
});
