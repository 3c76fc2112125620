// The proxy's upstream clusters, replaced as a whole on every configuration update.
// `apply` first validates and builds everything (and throws, naming the resource and
// field, for anything the proxy cannot honour, leaving the current clusters as they
// are); only then does it swap. Endpoints whose address and connection settings did not
// change keep their pool and its keep-alive connections; the others are drained, letting
// their in-flight requests finish.

import type { Logger } from "../../telemetry/logger.js";
import type { EnvoyResource } from "../contracts.js";
import { parseCluster, type ClusterSpec } from "./cluster-config.js";
import { Cluster } from "./cluster.js";
import { parseLoadAssignment, type EndpointSpec } from "./endpoints.js";
import type { Host, PoolSettings } from "./host.js";
import { ConfigPath, UPSTREAM_RESOURCE } from "../config-reader.js";
import { buildUpstreamTls, missingSecrets } from "./upstream-tls.js";

interface Plan {
  readonly spec: ClusterSpec;
  readonly endpoints: readonly EndpointSpec[];
  readonly pool: PoolSettings;
  /** The cluster waits for a secret: the current generation keeps serving. */
  readonly keepCurrent: boolean;
}

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private readonly logger: Logger | undefined;
  private closed = false;

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = opts.logger;
  }

  apply(clusters: ReadonlyMap<string, EnvoyResource>, endpoints: ReadonlyMap<string, EnvoyResource>, secrets: ReadonlyMap<string, EnvoyResource>): void {
    if (this.closed) return;
    // Phase 1: everything that can fail, with no effect on what is serving.
    const plans = new Map<string, Plan>();
    for (const [name, resource] of clusters) {
      const spec = parseCluster(resource);
      if (spec.name !== name) new ConfigPath(UPSTREAM_RESOURCE, `cluster ${JSON.stringify(name)}`, "name").fail(`the resource is named ${JSON.stringify(spec.name)}`);
      let eps: readonly EndpointSpec[] = spec.inlineEndpoints;
      if (spec.discovery === "eds") {
        const cla = endpoints.get(spec.edsName);
        // Until its assignment arrives an EDS cluster has no endpoints (no healthy upstream).
        eps = cla ? parseLoadAssignment(cla, new ConfigPath(UPSTREAM_RESOURCE, `endpoint ${JSON.stringify(spec.edsName)}`, "")) : [];
      }
      let pool: PoolSettings = { connectTimeoutMs: spec.connectTimeoutMs, http2: spec.http2, idleTimeoutMs: spec.idleTimeoutMs, maxConnections: spec.limits.maxConnections };
      let keepCurrent = false;
      if (spec.tls) {
        const missing = missingSecrets(spec.tls, secrets);
        if (missing.length > 0) {
          // Envoy keeps a cluster warming until its secrets arrive; the secret is only
          // subscribed once the cluster that names it is known, so this is normal.
          const reason = `secret ${missing.map((s) => JSON.stringify(s)).join(", ")} not received yet`;
          if (this.clusters.has(name)) keepCurrent = true;
          else pool = { ...pool, unavailableReason: reason };
          this.logger?.info({ cluster: name, secrets: missing }, `cluster ${name} waits for ${reason}`);
        } else {
          pool = { ...pool, tls: buildUpstreamTls(name, spec.tls, spec.http2, secrets) };
        }
      }
      plans.set(name, { spec, endpoints: eps, pool, keepCurrent });
    }

    // Phase 2: swap. Nothing below throws for a valid plan.
    const previous = this.clusters;
    const next = new Map<string, Cluster>();
    const started: Cluster[] = [];
    for (const [name, plan] of plans) {
      const current = previous.get(name);
      if (plan.keepCurrent && current) {
        next.set(name, current);
        continue;
      }
      const c = new Cluster(plan.spec, plan.endpoints, plan.pool, current, this.logger);
      next.set(name, c);
      started.push(c);
    }
    this.clusters = next;
    const toDrain: Host[] = [];
    for (const [name, old] of previous) {
      const replacement = next.get(name);
      if (replacement === old) continue;
      old.retire(replacement);
      toDrain.push(...old.releasedBy(replacement));
    }
    for (const c of started) c.start();
    for (const h of toDrain) void h.drain();
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** The names of the clusters in service. */
  names(): string[] {
    return [...this.clusters.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.clusters.values()];
    this.clusters = new Map();
    await Promise.all(all.map((c) => c.close()));
  }
}
