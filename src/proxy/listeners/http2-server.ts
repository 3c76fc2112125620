// The HTTP/2 server of one set of limits (http-servers.ts keeps one per distinct set):
// takes the connections that carry HTTP/2 (ALPN h2, prior-knowledge h2c, or an HTTP2
// codec), runs a session on each (../http2/server-session.ts), and turns complete
// request header blocks into exchanges for the connection's handler.
//
// Requests refused before the handler: a header list larger than maxHeaderBytes or with
// more than maxHeadersCount fields -> 431; a malformed one -> RST_STREAM PROTOCOL_ERROR;
// CONNECT -> 501; a stream arriving while the connection has no chain -> REFUSED_STREAM.
//
// One interval timer per server (an eighth of the shortest timeout, 50 ms to 1 s) checks
// every session: header blocks left unfinished past request_headers_timeout close the
// connection (counted in downstreamRqHeaderTimeout), a connection without streams for
// idle_timeout is sent GOAWAY, and each stream's request / idle timeouts.

import type * as net from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import { H2_ERROR } from "../http2/errors.js";
import { requestHead } from "../http2/request-headers.js";
import { H2ServerSession, STREAM_WINDOW, type H2SessionHost } from "../http2/server-session.js";
import { kConnection, type Connection, type WithConnection } from "./connection.js";
import { Http2Exchange } from "./http2-exchange.js";
import { timeoutCheckEveryMs, type HttpLimits } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";

type SessionWithConnection = H2ServerSession & WithConnection;

export class Http2Server implements H2SessionHost {
  private readonly sessions = new Set<SessionWithConnection>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly checkEveryMs: number;

  constructor(
    readonly limits: HttpLimits,
    readonly stats: ListenerStats,
    readonly logger: Logger | undefined,
  ) {
    this.checkEveryMs = timeoutCheckEveryMs([limits.headersTimeoutMs, limits.requestTimeoutMs, limits.idleTimeoutMs, limits.streamIdleTimeoutMs], 1 / 8, 50);
  }

  /** Takes a connection whose socket (the TLS socket on TLS chains) now carries HTTP/2. */
  accept(conn: Connection, socket: net.Socket): void {
    const l = this.limits;
    const session: SessionWithConnection = new H2ServerSession(socket, { maxConcurrentStreams: l.maxConcurrentStreams, maxHeaderListSize: l.maxHeaderBytes, maxHeaderFields: l.maxHeadersCount }, this, Date.now());
    session[kConnection] = conn;
    conn.h2 = session;
    this.sessions.add(session);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.checkEveryMs);
      this.timer.unref();
    }
    if (conn.draining) session.close();
  }

  openStream(session: H2ServerSession, id: number, fields: string[] | null, endStream: boolean): void {
    const conn = (session as SessionWithConnection)[kConnection]!;
    if (id > conn.lastStreamId) conn.lastStreamId = id;
    const chain = conn.chain;
    if (chain === undefined) {
      session.writeRst(id, H2_ERROR.REFUSED_STREAM);
      return;
    }
    const limits = chain.limits;
    if (fields === null) return session.reply(id, 431, "request header fields too large", endStream);
    const head = requestHead(fields);
    if (typeof head === "string" || (endStream && head.contentLength > 0)) {
      this.logger?.debug({ stream: id, reason: typeof head === "string" ? head : "content-length without a body" }, "malformed HTTP/2 request");
      session.writeRst(id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    if (head.fieldCount > limits.maxHeadersCount) return session.reply(id, 431, "request header fields too large", endStream);
    if (head.method === "CONNECT") return session.reply(id, 501, "", endStream);
    const exchange = new Http2Exchange(session, id, head, endStream, conn, this.stats, STREAM_WINDOW, limits.requestTimeoutMs, limits.streamIdleTimeoutMs, session.lastFrameAt);
    session.streams.set(id, exchange);
    try {
      conn.owner.handler(exchange, exchange, chain.ref);
    } catch {
      if (!exchange.headersSent) {
        exchange.writeHead(500, { "content-length": "0" });
        exchange.end();
      } else exchange.destroy();
    }
  }

  headerTimeout(session: H2ServerSession): void {
    this.stats.downstreamRqHeaderTimeout++;
    this.logger?.debug({ stream: session.lastStreamId }, "HTTP/2 header block not finished in time");
  }

  connectionFailed(session: H2ServerSession, code: number, reason: string): void {
    const conn = (session as SessionWithConnection)[kConnection];
    this.logger?.debug({ remote: conn ? `${conn.remoteAddress}:${conn.remotePort}` : undefined, errorCode: code, reason }, "HTTP/2 connection closed for a protocol error");
  }

  sessionClosed(session: H2ServerSession): void {
    this.sessions.delete(session as SessionWithConnection);
    if (this.sessions.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    const now = Date.now();
    const l = this.limits;
    const streamTimeouts = l.requestTimeoutMs > 0 || l.streamIdleTimeoutMs > 0;
    for (const s of this.sessions) {
      s.check(now, l.headersTimeoutMs, l.idleTimeoutMs);
      if (streamTimeouts && s.streams.size > 0) for (const stream of [...s.streams.values()]) stream.checkTimeouts(now);
    }
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.sessions) s.close();
  }
}
