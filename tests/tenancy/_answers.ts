/**
 * Reading and comparing Prometheus API answers for the multi-tenancy tests: an answer in a form
 * that compares equal whatever the series order, and a check that no number or label of another
 * tenant is in it.
 */
import { bandOf, LABEL, type Owner } from "./_fixture.ts";

/** What one HTTP request answered. */
export interface Observed {
  status: number;
  contentType: string;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Reads a response fully. */
export async function observe(response: Response): Promise<Observed> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text,
    json,
  };
}

interface ApiAnswer {
  status: string;
  data?: unknown;
  errorType?: string;
  error?: string;
}

/**
 * An answer reduced to what must match between promgate and the ground truth: the HTTP status,
 * and either the error type or the data with series sorted (Prometheus orders series by their
 * labels, except after sort()/topk(), whose order this keeps only within equal label sets — the
 * generated expressions compare sets). Values stay strings, so "NaN" equals "NaN".
 */
export function canonical(o: Observed): string {
  const body = o.json as ApiAnswer | undefined;
  if (!body || typeof body !== "object") return `${o.status} non-JSON ${o.text.slice(0, 200)}`;
  if (body.status !== "success") return `${o.status} error ${body.errorType}`;
  const data = body.data as { resultType?: string; result?: unknown } | unknown[];
  if (Array.isArray(data)) {
    return `${o.status} ${JSON.stringify(data.map((x) => JSON.stringify(x)).sort())}`;
  }
  if (data && typeof data === "object" && "resultType" in data) {
    const result = Array.isArray(data.result)
      ? data.result.map((x) => JSON.stringify(x)).sort()
      : data.result;
    return `${o.status} ${data.resultType} ${JSON.stringify(result)}`;
  }
  return `${o.status} ${JSON.stringify(data)}`;
}

/** A leak found in an answer: where, and what. */
export interface Leak {
  path: string;
  what: string;
}

/**
 * Walks an answer and lists every sample value that lies in another owner's band (a raw value of
 * b, c or of a series without the tenant label) and every label set whose tenant label names
 * another tenant. `allowed` are the tenants the user may see.
 */
export function leaks(json: unknown, allowed: Owner[]): Leak[] {
  const found: Leak[] = [];
  const visit = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      // [timestamp, "value"] pairs of the query API.
      if (node.length === 2 && typeof node[0] === "number" && typeof node[1] === "string") {
        const owner = bandOf(Number(node[1]));
        if (owner !== undefined && !allowed.includes(owner)) {
          found.push({
            path,
            what: `value ${node[1]} of ${owner ? `tenant ${owner}` : "no tenant"}`,
          });
        }
        return;
      }
      node.forEach((x, i) => visit(x, `${path}[${i}]`));
      return;
    }
    if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if ((key === "metric" || key === "labels") && value && typeof value === "object") {
          const tenant = (value as Record<string, string>)[LABEL];
          if (tenant !== undefined && !allowed.includes(tenant as Owner)) {
            found.push({ path: `${path}.${key}`, what: `${LABEL}="${tenant}"` });
          }
        }
        if (key === "value" && typeof value === "string") {
          // Alert values ("2.587375e+03") of the alerts API.
          const owner = bandOf(Number(value));
          if (owner !== undefined && !allowed.includes(owner)) {
            found.push({
              path: `${path}.value`,
              what: `value ${value} of ${owner || "no tenant"}`,
            });
          }
        }
        visit(value, `${path}.${key}`);
      }
    }
  };
  visit(json, "$");
  return found;
}

/** The result list of a successful query/series answer (throws with the body otherwise). */
export function resultOf(o: Observed): unknown[] {
  const body = o.json as ApiAnswer | undefined;
  if (o.status !== 200 || body?.status !== "success") {
    throw new Error(`expected a successful answer, got HTTP ${o.status}: ${o.text.slice(0, 500)}`);
  }
  const data = body.data as { result?: unknown } | unknown[];
  return (Array.isArray(data) ? data : data.result) as unknown[];
}

/** A one-line summary of an answer for the attack table. */
export function summary(o: Observed): string {
  const body = o.json as ApiAnswer | undefined;
  if (!body || typeof body !== "object") return o.text.trim().split("\n")[0].slice(0, 90);
  if (body.status !== "success") return `${body.errorType}: ${body.error}`.slice(0, 90);
  const data = body.data as { result?: unknown[]; resultType?: string } | unknown[];
  const items = Array.isArray(data) ? data : data.result;
  if (!Array.isArray(items)) return JSON.stringify(data).slice(0, 90);
  const tenants = new Set<string>();
  for (const item of items) {
    const labels = (item as { metric?: Record<string, string> })?.metric ?? item;
    if (labels && typeof labels === "object" && LABEL in labels) {
      tenants.add((labels as Record<string, string>)[LABEL]);
    }
  }
  const kind = Array.isArray(data) ? "items" : `${data.resultType} series`;
  return `${items.length} ${kind}` +
    (tenants.size ? `, ${LABEL} ${[...tenants].sort().join("/")}` : "");
}

/**
 * Whether two answers agree: the same status, the same error type or the same data, series in
 * any order, sample values equal as text ("NaN", "+Inf") or as numbers within a relative 1e-9 —
 * Prometheus itself differs in the last digits between two evaluations of some range queries
 * (sums over series in map order).
 */
export function sameAnswer(a: Observed, b: Observed): boolean {
  if (canonical(a) === canonical(b)) return true;
  const x = a.json as ApiAnswer | undefined;
  const y = b.json as ApiAnswer | undefined;
  if (a.status !== b.status || x?.status !== "success" || y?.status !== "success") return false;
  const dx = x.data as { resultType?: string; result?: unknown };
  const dy = y.data as { resultType?: string; result?: unknown };
  if (dx?.resultType !== dy?.resultType || !dx.resultType) return false;
  return close(sortedResult(dx.result), sortedResult(dy.result));
}

function sortedResult(result: unknown): unknown {
  if (!Array.isArray(result)) return result;
  const key = (s: unknown) => JSON.stringify((s as { metric?: unknown })?.metric ?? s);
  return [...result].sort((p, q) => key(p) < key(q) ? -1 : key(p) > key(q) ? 1 : 0);
}

function close(p: unknown, q: unknown): boolean {
  if (typeof p === "string" && typeof q === "string") {
    if (p === q) return true;
    const [u, v] = [Number(p), Number(q)];
    return Number.isFinite(u) && Number.isFinite(v) &&
      Math.abs(u - v) <= 1e-9 * Math.max(Math.abs(u), Math.abs(v));
  }
  if (Array.isArray(p) && Array.isArray(q)) {
    return p.length === q.length && p.every((item, i) => close(item, q[i]));
  }
  if (p && q && typeof p === "object" && typeof q === "object") {
    const kp = Object.keys(p);
    const kq = Object.keys(q);
    return kp.length === kq.length &&
      kp.every((k) =>
        k in q && close((p as Record<string, unknown>)[k], (q as Record<string, unknown>)[k])
      );
  }
  return p === q;
}
