// undici's pools for the endpoints meshgate's HTTP/1.1 pool does not serve: HTTP/2
// (one multiplexed Client per endpoint) and HTTP/1.1 clusters whose TLS offers h2 by
// ALPN (a Pool, where the server's ALPN choice decides the protocol per connection).
// undici is required here, on first use, and nowhere else on the proxy's request path:
// importing it costs every worker memory and start-up time it has no use for otherwise.

import { createRequire } from "node:module";
import type * as Undici from "undici";
import type { Connect } from "./connector.js";
import type { UpstreamDispatcher } from "./dispatcher.js";

export interface UndiciDispatcherOptions {
  readonly http2: boolean;
  readonly allowH2: boolean;
  /** HTTP/1.1 pool size. */
  readonly maxConnections: number;
  /** HTTP/2 streams per connection. */
  readonly streamsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly connect: Connect;
}

const require = createRequire(import.meta.url);
let undici: typeof Undici | undefined;

export function createUndiciDispatcher(origin: string, o: UndiciDispatcherOptions): UpstreamDispatcher {
  undici ??= require("undici") as typeof Undici;
  const options: Undici.Pool.Options = {
    pipelining: o.http2 ? o.streamsPerConnection : 1,
    keepAliveTimeout: o.idleTimeoutMs,
    keepAliveMaxTimeout: o.idleTimeoutMs,
    allowH2: o.allowH2,
    // The exchange enforces the route's timeouts itself.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: o.connect as unknown as Undici.buildConnector.connector,
  };
  // undici's Pool opens a connection per request queued while connecting, which for
  // HTTP/2 would mean a session per stream; one Client multiplexes them as Envoy does.
  const d = o.http2 ? new undici.Client(origin, options) : new undici.Pool(origin, { ...options, connections: o.maxConnections });
  // A pool with no request left emits errors nowhere else; they are reported per request.
  d.on("connectionError", () => {});
  return d as unknown as UpstreamDispatcher;
}
