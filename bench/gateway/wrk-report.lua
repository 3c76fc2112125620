-- Printed by wrk once the run ends. Defining only done() keeps wrk on its fast path (no
-- per-request Lua). One line of key=value pairs that run.sh parses.
done = function(summary, latency, requests)
  local e = summary.errors
  local us = summary.duration
  io.write(("WRK requests=%d duration_us=%d rps=%.2f mean_us=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d\n"):format(
    summary.requests, us, summary.requests * 1e6 / us, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
