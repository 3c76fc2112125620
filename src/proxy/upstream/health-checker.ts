// Active HTTP health checks: every interval each endpoint is asked for the configured
// path (through its own pool, so the check uses the cluster's TLS); unhealthyThreshold
// failures in a row mark it unhealthy, healthyThreshold successes in a row healthy again.
// Endpoints start healthy, and the first round runs at once.

import type { HealthCheckSpec } from "./cluster-config.js";
import type { Host } from "./host.js";

interface CheckState {
  inFlight: boolean;
  successes: number;
  failures: number;
}

export class HealthChecker {
  private timer: NodeJS.Timeout | null = null;
  private readonly state = new WeakMap<Host, CheckState>();
  private stopped = false;

  constructor(
    private readonly spec: HealthCheckSpec,
    private readonly hosts: () => readonly Host[],
    private readonly onChange: () => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.round(), this.spec.intervalMs);
    this.timer.unref();
    this.round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private round(): void {
    for (const h of this.hosts()) if (!h.isClosed) void this.check(h);
  }

  private async check(h: Host): Promise<void> {
    let st = this.state.get(h);
    if (!st) this.state.set(h, (st = { inFlight: false, successes: 0, failures: 0 }));
    if (st.inFlight) return;
    st.inFlight = true;
    let ok = false;
    try {
      const res = await h.pool.request({
        method: "GET",
        path: this.spec.path,
        headers: { host: this.spec.host, "user-agent": "meshgate-health-check" },
        signal: AbortSignal.timeout(this.spec.timeoutMs),
      });
      await res.body.dump();
      ok = this.spec.expectedStatuses.some(([start, end]) => res.statusCode >= start && res.statusCode < end);
    } catch {
      ok = false;
    } finally {
      st.inFlight = false;
    }
    if (this.stopped) return;
    if (ok) {
      st.failures = 0;
      st.successes++;
      if (!h.hcHealthy && st.successes >= this.spec.healthyThreshold) {
        h.hcHealthy = true;
        this.onChange();
      }
    } else {
      st.successes = 0;
      st.failures++;
      if (h.hcHealthy && st.failures >= this.spec.unhealthyThreshold) {
        h.hcHealthy = false;
        this.onChange();
      }
    }
  }
}
