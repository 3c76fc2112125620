// Active HTTP health checks: every interval each endpoint is asked for the configured
// path (through its own pool, so the check uses the cluster's TLS); unhealthyThreshold
// failures in a row mark it unhealthy, healthyThreshold successes in a row healthy again.
// Endpoints start healthy, and the first round runs at once.

import type { HealthCheckSpec } from "./cluster-config.js";
import type { DispatchHandler, RawHeaders, UpstreamDispatcher } from "./dispatcher.js";
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
    const status = await probe(h.pool, this.spec);
    st.inFlight = false;
    const ok = this.spec.expectedStatuses.some(([start, end]) => status >= start && status < end);
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

/** One check through the endpoint's pool: the response status, or 0 (failed or timed out). */
function probe(pool: UpstreamDispatcher, spec: HealthCheckSpec): Promise<number> {
  return new Promise((resolve) => {
    const p = new Probe(resolve, spec.timeoutMs);
    try {
      pool.dispatch({ method: "GET", path: spec.path, headers: { host: spec.host, "user-agent": "meshgate-health-check" }, body: null }, p);
    } catch {
      p.onError();
    }
  });
}

class Probe implements DispatchHandler {
  private status = 0;
  private done = false;
  private abort: ((err?: Error) => void) | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly resolve: (status: number) => void,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.timedOut(), timeoutMs);
    this.timer.unref();
  }

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.resolve(status);
  }

  private timedOut(): void {
    this.finish(0);
    this.abort?.(new Error("health check timed out"));
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) abort(new Error("health check timed out"));
    else this.abort = abort;
  }

  onHeaders(status: number, _raw: RawHeaders, _resume: () => void): boolean {
    this.status = status;
    return true;
  }

  onData(): boolean {
    return true;
  }

  onComplete(): void {
    this.finish(this.status);
  }

  onError(): void {
    this.finish(0);
  }
}
