// The HTTP servers connections are handed to: meshgate's own HTTP/1.1 server
// (http1-server.ts) and node:http2's. They never listen themselves (the listeners own
// the sockets); they parse and enforce limits. Limits are per server, so there is one
// pair per distinct set of limits, shared by every chain that has them. A connection
// stays with the servers it started on; a change of limits applies to new connections.

import * as http2 from "node:http2";
import type { Logger } from "../../telemetry/logger.js";
import { kConnection, type WithConnection } from "./connection.js";
import { watchHeaderBlocks } from "./h2-header-watchdog.js";
import { Http1Server } from "./http1-server.js";
import { onHttp2Stream, StreamIdleWatch } from "./http2-exchange.js";
import type { HttpLimits } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";

export interface HttpServers {
  readonly h1: Http1Server;
  readonly h2: http2.Http2Server;
}

export class HttpServerPool {
  private readonly servers = new Map<string, HttpServers>();
  private readonly idleWatches: StreamIdleWatch[] = [];

  constructor(
    private readonly logger: Logger | undefined,
    private readonly stats: ListenerStats,
  ) {}

  get(limits: HttpLimits): HttpServers {
    const key = `${limits.maxHeaderBytes}|${limits.maxHeadersCount}|${limits.headersTimeoutMs}|${limits.requestTimeoutMs}|${limits.idleTimeoutMs}|${limits.streamIdleTimeoutMs}|${limits.maxConcurrentStreams}|${limits.upgradeTypes.join(",")}`;
    let s = this.servers.get(key);
    if (!s) {
      s = { h1: new Http1Server(limits, this.stats, this.logger), h2: this.createHttp2(limits) };
      this.servers.set(key, s);
    }
    return s;
  }

  private createHttp2(limits: HttpLimits): http2.Http2Server {
    const server = http2.createServer({
      // nghttp2 refuses streams beyond maxConcurrentStreams itself (RST_STREAM REFUSED_STREAM).
      settings: { maxHeaderListSize: limits.maxHeaderBytes, enablePush: false, maxConcurrentStreams: limits.maxConcurrentStreams },
      maxHeaderListPairs: limits.maxHeadersCount + 4, // + pseudo-headers
    });
    const stats = this.stats;
    const idleWatch = limits.streamIdleTimeoutMs > 0 ? new StreamIdleWatch(limits.streamIdleTimeoutMs) : undefined;
    if (idleWatch !== undefined) this.idleWatches.push(idleWatch);
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => onHttp2Stream(stream, headers, stats, idleWatch));
    const logger = this.logger;
    const idle = limits.idleTimeoutMs;
    const headersTimeout = limits.headersTimeoutMs;
    server.on("session", (session: http2.ServerHttp2Session) => {
      const conn = (session.socket as unknown as WithConnection)[kConnection];
      (session as unknown as WithConnection)[kConnection] = conn;
      if (conn) conn.h2 = session;
      session.on("error", (err) => logger?.debug({ err: err.message }, "HTTP/2 session error"));
      // GOAWAY after `idle` without frames; open streams may still finish.
      if (idle > 0) session.setTimeout(idle, () => session.close());
      if (conn && headersTimeout > 0) watchHeaderBlocks(session, conn, headersTimeout, stats);
      if (conn?.draining) session.close();
    });
    server.on("sessionError", () => {});
    return server;
  }

  close(): void {
    for (const s of this.servers.values()) {
      s.h1.close();
      s.h2.close();
    }
    for (const w of this.idleWatches.splice(0)) w.close();
    this.servers.clear();
  }
}
