// The node:http and node:http2 servers connections are handed to. They never listen
// themselves (the listeners own the sockets); they parse and enforce limits. Limits are
// per server in Node, so there is one pair per distinct set of limits, shared by every
// chain that has them. A connection stays with the servers it started on; a change of
// limits applies to new connections.

import * as http from "node:http";
import * as http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { Logger } from "../../telemetry/logger.js";
import { kConnection, type WithConnection } from "./connection.js";
import { onHttp1Request } from "./http1-exchange.js";
import { onHttp1Upgrade } from "./http1-upgrade.js";
import { watchHeaderBlocks } from "./h2-header-watchdog.js";
import { onHttp2Stream } from "./http2-exchange.js";
import type { HttpLimits } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";

export interface HttpServers {
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
}

export class HttpServerPool {
  private readonly servers = new Map<string, HttpServers>();

  constructor(
    private readonly logger: Logger | undefined,
    private readonly stats: ListenerStats,
  ) {}

  get(limits: HttpLimits): HttpServers {
    const key = `${limits.maxHeaderBytes}|${limits.maxHeadersCount}|${limits.headersTimeoutMs}|${limits.requestTimeoutMs}|${limits.idleTimeoutMs}|${limits.maxConcurrentStreams}|${limits.upgradeTypes.join(",")}`;
    let s = this.servers.get(key);
    if (!s) {
      s = { h1: this.createHttp1(limits), h2: this.createHttp2(limits) };
      this.servers.set(key, s);
    }
    return s;
  }

  private createHttp1(limits: HttpLimits): http.Server {
    const server = http.createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        // Strict parsing is what stops request smuggling; never relax it.
        insecureHTTPParser: false,
        requireHostHeader: true,
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        keepAliveTimeout: limits.idleTimeoutMs,
        // How often header/request timeouts are checked (Node's default, 30 s, would let a
        // slow client hold a connection three times the headers timeout).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4) || 1000)),
      },
      onHttp1Request,
    );
    server.keepAliveTimeout = limits.idleTimeoutMs;
    server.headersTimeout = limits.headersTimeoutMs;
    server.requestTimeout = limits.requestTimeoutMs;
    server.timeout = 0;
    // One more than allowed, so the request handler sees the excess and answers 431
    // (at the limit Node would drop the rest silently).
    server.maxHeadersCount = limits.maxHeadersCount + 1;
    if (limits.upgradeTypes.length > 0) {
      // Only these servers take upgrades: elsewhere node:http treats an Upgrade request as
      // an ordinary one (and the Upgrade header is dropped as hop-by-hop).
      const stats = this.stats;
      const plain = (): http.Server => this.get({ ...limits, upgradeTypes: [] }).h1;
      server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => onHttp1Upgrade(req, socket, head, plain, stats));
    }
    // Malformed requests get Node's answers (400, 408 on timeout, 413, 431), then close:
    // no 'clientError' listener on purpose.
    // Timeout tracking starts on 'listening'; these servers never listen themselves.
    server.emit("listening");
    return server;
  }

  private createHttp2(limits: HttpLimits): http2.Http2Server {
    const server = http2.createServer({
      // nghttp2 refuses streams beyond maxConcurrentStreams itself (RST_STREAM REFUSED_STREAM).
      settings: { maxHeaderListSize: limits.maxHeaderBytes, enablePush: false, maxConcurrentStreams: limits.maxConcurrentStreams },
      maxHeaderListPairs: limits.maxHeadersCount + 4, // + pseudo-headers
    });
    const stats = this.stats;
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => onHttp2Stream(stream, headers, stats));
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
    this.servers.clear();
  }
}
