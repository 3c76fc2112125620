// Endpoints of STRICT_DNS and LOGICAL_DNS clusters: the names in the cluster's load
// assignment, resolved with the system resolver (getaddrinfo, so /etc/hosts applies) and
// re-resolved every dnsRefreshRate. STRICT_DNS keeps every address as an endpoint;
// LOGICAL_DNS keeps one endpoint and dials the first address of the latest answer. A
// failed resolution keeps the previous answer.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import type { EndpointSpec } from "./endpoints.js";

export class DnsDiscovery {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running = false;

  constructor(
    private readonly clusterName: string,
    private readonly names: readonly EndpointSpec[],
    private readonly family: 0 | 4 | 6,
    private readonly refreshMs: number,
    private readonly onResult: (endpoints: EndpointSpec[]) => void,
    private readonly logger: Logger | undefined,
  ) {}

  start(): void {
    void this.resolve();
    this.timer = setInterval(() => void this.resolve(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async resolve(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const out: EndpointSpec[] = [];
      for (const e of this.names) {
        if (isIP(e.address)) {
          out.push(e);
          continue;
        }
        try {
          const answers = await lookup(e.address, { all: true, family: this.family, order: "ipv4first" });
          for (const a of answers) out.push({ ...e, address: a.address });
        } catch (err) {
          this.logger?.warn({ cluster: this.clusterName, name: e.address }, `cannot resolve ${e.address} for cluster ${this.clusterName}: ${(err as Error).message}; keeping the previous answer`);
          return;
        }
      }
      if (!this.stopped) this.onResult(out);
    } finally {
      this.running = false;
    }
  }
}
