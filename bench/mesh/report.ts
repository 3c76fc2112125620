// Turns a mesh benchmark run directory (runs.tsv and env.txt written by run.sh) into the
// markdown tables: throughput and latency of the direct and the meshed path, the latency
// the mesh adds (mesh minus direct within each round), what each proxy costs (CPU per
// request, peak RSS and PSS), the targets, and published figures of other meshes.
// Usage: node --import tsx bench/mesh/report.ts <run dir>

import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { median, num } from "../lib/stats.js";

export type Run = Record<string, string>;
export type Path = "direct" | "mesh";
/** The processes measured on the mesh path (run.sh's groups). */
export const PROXIES = [
  { key: "gateway", label: "gateway worker" },
  { key: "sidecar_a", label: "sidecar A (inbound + outbound)" },
  { key: "sidecar_b", label: "sidecar B (inbound)" },
  { key: "control", label: "meshgate up + gateway primary (control plane, xDS client)" },
] as const;

export const TARGETS = { addP50Ms: 0.5, addP99Ms: 2 };
/** Published figures of other meshes, for scale (their setups differ from this one; see docs/benchmarks.md). */
export const PUBLISHED = {
  istioP90TwoSidecarsMs: 2.65,
  linkerdProxyMb: 26,
  istioProxyMb: 60,
};


export function parseTsv(text: string): Run[] {
  const [head, ...rows] = text.trim().split("\n");
  const cols = (head ?? "").split("\t");
  return rows.filter(Boolean).map((l) => Object.fromEntries(l.split("\t").map((v, i) => [cols[i]!, v])));
}

/** One path at one load (a connection count, closed loop; or a rate over connections, open loop), over the rounds kept. */
export interface Summary {
  path: Path;
  conc: number;
  /** Requests per second of an open-loop run (paced-load.mjs); 0: closed loop (wrk). */
  rate: number;
  rounds: number;
  roundsAll: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  /** CPU µs per request of each proxy group (median), and peak RSS / PSS (MB, largest over rounds). */
  proxies: Record<string, { usPerReq: number; rssMb: number; pssMb: number }>;
  appsUsPerReq: number;
}

/** A run other processes disturbed (after retries) is left out when two clean ones remain. */
function clean(rs: Run[], foreignMax: number): Run[] {
  const c = rs.filter((r) => !(num(r.foreign_cpu_pct) > foreignMax));
  return c.length >= 2 ? c : rs;
}

export function summarise(runs: Run[], foreignMax: number): Summary[] {
  const out: Summary[] = [];
  const keys = [...new Set(runs.map((r) => `${r.scenario}\t${r.conc}\t${rateOf(r)}`))];
  for (const k of keys) {
    const [path, conc, rate] = k.split("\t") as [Path, string, string];
    const all = runs.filter((r) => r.scenario === path && r.conc === conc && String(rateOf(r)) === rate);
    const kept = clean(all, foreignMax);
    const rps = kept.map((r) => num(r.rps));
    const perReq = (cpuS: string | undefined, r: Run) => (num(cpuS) * 1e6) / num(r.requests);
    const proxies: Summary["proxies"] = {};
    for (const p of PROXIES) {
      proxies[p.key] = {
        usPerReq: median(kept.map((r) => perReq(r[`${p.key}_cpu_s`], r))),
        rssMb: Math.max(...kept.map((r) => num(r[`${p.key}_rss_kb`]) / 1024)),
        pssMb: Math.max(...kept.map((r) => num(r[`${p.key}_pss_kb`]) / 1024)),
      };
    }
    out.push({
      path,
      conc: Number(conc),
      rate: Number(rate),
      rounds: kept.length,
      roundsAll: all.length,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: median(kept.map((r) => num(r.p50_ms))),
      p90: median(kept.map((r) => num(r.p90_ms))),
      p99: median(kept.map((r) => num(r.p99_ms))),
      errors: kept.reduce((s, r) => s + Math.max(0, num(r.errors)), 0),
      proxies,
      appsUsPerReq: median(kept.map((r) => perReq(r.apps_cpu_s, r))),
    });
  }
  // Closed-loop loads first, most connections first; then open-loop ones; direct before mesh.
  return out.sort((a, b) => Number(a.rate > 0) - Number(b.rate > 0) || b.conc - a.conc || a.rate - b.rate || (a.path === "direct" ? -1 : 1));
}

/** Runs written before open-loop runs existed have no rate column: closed loop. */
const rateOf = (r: Run) => (r.rate === undefined || r.rate === "" ? 0 : Number(r.rate));

export interface Load {
  conc: number;
  rate: number;
}
export const loadLabel = (l: Load) => (l.rate > 0 ? `${l.rate.toLocaleString("en-US")} rps over ${l.conc} conn. (open loop)` : `${l.conc} conn. (closed loop)`);

export interface Added {
  conc: number;
  rate: number;
  rounds: number;
  p50: number;
  p90: number;
  p99: number;
  /** mesh rps / direct rps. */
  rpsRatio: number;
}

/** Mesh minus direct, within each round both ran cleanly (median over those rounds). */
export function addedLatency(runs: Run[], conc: number, foreignMax: number, rate = 0): Added | undefined {
  const ok = (r: Run) => !(num(r.foreign_cpu_pct) > foreignMax) && num(r.errors) === 0;
  const at = (path: Path) => new Map(runs.filter((r) => r.scenario === path && Number(r.conc) === conc && rateOf(r) === rate).map((r) => [r.round, r]));
  const direct = at("direct");
  const mesh = at("mesh");
  let pairs = [...mesh].filter(([round]) => direct.has(round)).map(([round, m]) => [direct.get(round)!, m] as const);
  if (pairs.length === 0) return undefined;
  const cleanPairs = pairs.filter(([d, m]) => ok(d) && ok(m));
  if (cleanPairs.length >= 1) pairs = cleanPairs;
  const diff = (col: string) => median(pairs.map(([d, m]) => num(m[col]) - num(d[col])));
  return { conc, rate, rounds: pairs.length, p50: diff("p50_ms"), p90: diff("p90_ms"), p99: diff("p99_ms"), rpsRatio: median(pairs.map(([d, m]) => num(m.rps) / num(d.rps))) };
}

const f = (x: number, digits = 2) => (Number.isNaN(x) ? "n/a" : x.toFixed(digits));
const int = (x: number) => (Number.isNaN(x) ? "n/a" : Math.round(x).toLocaleString("en-US"));
const signed = (x: number) => (Number.isNaN(x) ? "n/a" : `${x >= 0 ? "+" : ""}${x.toFixed(3)}`);

export function renderReport(runs: Run[], opts: { foreignMax: number; env?: string; title?: string }): string {
  const S = summarise(runs, opts.foreignMax);
  const loads: Load[] = [];
  for (const s of S) if (!loads.some((l) => l.conc === s.conc && l.rate === s.rate)) loads.push({ conc: s.conc, rate: s.rate });
  // The targets are for a moderate load: the open-loop run when there is one (a closed loop
  // runs the proxies flat out, so its latency is mostly queueing), else the fewest connections.
  const paced = loads.filter((l) => l.rate > 0);
  const closed = loads.filter((l) => l.rate === 0);
  const targetLoad: Load | undefined = paced[0] ?? (closed.length > 0 ? closed.reduce((a, b) => (b.conc < a.conc ? b : a)) : undefined);
  const L: string[] = [];
  if (opts.title) L.push(`# ${opts.title}`, "");
  if (opts.env) L.push("```", opts.env.trim(), "```", "");

  L.push("Throughput and latency (closed loop: wrk -t1; open loop: paced-load.mjs; medians over rounds):", "");
  L.push("| path | load | rps | rps min–max | p50 / p90 / p99 ms | errors | rounds |");
  L.push("|---|---:|---:|---:|---:|---:|---:|");
  for (const s of S) {
    const label = s.path === "direct" ? "direct: client -> A -> B" : "mesh: client -> gateway -> sidecar -> A -> sidecar -> sidecar -> B";
    L.push(`| ${label} | ${loadLabel(s)} | ${int(s.rps)} | ${int(s.rpsMin)}–${int(s.rpsMax)} | ${f(s.p50)} / ${f(s.p90)} / ${f(s.p99)} | ${s.errors} | ${s.rounds}${s.rounds < s.roundsAll ? ` of ${s.roundsAll}` : ""} |`);
  }
  L.push("");

  const added = loads.map((l) => addedLatency(runs, l.conc, opts.foreignMax, l.rate)).filter((a): a is Added => a !== undefined);
  L.push("Added by the mesh (mesh minus direct, per request, same round; gateway + two sidecars = 4 proxy hops, 3 of them mTLS):", "");
  L.push("| load | added p50 ms | added p90 ms | added p99 ms | mesh rps / direct rps |");
  L.push("|---:|---:|---:|---:|---:|");
  for (const a of added) L.push(`| ${loadLabel(a)} | ${signed(a.p50)} | ${signed(a.p90)} | ${signed(a.p99)} | ${f(a.rpsRatio)}x |`);
  L.push("");

  const meshRuns = S.filter((s) => s.path === "mesh");
  if (meshRuns.length > 0) {
    L.push(`Each process on the mesh path (CPU per request of the path; memory: peak over the mesh runs at ${meshRuns.map((m) => loadLabel(m)).join(", ")}):`, "");
    L.push(`| process | ${meshRuns.map((m) => `CPU µs / req, ${loadLabel(m)}`).join(" | ")} | RSS MB | PSS MB |`);
    L.push(`|---|${meshRuns.map(() => "---:|").join("")}---:|---:|`);
    for (const p of PROXIES) {
      const rss = Math.max(...meshRuns.map((m) => m.proxies[p.key]!.rssMb));
      const pss = Math.max(...meshRuns.map((m) => m.proxies[p.key]!.pssMb));
      L.push(`| ${p.label} | ${meshRuns.map((m) => f(m.proxies[p.key]!.usPerReq, 1)).join(" | ")} | ${f(rss, 1)} | ${f(pss, 1)} |`);
    }
    L.push(`| the applications (one nginx, A and B) | ${meshRuns.map((m) => f(m.appsUsPerReq, 1)).join(" | ")} | | |`);
    L.push("");
  }

  const a = targetLoad && added.find((x) => x.conc === targetLoad.conc && x.rate === targetLoad.rate);
  const verdict = (v: number, target: number) => (Number.isNaN(v) ? "n/a" : v < target ? "met" : "missed");
  L.push(`| target (at ${targetLoad ? loadLabel(targetLoad) : "a moderate load"}) | measured | verdict |`, "|---|---:|---|");
  L.push(`| added p50 < ${TARGETS.addP50Ms} ms (gateway + two sidecars) | ${a ? `${f(a.p50, 3)} ms` : "n/a"} | ${verdict(a?.p50 ?? NaN, TARGETS.addP50Ms)} |`);
  L.push(`| added p99 < ${TARGETS.addP99Ms} ms | ${a ? `${f(a.p99, 3)} ms` : "n/a"} | ${verdict(a?.p99 ?? NaN, TARGETS.addP99Ms)} |`);
  L.push("");

  const sidecars = meshRuns.flatMap((m) => [m.proxies.sidecar_a!, m.proxies.sidecar_b!]);
  const sidecarRss = sidecars.length ? Math.max(...sidecars.map((x) => x.rssMb)) : NaN;
  const sidecarPss = sidecars.length ? Math.max(...sidecars.map((x) => x.pssMb)) : NaN;
  L.push("Published figures of other meshes, for scale (different machines, loads and payloads):", "");
  L.push("| figure | published | meshgate, this run |", "|---|---:|---:|");
  L.push(`| p90 added by the mesh | Istio: +${PUBLISHED.istioP90TwoSidecarsMs} ms (two sidecars) | ${a ? `${signed(a.p90)} ms (gateway + two sidecars)` : "n/a"} |`);
  L.push(`| memory per proxy | Linkerd ~${PUBLISHED.linkerdProxyMb} MB, Istio (Envoy) ~${PUBLISHED.istioProxyMb} MB | sidecar RSS ${f(sidecarRss, 1)} MB (PSS ${f(sidecarPss, 1)} MB) |`);
  L.push("");
  return L.join("\n");
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: report.ts <run dir>");
  const env = existsSync(join(dir, "env.txt")) ? readFileSync(join(dir, "env.txt"), "utf8") : undefined;
  const foreignMax = Number(/FOREIGN_MAX=(\d+(?:\.\d+)?)/.exec(env ?? "")?.[1] ?? 5);
  process.stdout.write(renderReport(parseTsv(readFileSync(join(dir, "runs.tsv"), "utf8")), { foreignMax, ...(env ? { env } : {}), title: `Mesh benchmark ${basename(dir)}` }));
}
