// The HTTP servers connections are handed to: meshgate's own HTTP/1.1 server
// (http1-server.ts) and HTTP/2 server (http2-server.ts). They never listen themselves
// (the listeners own the sockets); they parse and enforce limits. Limits are per server, so there is one
// pair per distinct set of limits, shared by every chain that has them. A connection
// stays with the servers it started on; a change of limits applies to new connections.

import type { Logger } from "../../telemetry/logger.js";
import { Http1Server } from "./http1-server.js";
import { Http2Server } from "./http2-server.js";
import type { HttpLimits } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";

export interface HttpServers {
  readonly h1: Http1Server;
  readonly h2: Http2Server;
}

export class HttpServerPool {
  private readonly servers = new Map<string, HttpServers>();

  constructor(
    private readonly logger: Logger | undefined,
    private readonly stats: ListenerStats,
  ) {}

  get(limits: HttpLimits): HttpServers {
    const key = `${limits.maxHeaderBytes}|${limits.maxHeadersCount}|${limits.headersTimeoutMs}|${limits.requestTimeoutMs}|${limits.idleTimeoutMs}|${limits.streamIdleTimeoutMs}|${limits.maxConcurrentStreams}|${limits.upgradeTypes.join(",")}`;
    let s = this.servers.get(key);
    if (!s) {
      s = { h1: new Http1Server(limits, this.stats, this.logger), h2: new Http2Server(limits, this.stats, this.logger) };
      this.servers.set(key, s);
    }
    return s;
  }

  close(): void {
    for (const s of this.servers.values()) {
      s.h1.close();
      s.h2.close();
    }
    this.servers.clear();
  }
}
