/** The results table, the targets from the issue, and the JSON written under bench/results/. */
import type { ProxyName } from "./proxies.ts";

/** One measured line of the table. */
export interface Row {
  scenario: 1 | 2 | 3 | 4;
  /** e.g. "h1", "h2", "download 1 GiB", "upload 256 MiB". */
  case: string;
  server: ProxyName | "direct";
  /** "bcrypt", "apr1" or "-" (no auth). */
  user: string;
  reqPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  mbPerSec?: number;
  /** Peak RSS of the server's processes during this measurement, MB (10^6 bytes). */
  rssMB?: number;
  /** Count of failed or unexpected responses (0 when all were as expected). */
  errors?: number;
  /** Scenario 2: wrong-password requests/s the attacker achieved, and how they were answered. */
  attackPerSec?: number;
  attackAnswers?: string;
  /** CPU time the server's processes used per answered request, microseconds (load rows). */
  cpuUsPerReq?: number;
  /** CPU seconds the server's processes used during the measurement (transfers, attack). */
  cpuSec?: number;
  /** What the load tool negotiated, when it says (h2load: "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"). */
  tls?: string;
  /** Share of the CPUs (%) used by work the bench did not start, during the measurement. */
  otherCpuPct?: number;
  /** Scenario 3: whether the bytes matched. */
  exact?: boolean;
  note?: string;
  /** Set instead of numbers when the measurement could not be made. */
  failed?: string;
}

/** One target of the issue, checked against this run. */
export interface TargetCheck {
  scenario: number;
  text: string;
  /** The measured ratio or value, as shown. */
  measured: string;
  pass: boolean | null;
  /** How far off a MISS is, e.g. "needs 1.9× more" ("" on PASS). */
  gap: string;
}

const SCENARIO_TITLES: Record<number, string> = {
  1: "Scenario 1: small responses (GET /prometheus/-/healthy -> prometheus, 30 B body)",
  2: "Scenario 2: auth under attack (valid bcrypt user measured while 200 wrong passwords/s arrive)",
  3: "Scenario 3: big bodies streamed over TLS h1 (curl; download checked by cksum, upload by sha256)",
  4: "Scenario 4: small bodies over TLS h1 (GET /bench/chunked: 4 x 256 B streamed, no length; 4 KiB)",
};

/** Which metric the ratio columns compare in each scenario. */
const RATIO_METRIC: Record<number, { key: keyof Row; label: string }> = {
  1: { key: "reqPerSec", label: "req/s" },
  2: { key: "p99Ms", label: "p99" },
  3: { key: "mbPerSec", label: "MB/s" },
  4: { key: "p50Ms", label: "p50" },
};

/** Formats a latency in ms: "850us", "3.21ms", "1.20s". */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1) return `${Math.round(ms * 1000)}us`;
  if (ms < 100) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(0)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

function fmtNum(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return "-";
  if (r >= 100) return `${r.toFixed(0)}x`;
  if (r >= 10) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

/** The nginx or Caddy row a promgate row is compared with: same scenario and case, same user if it has one. */
export function counterpart(rows: Row[], row: Row, server: "nginx" | "caddy"): Row | undefined {
  const same = rows.filter((r) =>
    r.scenario === row.scenario && r.case === row.case && r.server === server && !r.failed
  );
  return same.find((r) => r.user === row.user) ?? same[0];
}

function ratio(a: Row | undefined, b: Row | undefined, key: keyof Row): number | undefined {
  const x = a?.[key];
  const y = b?.[key];
  return typeof x === "number" && typeof y === "number" && y > 0 ? x / y : undefined;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The human-readable table: one block per scenario, ratio columns on promgate's rows. */
export function renderTable(rows: Row[], scenarioNotes: Record<number, string>): string {
  const out: string[] = [];
  for (const scenario of [1, 2, 3, 4] as const) {
    const block = rows.filter((r) => r.scenario === scenario);
    if (block.length === 0) continue;
    const metric = RATIO_METRIC[scenario];
    out.push(SCENARIO_TITLES[scenario]);
    if (scenarioNotes[scenario]) out.push(`  ${scenarioNotes[scenario]}`);
    const head = [
      pad("case", 16),
      pad("server", 13),
      pad("user", 7),
      pad(scenario === 3 ? "MB/s" : "req/s", 9, true),
      pad("p50", 8, true),
      pad("p99", 8, true),
      pad("RSS MB", 7, true),
      pad(scenario === 3 ? "CPU s" : scenario === 2 ? "CPU s" : "CPU/req", 8, true),
      pad(`P÷nginx`, 8, true),
      pad(`P÷Caddy`, 8, true),
      "  notes",
    ].join(" ");
    out.push(`  ${head}`);
    out.push(`  ${"-".repeat(head.length + 6)}`);
    for (const r of block) {
      const isP = (r.server === "promgate" || r.server === "promgate-bun") && !r.failed;
      const cells = [
        pad(r.case, 16),
        pad(r.server, 13),
        pad(r.user, 7),
        pad(
          r.failed
            ? "FAILED"
            : scenario === 3
            ? fmtNum(r.mbPerSec, 0)
            : fmtNum(r.reqPerSec, r.reqPerSec !== undefined && r.reqPerSec < 100 ? 1 : 0),
          9,
          true,
        ),
        pad(fmtMs(r.p50Ms), 8, true),
        pad(fmtMs(r.p99Ms), 8, true),
        pad(fmtNum(r.rssMB, 1), 7, true),
        pad(
          r.cpuUsPerReq !== undefined
            ? `${r.cpuUsPerReq.toFixed(0)}us`
            : r.cpuSec !== undefined
            ? r.cpuSec.toFixed(2)
            : "-",
          8,
          true,
        ),
        pad(isP ? fmtRatio(ratio(r, counterpart(rows, r, "nginx"), metric.key)) : "", 8, true),
        pad(isP ? fmtRatio(ratio(r, counterpart(rows, r, "caddy"), metric.key)) : "", 8, true),
      ];
      const notes: string[] = [];
      if (r.failed) notes.push(r.failed.split("\n")[0].slice(0, 160));
      if (r.reqPerSec === 0) notes.push("no answer within the measurement");
      if (r.errors) notes.push(`${r.errors} errors`);
      if (r.attackPerSec !== undefined) {
        const rate = r.attackPerSec.toFixed(r.attackPerSec < 10 ? 1 : 0);
        notes.push(`attack answered ${rate}/s (${r.attackAnswers ?? ""})`);
      }
      if (r.exact !== undefined) notes.push(r.exact ? "byte-exact" : "BYTES DIFFER");
      if (r.note) notes.push(r.note);
      if (r.otherCpuPct !== undefined && r.otherCpuPct >= 5) {
        notes.push(`other ${r.otherCpuPct.toFixed(0)}%`);
      }
      out.push(`  ${cells.join(" ")}  ${notes.join("; ")}`.trimEnd());
    }
    out.push(
      `  (P÷nginx, P÷Caddy: promgate's ${metric.label} divided by theirs, same case and user)`,
    );
    out.push("");
  }
  return out.join("\n");
}

/** Checks the issue's targets against the rows. A target whose rows are missing is skipped. */
function checksFor(rows: Row[], P: string): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const find = (s: number, c: string, server: string, user: string) =>
    rows.find((r) =>
      r.scenario === s && r.case === c && r.server === server && r.user === user && !r.failed
    );
  const atLeast = (s: number, text: string, value: number | undefined, min: number, unit = "x") => {
    if (value === undefined || !Number.isFinite(value)) return;
    const pass = value >= min;
    checks.push({
      scenario: s,
      text,
      measured: unit === "x" ? fmtRatio(value) : `${value.toFixed(1)}${unit}`,
      pass,
      gap: pass
        ? ""
        : unit === "x"
        ? `${fmtRatio(min / value)} short`
        : `${(min - value).toFixed(1)}${unit} short`,
    });
  };
  const atMost = (
    s: number,
    text: string,
    value: number | undefined,
    max: number,
    unit: string,
  ) => {
    if (value === undefined || !Number.isFinite(value)) return;
    const pass = value <= max;
    const shown = unit === "ms"
      ? fmtMs(value)
      : unit === "x"
      ? fmtRatio(value)
      : `${value.toFixed(1)} ${unit}`;
    checks.push({
      scenario: s,
      text,
      measured: shown,
      pass,
      gap: pass
        ? ""
        : unit === "x"
        ? `${fmtRatio(value / max)} over`
        : `${(value / max).toFixed(2)}x the limit`,
    });
  };

  for (const proto of ["h1", "h2"]) {
    const pB = find(1, proto, P, "bcrypt");
    const pA = find(1, proto, P, "apr1");
    const nA = find(1, proto, "nginx", "apr1");
    const nB = find(1, proto, "nginx", "bcrypt");
    const cB = find(1, proto, "caddy", "bcrypt");
    atLeast(
      1,
      `S1 ${proto}: req/s ${P}(bcrypt) >= 1.0x Caddy(bcrypt)`,
      ratio(pB, cB, "reqPerSec"),
      1.0,
    );
    atLeast(
      1,
      `S1 ${proto}: req/s ${P}(apr1) >= 1.5x nginx(apr1)`,
      ratio(pA, nA, "reqPerSec"),
      1.5,
    );
    atMost(1, `S1 ${proto}: p99 ${P}(apr1) <= nginx(apr1)`, ratio(pA, nA, "p99Ms"), 1, "x");
    atMost(1, `S1 ${proto}: p99 ${P}(bcrypt) <= nginx(apr1)`, ratio(pB, nA, "p99Ms"), 1, "x");
    atLeast(
      1,
      `S1 ${proto}: req/s ${P}(bcrypt) >= 100x nginx(bcrypt)`,
      ratio(pB, nB, "reqPerSec"),
      100,
    );
  }
  const attacked = find(2, "h1 under attack", P, "bcrypt");
  if (attacked && attacked.reqPerSec === 0) {
    checks.push({
      scenario: 2,
      text: `S2: valid users' p99 < 50 ms during the attack (${P})`,
      measured: "no answer",
      pass: false,
      gap: "no valid request was answered during the measurement",
    });
  }
  atMost(2, `S2: valid users' p99 < 50 ms during the attack (${P})`, attacked?.p99Ms, 50, "ms");
  for (const c of ["download", "upload"]) {
    const p = rows.find((r) =>
      r.scenario === 3 && r.case.startsWith(c) && r.server === P && !r.failed
    );
    const n = rows.find((r) =>
      r.scenario === 3 && r.case.startsWith(c) && r.server === "nginx" && !r.failed
    );
    atLeast(3, `S3 ${c}: MB/s ${P} >= 0.8x nginx`, ratio(p, n, "mbPerSec"), 0.8);
    atMost(3, `S3 ${c}: ${P} peak RSS < 150 MB`, p?.rssMB, 150, "MB");
    if (p?.exact !== undefined) {
      checks.push({
        scenario: 3,
        text: `S3 ${c}: ${P} byte-exact`,
        measured: p.exact ? "yes" : "no",
        pass: p.exact,
        gap: p.exact ? "" : "bytes differ",
      });
    }
  }
  for (const c of ["h1 chunked", "h1 4 KiB"]) {
    const p4 = find(4, c, P, "apr1");
    const n4 = find(4, c, "nginx", "apr1");
    atMost(4, `S4 ${c}: p50 ${P}(apr1) <= 2x nginx(apr1)`, ratio(p4, n4, "p50Ms"), 2, "x");
    atMost(4, `S4 ${c}: ${P} p99 < 40 ms (no 44 ms delayed-ACK stall)`, p4?.p99Ms, 40, "ms");
    const plain = P === "promgate" ? find(4, c, "promgate-http", "apr1") : undefined;
    atMost(
      4,
      `S4 ${c}: p50 ${P} TLS <= 2x promgate plain HTTP`,
      ratio(p4, plain, "p50Ms"),
      2,
      "x",
    );
  }
  return checks;
}

/** The issue's targets, checked for promgate on Deno and, when measured, on Bun. */
export function checkTargets(rows: Row[]): TargetCheck[] {
  const variants = ["promgate", "promgate-bun"].filter((p) => rows.some((r) => r.server === p));
  return variants.flatMap((p) => checksFor(rows, p));
}

/** The targets as text lines. */
export function renderTargets(checks: TargetCheck[]): string {
  if (checks.length === 0) return "Targets: none checked (promgate, nginx or Caddy rows missing)\n";
  const width = Math.max(...checks.map((c) => c.text.length));
  const lines = checks.map((c) =>
    `  [${c.pass === null ? "----" : c.pass ? "PASS" : "MISS"}] ${c.text.padEnd(width)}  ${
      c.measured.padStart(8)
    }${c.gap ? `  (${c.gap})` : ""}`
  );
  const missed = checks.filter((c) => c.pass === false).length;
  return `Targets (promgate, measured in this run): ${
    checks.length - missed
  } PASS, ${missed} MISS\n${lines.join("\n")}\n`;
}

/** Rounds numbers so the JSON stays small and diffs stay readable. */
export function roundRow(r: Row): Row {
  const out: Row = { ...r };
  for (
    const k of [
      "reqPerSec",
      "mbPerSec",
      "rssMB",
      "attackPerSec",
      "otherCpuPct",
      "cpuUsPerReq",
      "cpuSec",
    ] as const
  ) {
    if (out[k] !== undefined) out[k] = Math.round(out[k]! * 10) / 10;
  }
  for (const k of ["p50Ms", "p99Ms"] as const) {
    if (out[k] !== undefined && Number.isFinite(out[k])) out[k] = Math.round(out[k]! * 1000) / 1000;
    else delete out[k];
  }
  return out;
}
