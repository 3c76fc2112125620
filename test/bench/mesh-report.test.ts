// The mesh benchmark's report (bench/mesh/report.ts): medians over rounds, the latency the
// mesh adds within each round, CPU per request and peak memory per proxy, target verdicts,
// and the published figures printed next to this run's.

import assert from "node:assert/strict";
import { test } from "node:test";
import { addedLatency, parseTsv, PUBLISHED, renderReport, summarise } from "../../bench/mesh/report.js";

const GROUPS = ["gateway", "sidecar_a", "sidecar_b", "control"];
const COLS = ["scenario", "round", "conc", "rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "requests", "errors", "core0_pct", "core1_pct", "foreign_cpu_pct", "retries", "apps_cpu_s", ...GROUPS.flatMap((g) => [`${g}_cpu_s`, `${g}_rss_kb`, `${g}_pss_kb`])];

function row(o: { s: "direct" | "mesh"; r: number; c: number; rps: number; p50: number; p90: number; p99: number; foreign?: number; errors?: number; cpu?: number[]; rssMb?: number[] }): string {
  const requests = o.rps * 10;
  const cpu = o.cpu ?? [0, 0, 0, 0];
  const rss = o.rssMb ?? [0, 0, 0, 0];
  const groups = GROUPS.flatMap((_, i) => [((cpu[i]! * requests) / 1e6).toFixed(3), rss[i]! * 1024, Math.round(rss[i]! * 1024 * 0.6)]);
  return [o.s, o.r, o.c, o.rps, o.p50, o.p90, o.p99, 1, requests, o.errors ?? 0, 90, 95, o.foreign ?? 0, 0, ((20 * requests) / 1e6).toFixed(3), ...groups].join("\t");
}

const RUNS = [
  COLS.join("\t"),
  // round 1: mesh adds 0.4 / 1.0 / 1.5 ms at c4; round 2: 0.6 / 2.0 / 2.5 -> medians 0.5 / 1.5 / 2.0
  row({ s: "direct", r: 1, c: 4, rps: 40_000, p50: 0.1, p90: 0.2, p99: 0.5 }),
  row({ s: "mesh", r: 1, c: 4, rps: 4_000, p50: 0.5, p90: 1.2, p99: 2.0, cpu: [30, 60, 30, 0], rssMb: [80, 120, 110, 200] }),
  row({ s: "direct", r: 2, c: 4, rps: 44_000, p50: 0.1, p90: 0.2, p99: 0.5 }),
  row({ s: "mesh", r: 2, c: 4, rps: 4_400, p50: 0.7, p90: 2.2, p99: 3.0, cpu: [32, 64, 34, 0], rssMb: [85, 125, 100, 200] }),
  // round 3 of the mesh was disturbed by other processes: left out of medians and of added latency
  row({ s: "direct", r: 3, c: 4, rps: 42_000, p50: 0.1, p90: 0.2, p99: 0.5 }),
  row({ s: "mesh", r: 3, c: 4, rps: 1_000, p50: 9, p90: 19, p99: 90, foreign: 80, cpu: [90, 190, 90, 0], rssMb: [90, 300, 100, 200] }),
  row({ s: "direct", r: 1, c: 50, rps: 60_000, p50: 0.8, p90: 1, p99: 2 }),
  row({ s: "mesh", r: 1, c: 50, rps: 6_000, p50: 8, p90: 10, p99: 20, cpu: [25, 50, 25, 1], rssMb: [90, 130, 120, 210] }),
].join("\n");

test("summaries: medians over clean rounds, CPU per request and peak memory per proxy", () => {
  const S = summarise(parseTsv(RUNS), 5);
  const mesh4 = S.find((s) => s.path === "mesh" && s.conc === 4)!;
  assert.equal(mesh4.rounds, 2);
  assert.equal(mesh4.roundsAll, 3);
  assert.equal(mesh4.rps, 4_200);
  assert.ok(Math.abs(mesh4.p90 - 1.7) < 1e-9);
  assert.ok(Math.abs(mesh4.proxies.sidecar_a!.usPerReq - 62) < 0.01, String(mesh4.proxies.sidecar_a!.usPerReq));
  assert.equal(mesh4.proxies.sidecar_a!.rssMb, 125, "the disturbed round's 300 MB is left out with the round");
  assert.equal(mesh4.proxies.sidecar_b!.rssMb, 110, "peak, not median");
  assert.deepEqual(S.map((s) => `${s.path}@${s.conc}`), ["direct@50", "mesh@50", "direct@4", "mesh@4"]);
});

test("added latency is mesh minus direct within each round, median over the clean rounds", () => {
  const a = addedLatency(parseTsv(RUNS), 4, 5)!;
  assert.equal(a.rounds, 2);
  assert.ok(Math.abs(a.p50 - 0.5) < 1e-9 && Math.abs(a.p90 - 1.5) < 1e-9 && Math.abs(a.p99 - 2.0) < 1e-9, JSON.stringify(a));
  assert.ok(Math.abs(a.rpsRatio - 0.1) < 1e-9);
  assert.equal(addedLatency(parseTsv(RUNS), 16, 5), undefined, "no runs at that connection count");
});

test("the report: both paths, the added latency, each proxy, target verdicts and the published figures", () => {
  const md = renderReport(parseTsv(RUNS), { foreignMax: 5, env: "DUR=10 RUNS=3", title: "Mesh benchmark x" });
  assert.match(md, /^# Mesh benchmark x/);
  assert.match(md, /\| mesh: client -> gateway -> sidecar -> A -> sidecar -> sidecar -> B \| 4 conn\. \(closed loop\) \| 4,200 \| 4,000–4,400 \| 0\.60 \/ 1\.70 \/ 2\.50 \| 0 \| 2 of 3 \|/);
  assert.match(md, /\| 4 conn\. \(closed loop\) \| \+0\.500 \| \+1\.500 \| \+2\.000 \| 0\.10x \|/);
  assert.match(md, /\| sidecar A \(inbound \+ outbound\) \| 50\.0 \| 62\.0 \| 130\.0 \| 78\.0 \|/);
  // 0.5 is not < 0.5; 2.0 is not < 2
  assert.match(md, /\| target \(at 4 conn\. \(closed loop\)\) \| measured \| verdict \|/, "without open-loop runs: the fewest connections");
  assert.match(md, /\| added p50 < 0\.5 ms \(gateway \+ two sidecars\) \| 0\.500 ms \| missed \|/);
  assert.match(md, /\| added p99 < 2 ms \| 2\.000 ms \| missed \|/);
  assert.ok(md.includes(`Istio: +${PUBLISHED.istioP90TwoSidecarsMs} ms (two sidecars) | +1.500 ms (gateway + two sidecars)`), md);
  assert.match(md, /sidecar RSS 130\.0 MB \(PSS 78\.0 MB\)/);
});

test("targets met when the added latency is below them", () => {
  const fast = RUNS.split("\n").map((l) => l.replace(/^mesh\t(\d)\t4\t([\d.]+)\t[\d.]+\t[\d.]+\t[\d.]+/, "mesh\t$1\t4\t$2\t0.3\t0.5\t1.0")).join("\n");
  const md = renderReport(parseTsv(fast), { foreignMax: 5 });
  assert.match(md, /\| added p50 < 0\.5 ms \(gateway \+ two sidecars\) \| 0\.200 ms \| met \|/);
  assert.match(md, /\| added p99 < 2 ms \| 0\.500 ms \| met \|/);
});

test("open-loop runs (a rate column) are a load of their own, and the targets are read there", () => {
  const cols = COLS.slice(0, 3).concat("rate", COLS.slice(3));
  const withRate = (line: string, rate: number) => {
    const f = line.split("\t");
    return [...f.slice(0, 3), String(rate), ...f.slice(3)].join("\t");
  };
  const lines = RUNS.split("\n").slice(1).map((l) => withRate(l, 0));
  // 1,000 rps over 16 connections: mesh adds 0.3 / 0.5 / 1.2 ms in both rounds.
  for (const r of [1, 2]) {
    lines.push(withRate(row({ s: "direct", r, c: 16, rps: 1_000, p50: 0.2, p90: 0.3, p99: 0.8 }), 1000));
    lines.push(withRate(row({ s: "mesh", r, c: 16, rps: 1_000, p50: 0.5, p90: 0.8, p99: 2.0, cpu: [40, 80, 40, 0], rssMb: [70, 90, 85, 150] }), 1000));
  }
  const runs = parseTsv([cols.join("\t"), ...lines].join("\n"));
  const S = summarise(runs, 5);
  assert.deepEqual(S.map((x) => `${x.path}@${x.conc}/${x.rate}`), ["direct@50/0", "mesh@50/0", "direct@4/0", "mesh@4/0", "direct@16/1000", "mesh@16/1000"]);
  const a = addedLatency(runs, 16, 5, 1000)!;
  assert.ok(Math.abs(a.p50 - 0.3) < 1e-9 && Math.abs(a.p99 - 1.2) < 1e-9, JSON.stringify(a));
  assert.equal(addedLatency(runs, 16, 5), undefined, "no closed-loop runs at 16 connections");
  const md = renderReport(runs, { foreignMax: 5 });
  assert.match(md, /\| 1,000 rps over 16 conn\. \(open loop\) \| \+0\.300 \| \+0\.500 \| \+1\.200 \| 1\.00x \|/);
  assert.match(md, /\| target \(at 1,000 rps over 16 conn\. \(open loop\)\) \| measured \| verdict \|/);
  assert.match(md, /\| added p50 < 0\.5 ms \(gateway \+ two sidecars\) \| 0\.300 ms \| met \|/);
  assert.match(md, /\| added p99 < 2 ms \| 1\.200 ms \| met \|/);
});
