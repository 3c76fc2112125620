// One upstream endpoint: its keep-alive pool and the state load balancing, outlier
// detection and health checking keep about it. A Host outlives configuration updates
// that leave its address and connection settings alone, so its pool (and the open
// connections in it) and its health carry over.
//
// HTTP/1.1 endpoints get meshgate's own pool (./http1-pool.ts); HTTP/2 endpoints (and
// HTTP/1.1 ones whose TLS offers h2 by ALPN, so the server may pick either) get undici's,
// loaded only then (./undici-dispatcher.ts), so a proxy without such clusters never
// loads undici.

import type { Logger } from "../../telemetry/logger.js";
import { createConnector, type Connect, type ConnectTarget } from "./connector.js";
import type { UpstreamDispatcher } from "./dispatcher.js";
import { Http1Pool } from "./http1-pool.js";
import { createUndiciDispatcher } from "./undici-dispatcher.js";
import { ConnectFailure } from "./upstream-error.js";
import type { UpstreamTlsSettings } from "./upstream-tls.js";

export interface PoolSettings {
  readonly connectTimeoutMs: number;
  readonly http2: boolean;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly tls?: UpstreamTlsSettings;
  /** Set when the cluster cannot connect yet (a secret it needs has not arrived). */
  readonly unavailableReason?: string;
}

/** Streams per HTTP/2 connection before another connection is opened. */
const H2_STREAMS_PER_CONNECTION = 100;

/** What makes two hosts interchangeable: same address and the same way of connecting. */
export function hostKey(address: string, port: number, s: PoolSettings): string {
  return `${address}|${port}|${s.tls?.fingerprint ?? "plain"}|${s.http2 ? "h2" : "h1"}|${s.connectTimeoutMs}|${s.idleTimeoutMs}|${s.maxConnections}|${s.unavailableReason ?? ""}`;
}

export class Host implements ConnectTarget {
  readonly key: string;
  readonly label: string;
  /** HTTP/1.1: a pool of keep-alive connections; HTTP/2: one multiplexed connection. */
  readonly pool: UpstreamDispatcher;
  /** Requests dispatched and not finished (least-request balancing, circuit breakers). */
  active = 0;
  /** Requests beyond the pool's connection capacity wait for a connection. */
  readonly capacity: number;
  /** The cluster speaks HTTP/2 to this endpoint (no HTTP/1.1 upgrades). */
  readonly http2: boolean;
  weight: number;
  zone: string | undefined;
  edsHealthy: boolean;
  /** Active health checking verdict (true until a check says otherwise). */
  hcHealthy = true;
  ejected = false;
  ejectedUntil = 0;
  ejectionCount = 0;
  consecutive5xx = 0;
  consecutiveGatewayFailures = 0;
  /** For LOGICAL_DNS: the latest resolved address (undefined: dial the name itself). */
  resolvedAddress: string | undefined;
  private lastLoggedFailure: string | undefined;
  private closed = false;

  constructor(
    readonly clusterName: string,
    readonly address: string,
    readonly port: number,
    weight: number,
    edsHealthy: boolean,
    settings: PoolSettings,
    private readonly logger: Logger | undefined,
  ) {
    this.key = hostKey(address, port, settings);
    this.label = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    this.weight = weight;
    this.edsHealthy = edsHealthy;
    // HTTP/2 multiplexes a connection's streams as Envoy does: one connection, 100 streams.
    this.capacity = settings.http2 ? H2_STREAMS_PER_CONNECTION : settings.maxConnections;
    this.http2 = settings.http2;
    const reason = settings.unavailableReason;
    const connect: Connect = reason
      ? (_opts, cb) => {
          const message = `upstream TLS to ${this.label} (cluster ${clusterName}) failed: ${reason}`;
          this.onConnectFailure(message);
          cb(new ConnectFailure(message, true), null);
        }
      : createConnector(this, { connectTimeoutMs: settings.connectTimeoutMs, http2: settings.http2, ...(settings.tls ? { tls: settings.tls } : {}) });
    const alpnH2 = settings.tls?.alpn.includes("h2") === true;
    this.pool =
      settings.http2 || alpnH2
        ? createUndiciDispatcher(`http://${this.label}`, {
            http2: settings.http2,
            allowH2: true,
            maxConnections: settings.maxConnections,
            streamsPerConnection: H2_STREAMS_PER_CONNECTION,
            idleTimeoutMs: settings.idleTimeoutMs,
            connect,
          })
        : new Http1Pool({ connect, maxConnections: settings.maxConnections, idleTimeoutMs: settings.idleTimeoutMs, label: this.label, clusterName });
  }

  get usable(): boolean {
    return this.edsHealthy && this.hcHealthy && !this.ejected;
  }

  dialAddress(): string {
    return this.resolvedAddress ?? this.address;
  }

  onConnectFailure(message: string): void {
    if (message === this.lastLoggedFailure) return;
    this.lastLoggedFailure = message;
    this.logger?.warn({ cluster: this.clusterName, endpoint: this.label }, message);
  }

  onConnected(): void {
    this.lastLoggedFailure = undefined;
  }

  /** Lets in-flight requests finish, then closes the connections. */
  drain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.pool.close().catch(() => undefined);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
