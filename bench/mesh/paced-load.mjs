// Open-loop load at a fixed rate, for latency at a moderate load: request i goes out at
// start + i / rate whatever happened to earlier ones (a closed loop such as wrk -c4 instead
// runs the proxies flat out, so its latency is mostly queueing). Node timers fire at
// millisecond granularity, so a request may leave up to ~1 ms after it was due; its latency
// is counted from when it left, which keeps that timer jitter out of the figures (the
// connections are never all busy at this load, so nothing waits in the pool). Prints one
// line in the format of bench/gateway/wrk-report.lua, which run.sh parses.
// Usage: node bench/mesh/paced-load.mjs <url> <requests per second> <connections> <seconds>

import { createHistogram } from "node:perf_hooks";
import { Pool } from "undici";

const [url, rateArg, connArg, durArg] = process.argv.slice(2);
const rate = Number(rateArg);
const connections = Number(connArg);
const seconds = Number(durArg);
if (!url || !(rate > 0) || !(connections > 0) || !(seconds > 0)) {
  process.stderr.write("usage: paced-load.mjs <url> <rps> <connections> <seconds>\n");
  process.exit(2);
}
const target = new URL(url);
const pool = new Pool(target.origin, { connections, pipelining: 1 });
const histogram = createHistogram({ lowest: 1, highest: 60e9, figures: 3 });
const total = Math.round(rate * seconds);
let sent = 0;
let done = 0;
let errors = 0;
const start = process.hrtime.bigint();
const intervalNs = 1e9 / rate;

function send() {
  const sentAt = process.hrtime.bigint();
  pool
    .request({ path: target.pathname + target.search, method: "GET" })
    .then(async (res) => {
      await res.body.dump();
      if (res.statusCode >= 400) errors++;
    })
    .catch(() => errors++)
    .finally(() => {
      histogram.record(Math.max(1, Number(process.hrtime.bigint() - sentAt)));
      if (++done === total) finish();
    });
}

function tick() {
  const now = Number(process.hrtime.bigint() - start);
  while (sent < total && sent * intervalNs <= now) {
    sent++;
    send();
  }
  if (sent < total) setTimeout(tick, 1);
}

function finish() {
  const us = Number(process.hrtime.bigint() - start) / 1e3;
  const p = (/** @type {number} */ q) => Math.round(histogram.percentile(q) / 1e3);
  process.stdout.write(
    `WRK requests=${done} duration_us=${Math.round(us)} rps=${((done * 1e6) / us).toFixed(2)} mean_us=${(histogram.mean / 1e3).toFixed(1)} p50_us=${p(50)} p90_us=${p(90)} p99_us=${p(99)} max_us=${Math.round(histogram.max / 1e3)} errors=${errors}\n`,
  );
  void pool.close();
}

tick();
