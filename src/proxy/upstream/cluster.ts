// An upstream cluster for one configuration generation: its endpoints (Hosts, carried
// over from the previous generation when unchanged), the load balancer over the usable
// ones, circuit breaker counters, outlier detection, health checks and DNS discovery.

import { isIP } from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import type { ForwardOptions, UpstreamCall, UpstreamCluster, UpstreamRequest, UpstreamResponseSink } from "../contracts.js";
import type { ClusterSpec } from "./cluster-config.js";
import { DnsDiscovery } from "./dns-discovery.js";
import type { EndpointSpec } from "./endpoints.js";
import { Exchange, type ExchangeHost } from "./exchange.js";
import { HealthChecker } from "./health-checker.js";
import { Host, hostKey, type PoolSettings } from "./host.js";
import { createLoadBalancer, type LoadBalancer } from "./load-balancer.js";
import { OutlierDetector } from "./outlier-detector.js";

/** Mirrors have no route timeout of their own; Envoy's default route timeout bounds them. */
const MIRROR_OPTIONS: ForwardOptions = Object.freeze({ timeoutMs: 15_000 });
const DISCARD: UpstreamResponseSink = Object.freeze({
  onHeaders: () => true,
  onData: () => true,
  onComplete: () => {},
  onError: () => {},
});

export class Cluster implements UpstreamCluster, ExchangeHost {
  readonly name: string;
  private hosts: Host[] = [];
  private usable: Host[] = [];
  private lb: LoadBalancer;
  /** Requests in flight (maxRequests). */
  active = 0;
  /** Requests waiting for a connection (maxPendingRequests). */
  pending = 0;
  /** Retries in flight (maxRetries). */
  retries = 0;
  private readonly outlier: OutlierDetector | undefined;
  private readonly healthChecker: HealthChecker | undefined;
  private readonly dns: DnsDiscovery | undefined;
  private closed = false;
  /** The generation that replaced this one (see retire). */
  private successor: Cluster | undefined;

  constructor(
    readonly spec: ClusterSpec,
    endpoints: readonly EndpointSpec[],
    private readonly poolSettings: PoolSettings,
    previous: Cluster | undefined,
    private readonly logger: Logger | undefined,
  ) {
    this.name = spec.name;
    const carried = previous ? previous.hostsByKey() : new Map<string, Host>();
    if (spec.discovery === "strict-dns" && previous?.spec.discovery === "strict-dns" && sameNames(previous.spec.inlineEndpoints, spec.inlineEndpoints)) {
      // Keep serving the previous answer until this generation's first resolution.
      endpoints = previous.hosts.map((h) => ({ address: h.address, port: h.port, weight: h.weight, healthy: h.edsHealthy, ...(h.zone ? { zone: h.zone } : {}) }));
    }
    this.setHosts(endpoints, carried);
    if (spec.discovery === "logical-dns" && previous?.spec.discovery === "logical-dns") {
      const prev = previous.hosts[0];
      if (prev && this.hosts[0] && prev.address === this.hosts[0].address) this.hosts[0].resolvedAddress ??= prev.resolvedAddress;
    }
    this.lb = this.buildLb();
    if (spec.outlier) this.outlier = new OutlierDetector(spec.outlier, () => this.hosts, () => this.refresh());
    if (spec.healthCheck) this.healthChecker = new HealthChecker(spec.healthCheck, () => this.hosts, () => this.refresh());
    if ((spec.discovery === "strict-dns" || spec.discovery === "logical-dns") && spec.inlineEndpoints.some((e) => !isIP(e.address))) {
      this.dns = new DnsDiscovery(spec.name, spec.inlineEndpoints, spec.dnsFamily, spec.dnsRefreshMs, (eps) => this.onDns(eps), logger);
    }
  }

  /** Starts timers (outlier sweeps, health checks, DNS); called once the cluster is in service. */
  start(): void {
    this.outlier?.start();
    this.healthChecker?.start();
    this.dns?.start();
  }

  get healthyEndpoints(): number {
    return this.usable.length;
  }

  /** Every endpoint, usable or not (for status pages and tests). */
  get endpoints(): readonly Host[] {
    return this.hosts;
  }

  forward(req: UpstreamRequest, sink: UpstreamResponseSink, options: ForwardOptions): UpstreamCall {
    const ex = new Exchange(this, req, sink, options);
    ex.start();
    return ex;
  }

  mirror(req: UpstreamRequest): void {
    // A streamed body is being sent to the main cluster and cannot be read twice.
    if (req.body !== null && !Buffer.isBuffer(req.body)) return;
    try {
      new Exchange(this, req, DISCARD, MIRROR_OPTIONS).start();
    } catch (err) {
      this.logger?.debug({ cluster: this.name, err }, "mirror failed to start");
    }
  }

  // ---- ExchangeHost ----------------------------------------------------------------------

  pickHost(avoid: Host | undefined): Host | undefined {
    // An exchange that started on this generation and picks again after it was replaced (a
    // retry after its backoff, a body collected first) goes to the hosts in service: the
    // ones this generation did not hand over are drained (e.g. a renewed client certificate
    // made new pools) and would refuse it.
    if (this.successor) return this.successor.pickHost(avoid);
    return this.lb.pick(avoid);
  }

  admit(host: Host): string | undefined {
    const limits = this.spec.limits;
    if (this.active >= limits.maxRequests) return `circuit breaker open: ${this.active} requests in flight (maxRequests ${limits.maxRequests})`;
    if (host.active >= host.capacity && this.pending >= limits.maxPendingRequests) return `circuit breaker open: ${this.pending} requests waiting for a connection (maxPendingRequests ${limits.maxPendingRequests})`;
    return undefined;
  }

  beginAttempt(host: Host): void {
    this.active++;
    if (host.active >= host.capacity) this.pending++;
    host.active++;
  }

  endAttempt(host: Host): void {
    this.active--;
    if (host.active > host.capacity) this.pending--;
    host.active--;
  }

  retryBudgetAvailable(): boolean {
    return this.retries < this.spec.limits.maxRetries;
  }

  retryStarted(): void {
    this.retries++;
  }

  retryEnded(): void {
    this.retries--;
  }

  recordStatus(host: Host, status: number): void {
    this.outlier?.recordStatus(host, status);
  }

  recordLocalFailure(host: Host): void {
    this.outlier?.recordLocalFailure(host);
  }

  // ---- endpoints ---------------------------------------------------------------------

  private hostsByKey(): Map<string, Host> {
    return new Map(this.hosts.map((h) => [h.key, h]));
  }

  private setHosts(endpoints: readonly EndpointSpec[], reusable: Map<string, Host>): Host[] {
    const next: Host[] = [];
    const seen = new Set<string>();
    for (const e of endpoints) {
      const key = hostKey(e.address, e.port, this.poolSettings);
      if (seen.has(key)) continue;
      seen.add(key);
      let h = reusable.get(key);
      if (h && !h.isClosed) {
        h.weight = e.weight;
        h.edsHealthy = e.healthy;
        h.zone = e.zone;
      } else {
        h = new Host(this.name, e.address, e.port, e.weight, e.healthy, this.poolSettings, this.logger);
        h.zone = e.zone;
      }
      // State kept for features this generation no longer has would never be cleared.
      if (!this.spec.healthCheck) h.hcHealthy = true;
      if (!this.spec.outlier) {
        h.ejected = false;
        h.ejectionCount = 0;
      }
      next.push(h);
    }
    const replaced = this.hosts.filter((h) => !seen.has(h.key));
    this.hosts = next;
    return replaced;
  }

  private onDns(endpoints: EndpointSpec[]): void {
    if (this.closed) return;
    if (this.spec.discovery === "logical-dns") {
      const h = this.hosts[0];
      if (h && endpoints[0]) h.resolvedAddress = endpoints[0].address;
      return;
    }
    const replaced = this.setHosts(endpoints, this.hostsByKey());
    this.refresh();
    for (const h of replaced) void h.drain();
  }

  private buildLb(): LoadBalancer {
    this.usable = this.hosts.filter((h) => h.usable);
    return createLoadBalancer(this.spec.lb, this.usable, this.spec.choiceCount);
  }

  /** Health, ejection or membership changed: rebuild the balancer over the usable hosts. */
  refresh(): void {
    this.lb = this.buildLb();
  }

  /** The hosts a newer generation did not take over; they are this generation's to drain. */
  releasedBy(next: Cluster | undefined): Host[] {
    if (!next) return this.hosts;
    const kept = new Set(next.hosts);
    return this.hosts.filter((h) => !kept.has(h));
  }

  /**
   * Stops this generation's timers; its hosts stay open for a newer generation or in-flight
   * requests. `successor` (the generation replacing it) takes the picks of exchanges that
   * started here and are not done.
   */
  retire(successor?: Cluster): void {
    this.closed = true;
    this.successor = successor;
    this.outlier?.stop();
    this.healthChecker?.stop();
    this.dns?.stop();
  }

  /** Retires the cluster and drains every endpoint (in-flight requests finish first). */
  async close(): Promise<void> {
    this.retire();
    await Promise.all(this.hosts.map((h) => h.drain()));
  }

  /** For tests: the outlier detector's interval work, run now. */
  sweepOutliers(): void {
    this.outlier?.sweep();
  }
}

function sameNames(a: readonly EndpointSpec[], b: readonly EndpointSpec[]): boolean {
  return a.length === b.length && a.every((e, i) => e.address === b[i]!.address && e.port === b[i]!.port);
}
