// Turns a gateway benchmark run directory (runs.tsv, scenarios.tsv, env.txt written by
// run.sh) into the markdown tables: throughput and latency per scenario, meshgate's ratios
// to nginx and haproxy within each round, worker scaling, and the targets.
// Usage: node --import tsx bench/gateway/report.ts <run dir>

import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { median, num } from "../lib/stats.js";

export type Family = "http" | "tls" | "h2";
export interface Scenario { name: string; family: Family; floor: string; role: string; skip: string }
export type Run = Record<string, string>;

/** Numbers of one scenario over the rounds it ran (medians; RSS is the peak). */
export interface Summary {
  s: Scenario;
  rounds: number;
  roundsAll: number;
  rpsByRound: Map<string, number>;
  rps: number; rpsMin: number; rpsMax: number;
  p50: number; p99: number; mean: number;
  cpu: number; usPerReq: number; perCore: number;
  rssWorker: number; pssWorker: number; rssTotal: number; procs: number;
  core0: number; errors: number;
  c4p50: number; c4p99: number; addP50: number; addP99: number;
}

export const TARGETS = { tlsVsNginx: 0.5, addP50Ms: 0.3, addP99Ms: 2, h2VsNginx: 0.35, rssWorkerMb: 80, scaleCpu: 1.1 };

const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);

export function parseTsv(text: string): Run[] {
  const [head, ...rows] = text.trim().split("\n");
  const cols = (head ?? "").split("\t");
  return rows.filter(Boolean).map((l) => Object.fromEntries(l.split("\t").map((v, i) => [cols[i]!, v])));
}

export function parseScenarios(text: string): Scenario[] {
  return text.split("\n").filter(Boolean).map((l) => {
    const [name = "", family = "http", floor = "-", role = "", skip = ""] = l.split("\t");
    return { name, family: family as Family, floor, role, skip };
  });
}

export function summarise(scenarios: Scenario[], runs: Run[], foreignMax: number): Map<string, Summary> {
  // A run that other processes disturbed (even after retries) is dropped when two clean ones remain.
  const clean = (rs: Run[]) => {
    const c = rs.filter((r) => !(num(r.foreign_cpu_pct) > foreignMax));
    return c.length >= 2 ? c : rs;
  };
  const out = new Map<string, Summary>();
  for (const s of scenarios) {
    const mine = runs.filter((r) => r.scenario === s.name);
    const concs = [...new Set(mine.filter((r) => r.tag !== "h2").map((r) => num(r.conc)))].sort((a, b) => a - b);
    const hiAll = s.family === "h2" ? mine.filter((r) => r.tag === "h2") : mine.filter((r) => r.tag !== "h2" && num(r.conc) === concs[concs.length - 1]);
    const loAll = s.family === "h2" || concs.length < 2 ? [] : mine.filter((r) => r.tag !== "h2" && num(r.conc) === concs[0]);
    if (hiAll.length === 0) continue;
    const hi = clean(hiAll);
    const lo = clean(loAll);
    const rps = hi.map((r) => num(r.rps));
    const cpu = median(hi.map((r) => num(r.proxy_cpu_pct)));
    const med = median(rps);
    const errs = hi.concat(lo).map((r) => num(r.errors));
    out.set(s.name, {
      s,
      rounds: hi.length,
      roundsAll: hiAll.length,
      rpsByRound: new Map(hi.map((r) => [r.round!, num(r.rps)])),
      rps: med, rpsMin: Math.min(...rps), rpsMax: Math.max(...rps),
      p50: median(hi.map((r) => num(r.p50_ms))), p99: median(hi.map((r) => num(r.p99_ms))), mean: median(hi.map((r) => num(r.mean_ms))),
      cpu,
      usPerReq: median(hi.map((r) => (num(r.requests) > 0 ? (num(r.proxy_cpu_s) * 1e6) / num(r.requests) : NaN))),
      perCore: cpu > 0 ? med / (cpu / 100) : NaN,
      rssWorker: maxOf(hi.map((r) => num(r.rss_worker_kb))) / 1024,
      pssWorker: maxOf(hi.map((r) => num(r.pss_worker_kb))) / 1024,
      rssTotal: maxOf(hi.map((r) => num(r.rss_total_kb))) / 1024,
      procs: maxOf(hi.map((r) => num(r.procs))),
      core0: median(hi.map((r) => num(r.core0_pct))),
      errors: errs.some((e) => e < 0) ? NaN : errs.reduce((a, e) => a + e, 0),
      c4p50: median(lo.map((r) => num(r.p50_ms))), c4p99: median(lo.map((r) => num(r.p99_ms))),
      addP50: NaN, addP99: NaN,
    });
  }
  for (const x of out.values()) {
    const floor = out.get(x.s.floor);
    if (floor) {
      x.addP50 = x.c4p50 - floor.c4p50;
      x.addP99 = x.c4p99 - floor.c4p99;
    }
  }
  return out;
}

/** a / b per round (rounds both ran), with the median and the range. */
export function roundRatios(a: Summary, b: Summary): { median: number; min: number; max: number; n: number } {
  const v = [...a.rpsByRound].filter(([r]) => b.rpsByRound.has(r)).map(([r, x]) => x / b.rpsByRound.get(r)!);
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "–");
const pct = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : "–");
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(3)}` : "–");
const spread = (o: Summary) => `${f0(o.rpsMin)}–${f0(o.rpsMax)}`;
const isMeshgate = (s: Scenario) => s.role.startsWith("meshgate-");
const workersOf = (s: Scenario) => Number(/^meshgate-(\d+)w$/.exec(s.role)?.[1] ?? NaN);

export function renderReport(dir: string, scenarios: Scenario[], runs: Run[], env: string): string {
  const foreignMax = Number(/FOREIGN_MAX=([\d.]+)/.exec(env)?.[1] ?? 5);
  const S = summarise(scenarios, runs, foreignMax);
  const out: string[] = [`## Gateway benchmark (${basename(dir)})`, "", "```", env.trim(), "```", ""];
  const skipped = scenarios.filter((s) => s.skip);
  if (skipped.length) {
    out.push("Not measured:", "");
    for (const s of skipped) out.push(`- ${s.name}: ${s.skip}`);
    out.push("");
  }
  const hiConc = maxOf(runs.filter((r) => r.tag !== "h2").map((r) => num(r.conc)));
  const loConc = Math.min(...runs.filter((r) => r.tag !== "h2").map((r) => num(r.conc)));
  const na = (s: Scenario, cols: number) => `| ${s.name} | **not available** | ${Array(cols - 2).fill("").join(" | ")} |`;

  const h1 = scenarios.filter((s) => s.family !== "h2");
  if (h1.length) {
    out.push(`### HTTP/1.1 in: wrk -t1 -c${f0(hiConc)} (medians over rounds) and -c${f0(loConc)} (added latency)`, "");
    out.push("| scenario | rps | rps min–max | p50 ms | p99 ms | proxy CPU | rps / proxy core | CPU µs / req | RSS MB per worker (PSS) / total (procs) | core0 busy | c4 p50 / p99 ms | c4 added p50 / p99 ms | rounds | errors |");
    out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of h1) {
      const o = S.get(s.name);
      if (!o) { out.push(na(s, 14)); continue; }
      const floor = s.floor === "-";
      out.push(`| ${s.name}${floor ? " (backend)" : ""} | ${f0(o.rps)} | ${spread(o)} | ${f2(o.p50)} | ${f2(o.p99)} | ${pct(o.cpu)} | ${floor ? "–" : f0(o.perCore)} | ${f1(o.usPerReq)} | ${f1(o.rssWorker)} (${f1(o.pssWorker)}) / ${f1(o.rssTotal)} (${f0(o.procs)}) | ${pct(o.core0)} | ${f3(o.c4p50)} / ${f3(o.c4p99)} | ${floor ? "(floor)" : `${signed(o.addP50)} / ${signed(o.addP99)}`} | ${o.rounds}/${o.roundsAll} | ${Number.isNaN(o.errors) ? "n/a" : o.errors} |`);
    }
    out.push("");
  }
  const h2 = scenarios.filter((s) => s.family === "h2");
  if (h2.length) {
    const c = runs.find((r) => r.tag === "h2")?.conc ?? "?";
    out.push(`### HTTPS + HTTP/2 in (h2load -t1, ${c} streams in flight), mTLS HTTP/1.1 out`, "");
    out.push("| scenario | rps | rps min–max | mean latency ms | proxy CPU | rps / proxy core | CPU µs / req | RSS MB per worker (PSS) / total (procs) | core0 busy | rounds | errors |");
    out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of h2) {
      const o = S.get(s.name);
      if (!o) { out.push(na(s, 11)); continue; }
      out.push(`| ${s.name} | ${f0(o.rps)} | ${spread(o)} | ${f2(o.mean)} | ${pct(o.cpu)} | ${f0(o.perCore)} | ${f1(o.usPerReq)} | ${f1(o.rssWorker)} (${f1(o.pssWorker)}) / ${f1(o.rssTotal)} (${f0(o.procs)}) | ${pct(o.core0)} | ${o.rounds}/${o.roundsAll} | ${Number.isNaN(o.errors) ? "n/a" : o.errors} |`);
    }
    out.push("");
  }

  // meshgate against the references of its family, round by round
  const ref = (family: Family, who: "nginx" | "haproxy") => [...S.values()].find((o) => o.s.family === family && o.s.role === who);
  out.push("### meshgate / nginx and / haproxy (same rounds)", "");
  out.push("| family | meshgate row | rps / nginx: median (per-round min–max, n) | rps / haproxy | per-core / nginx | per-core / haproxy |");
  out.push("|---|---|---:|---:|---:|---:|");
  let any = false;
  for (const s of scenarios.filter(isMeshgate)) {
    const m = S.get(s.name);
    if (!m) { out.push(`| ${s.family} | ${s.name} | not available | not available | – | – |`); any = true; continue; }
    const cell = (r?: Summary) => {
      if (!r) return "–";
      const q = roundRatios(m, r);
      return `${f2(q.median)} (${f2(q.min)}–${f2(q.max)}, n=${q.n})`;
    };
    const ng = ref(s.family, "nginx"), hp = ref(s.family, "haproxy");
    out.push(`| ${s.family} | ${s.name} | ${cell(ng)} | ${cell(hp)} | ${ng ? f2(m.perCore / ng.perCore) : "–"} | ${hp ? f2(m.perCore / hp.perCore) : "–"} |`);
    any = true;
  }
  if (!any) out.push("| – | (no meshgate rows selected) | | | | |");
  out.push("");

  // worker scaling: CPU per request with N workers against one
  const scaleRows = scenarios.filter((s) => isMeshgate(s) && workersOf(s) > 1);
  const one = (family: Family) => [...S.values()].find((o) => o.s.family === family && o.s.role === "meshgate-1w");
  out.push("### meshgate worker scaling (all workers on core 1)", "");
  if (scaleRows.length === 0) {
    out.push("Not measured: `meshgate up` has no workers option yet (see env: workers_flag).", "");
  } else {
    out.push("| family | 1 worker: rps / CPU µs per req | N workers | N workers: rps / CPU µs per req | CPU per req N / 1 |", "|---|---:|---:|---:|---:|");
    for (const s of scaleRows) {
      const n = S.get(s.name), o = one(s.family);
      out.push(`| ${s.family} | ${o ? `${f0(o.rps)} / ${f1(o.usPerReq)}` : "not available"} | ${workersOf(s)} | ${n ? `${f0(n.rps)} / ${f1(n.usPerReq)}` : "not available"} | ${n && o ? f2(n.usPerReq / o.usPerReq) : "–"} |`);
    }
    out.push("");
  }

  // targets
  const verdict = (ok: boolean | undefined) => (ok === undefined ? "n/a" : ok ? "met" : "**missed**");
  const byRole = (family: Family, role: string) => [...S.values()].find((o) => o.s.family === family && o.s.role === role);
  const rows: [string, string, boolean | undefined][] = [];
  const mTls = byRole("tls", "meshgate-1w"), nTls = byRole("tls", "nginx");
  const rTls = mTls && nTls ? roundRatios(mTls, nTls).median : NaN;
  rows.push([`TLS in / mTLS out: rps >= ${TARGETS.tlsVsNginx}x nginx (same rounds)`, f2(rTls), Number.isFinite(rTls) ? rTls >= TARGETS.tlsVsNginx : undefined]);
  for (const fam of ["http", "tls"] as const) {
    const m = byRole(fam, "meshgate-1w");
    rows.push([`${fam}: added p50 at c${f0(loConc)} <= ${TARGETS.addP50Ms} ms`, m ? `${f3(m.addP50)} ms` : "–", m && Number.isFinite(m.addP50) ? m.addP50 <= TARGETS.addP50Ms : undefined]);
    rows.push([`${fam}: added p99 at c${f0(loConc)} <= ${TARGETS.addP99Ms} ms`, m ? `${f3(m.addP99)} ms` : "–", m && Number.isFinite(m.addP99) ? m.addP99 <= TARGETS.addP99Ms : undefined]);
  }
  const mH2 = byRole("h2", "meshgate-1w"), nH2 = byRole("h2", "nginx");
  const rH2 = mH2 && nH2 ? roundRatios(mH2, nH2).median : NaN;
  rows.push([`HTTP/2 in: rps >= ${TARGETS.h2VsNginx}x nginx (same rounds)`, f2(rH2), Number.isFinite(rH2) ? rH2 >= TARGETS.h2VsNginx : undefined]);
  const mg = [...S.values()].filter((o) => isMeshgate(o.s));
  const rss = maxOf(mg.map((o) => o.rssWorker));
  const pssW = maxOf(mg.map((o) => o.pssWorker));
  rows.push([`RSS <= ${TARGETS.rssWorkerMb} MB per worker (peak, any meshgate row)`, `${f1(rss)} MB (PSS ${f1(pssW)} MB)`, Number.isFinite(rss) ? rss <= TARGETS.rssWorkerMb : undefined]);
  for (const s of scaleRows) {
    const n = S.get(s.name), o = one(s.family);
    const q = n && o ? n.usPerReq / o.usPerReq : NaN;
    rows.push([`${s.family}: CPU per request, ${workersOf(s)} workers <= ${TARGETS.scaleCpu}x one worker`, f2(q), Number.isFinite(q) ? q <= TARGETS.scaleCpu : undefined]);
  }
  if (scaleRows.length === 0) rows.push([`CPU per request, 2 workers <= ${TARGETS.scaleCpu}x one worker`, "not measured", undefined]);
  out.push("### Targets (meshgate, one worker unless stated)", "", "| target | measured | verdict |", "|---|---:|---|");
  for (const [t, v, ok] of rows) out.push(`| ${t} | ${v} | ${verdict(ok)} |`);
  out.push(
    "",
    "proxy CPU = CPU time of the proxy's process tree / wall time (100% = one core); rps / proxy core = rps ÷ (proxy CPU / 100);",
    "CPU µs / req = the proxy tree's CPU seconds ÷ requests completed. RSS: peak of 1 s samples; per worker = the largest serving process (meshgate: a gateway worker), its PSS in parentheses; total = the whole tree.",
    "A rows are the backend alone (their CPU and RSS columns are the backend's). Added latency = c4 percentile − the direct floor's (HTTP rows vs A-direct-http, TLS rows vs A-direct-tls).",
    `Rounds: runs in which other processes used <= ${foreignMax}% of a core, when at least 2 such runs exist (else all runs).`,
  );
  return out.join("\n");
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: report.ts <run dir>");
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
  process.stdout.write(renderReport(dir, parseScenarios(read("scenarios.tsv")), parseTsv(read("runs.tsv")), read("env.txt")) + "\n");
}
