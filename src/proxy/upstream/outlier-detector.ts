// Passive health: consecutive 5xx and consecutive gateway failures (502, 503, 504 and
// failures without a response, which Envoy counts as 503 when it does not split local
// and external errors) eject an endpoint for baseEjectionTime x its ejection count.
// Ejected endpoints return when the interval timer finds their time is up; an endpoint
// that stays healthy for an interval has its ejection count lowered again.

import type { OutlierSpec } from "./cluster-config.js";
import type { Host } from "./host.js";

export class OutlierDetector {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spec: OutlierSpec,
    private readonly hosts: () => readonly Host[],
    private readonly onChange: () => void,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sweep(), this.spec.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  recordStatus(h: Host, status: number): void {
    if (status < 500) {
      h.consecutive5xx = 0;
      h.consecutiveGatewayFailures = 0;
      return;
    }
    h.consecutive5xx++;
    if (status === 502 || status === 503 || status === 504) h.consecutiveGatewayFailures++;
    else h.consecutiveGatewayFailures = 0;
    this.check(h);
  }

  recordLocalFailure(h: Host): void {
    h.consecutive5xx++;
    h.consecutiveGatewayFailures++;
    this.check(h);
  }

  private check(h: Host): void {
    if (h.ejected) return;
    const s = this.spec;
    if (s.consecutive5xx > 0 && h.consecutive5xx >= s.consecutive5xx && this.enforced(s.enforcing5xx)) return this.eject(h);
    if (s.consecutiveGatewayFailure > 0 && h.consecutiveGatewayFailures >= s.consecutiveGatewayFailure && this.enforced(s.enforcingGatewayFailure)) this.eject(h);
  }

  private enforced(percent: number): boolean {
    return percent >= 100 || (percent > 0 && this.random() * 100 < percent);
  }

  private eject(h: Host): void {
    const all = this.hosts();
    let ejected = 0;
    for (const x of all) if (x.ejected) ejected++;
    // As Envoy: at least one endpoint may always be ejected, more up to the percentage.
    if (ejected > 0 && (100 * ejected) / all.length >= this.spec.maxEjectionPercent) return;
    h.ejectionCount++;
    h.ejected = true;
    h.ejectedUntil = this.now() + Math.min(this.spec.baseEjectionTimeMs * h.ejectionCount, Math.max(this.spec.baseEjectionTimeMs, this.spec.maxEjectionTimeMs));
    h.consecutive5xx = 0;
    h.consecutiveGatewayFailures = 0;
    this.onChange();
  }

  /** The interval timer's work (public for tests). */
  sweep(): void {
    const now = this.now();
    let changed = false;
    for (const h of this.hosts()) {
      if (h.ejected) {
        if (now >= h.ejectedUntil) {
          h.ejected = false;
          changed = true;
        }
      } else if (h.ejectionCount > 0) {
        h.ejectionCount--;
      }
    }
    if (changed) this.onChange();
  }
}
