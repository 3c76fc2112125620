// One HTTP/2 stream of meshgate's own HTTP/2 server (../http2/server-session.ts), which
// is at the same time the proxy's DownstreamRequest and DownstreamResponse: one object
// per request. Response headers are held until the first body byte or the end, so a
// body-less response goes out as one HEADERS frame with END_STREAM, and a small one as
// HEADERS + DATA in the same socket write.
//
// Per stream, as Envoy's connection manager does: `requestTimeout` bounds the time until
// the whole request has arrived (disarmed by its end or by the response starting), and
// `streamIdleTimeout` the time without frames either way. Either one answers 408 while
// nothing of the response went out (and resets what is left of the stream), and resets
// the stream otherwise; the handler sees the exchange closed, so the upstream request is
// cancelled. Both are checked by the server's interval timer (Http2Server), so a stream
// costs no timer of its own.
//
// A response that completes while the request body is still coming ends the stream with
// RST_STREAM(NO_ERROR) after it (RFC 9113 §8.1), and the rest of the body is dropped.

import type { Readable } from "node:stream";
import type { DownstreamRequest, DownstreamResponse, HeaderMap } from "../contracts.js";
import { H2_ERROR } from "../http2/errors.js";
import type { RequestHead } from "../http2/request-headers.js";
import { trailersValid } from "../http2/request-headers.js";
import type { H2ServerSession, H2StreamCore } from "../http2/server-session.js";
import { ConnectionFacts, type Connection } from "./connection.js";
import { endedBody, RequestBody } from "./request-body.js";
import type { ListenerStats } from "./listener-stats.js";

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), dropped from responses. */
const H2_FORBIDDEN = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host"]);
/** Past this many queued response bytes, write() says wait. */
const WRITE_HIGH_WATER = 64 * 1024;
/** Request body window given back in batches of at least this much while the consumer keeps up. */
const WINDOW_BATCH = 32 * 1024;
const EMPTY = Buffer.alloc(0);

export class Http2Exchange extends ConnectionFacts implements DownstreamRequest, DownstreamResponse, H2StreamCore {
  sendWindow: number;
  recvWindow: number;

  readonly method: string;
  readonly authority: string;
  readonly rawPath: string;
  readonly headers: HeaderMap;
  readonly hasBody: boolean;
  private readonly contentLength: number;
  private bodyStream: RequestBody | null = null;
  private noBody: Readable | null = null;
  private received = 0;
  /** Stream window consumed by the body and not yet given back. */
  private credit = 0;
  private remoteEnded: boolean;

  private status = 0;
  private responseHeaders: HeaderMap | undefined = undefined;
  private responded = false;
  /** end() was called. */
  private ended = false;
  /** END_STREAM went to the session: the response is complete. */
  private completed = false;
  /** The stream was reset (by the peer, a destroy, the connection). */
  private reset = false;
  /** A timeout ended the stream: whatever the handler still sends is dropped. */
  private timedOut = false;
  private pending: Uint8Array[] | null = null;
  private pendingOffset = 0;
  private pendingBytes = 0;
  private pendingEnd = false;
  private pendingTrailers: string[] | null = null;
  private drainCbs: (() => void)[] | null = null;
  private closeCbs: (() => void)[] | null = null;

  /** 0: no request timeout pending. */
  private requestDeadline = 0;
  private readonly idleMs: number;
  private lastActivity: number;

  constructor(
    readonly session: H2ServerSession,
    readonly id: number,
    head: RequestHead,
    endStream: boolean,
    conn: Connection,
    private readonly stats: ListenerStats,
    recvWindow: number,
    requestTimeoutMs: number,
    streamIdleTimeoutMs: number,
    now: number,
  ) {
    super(conn);
    this.sendWindow = session.peerInitialWindow;
    this.recvWindow = recvWindow;
    this.method = head.method;
    this.authority = head.authority ?? (head.headers.host as string | undefined) ?? "";
    this.rawPath = head.path ?? "";
    this.headers = head.headers;
    this.contentLength = head.contentLength;
    this.hasBody = !endStream;
    this.remoteEnded = endStream;
    if (!endStream) {
      this.bodyStream = new RequestBody(this);
      if (requestTimeoutMs > 0) this.requestDeadline = now + requestTimeoutMs;
    }
    this.idleMs = streamIdleTimeoutMs;
    this.lastActivity = now;
  }

  get protocol(): "h2" {
    return "h2";
  }
  get body(): Readable {
    return this.bodyStream ?? (this.noBody ??= endedBody());
  }

  // ---- from the session ---------------------------------------------------------------

  onData(payload: Buffer, endStream: boolean): void {
    if (this.remoteEnded) {
      this.session.resetStream(this.id, H2_ERROR.STREAM_CLOSED);
      return;
    }
    this.lastActivity = this.session.lastFrameAt;
    const n = payload.length;
    this.received += n;
    if (this.contentLength >= 0 && (this.received > this.contentLength || (endStream && this.received !== this.contentLength))) {
      // RFC 9113 §8.1.1: a body that does not match its Content-Length is malformed.
      this.session.resetStream(this.id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    const body = this.bodyStream;
    if (n > 0 && body !== null && !body.destroyed) {
      this.credit += n;
      if (body.push(payload) && this.credit >= WINDOW_BATCH) this.giveBack();
    } else if (n > 0) {
      // Nobody reads the body any more (the response is complete): the window comes back at once.
      this.credit += n;
      this.giveBack();
    }
    if (endStream) this.remoteEnd();
  }

  onTrailers(fields: string[]): void {
    if (this.remoteEnded || !trailersValid(fields)) {
      this.session.resetStream(this.id, H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    // Request trailers are not forwarded (as before: the upstream request is HTTP/1.1).
    this.onData(EMPTY, true);
  }

  onReset(code: number): void {
    if (this.reset) return;
    this.reset = true;
    this.requestDeadline = 0;
    this.pending = null;
    this.pendingBytes = 0;
    const body = this.bodyStream;
    if (body !== null && !this.remoteEnded && !body.destroyed) body.destroy(new Error(`stream reset (HTTP/2 error ${code})`));
    if (!this.completed) this.runClose();
  }

  onWritable(): void {
    if (this.pending !== null) return;
    if (this.session.writeBlocked) {
      this.session.waitForDrain(this);
      return;
    }
    const cbs = this.drainCbs;
    if (cbs === null) return;
    this.drainCbs = null;
    for (const cb of cbs) cb();
  }

  get hasPendingData(): boolean {
    return this.pending !== null;
  }

  flushPending(): void {
    const q = this.pending;
    if (q === null || this.reset) return;
    const session = this.session;
    while (q.length > 0) {
      const chunk = q[0]!;
      const left = chunk.length - this.pendingOffset;
      const n = session.sendable(this, left);
      if (n === 0 && left > 0) return;
      const last = n === left && q.length === 1;
      session.writeData(this, chunk, this.pendingOffset, this.pendingOffset + n, last && this.pendingEnd && this.pendingTrailers === null);
      this.pendingBytes -= n;
      this.lastActivity = Date.now();
      if (n < left) {
        this.pendingOffset += n;
        return;
      }
      q.shift();
      this.pendingOffset = 0;
    }
    this.pending = null;
    if (this.pendingEnd) this.finish(this.pendingTrailers);
  }

  /** The bytes the consumer took come back to the client as stream window. */
  bodyWanted(): void {
    if (this.credit > 0 && !this.remoteEnded) this.giveBack();
  }

  private giveBack(): void {
    const n = this.credit;
    this.credit = 0;
    if (!this.reset && !this.remoteEnded) this.session.streamWindowBack(this, n);
  }

  private remoteEnd(): void {
    this.remoteEnded = true;
    this.requestDeadline = 0;
    this.credit = 0;
    const body = this.bodyStream;
    if (body !== null && !body.destroyed) body.push(null);
    if (this.completed) this.session.forget(this);
  }

  /** Timeouts, from the server's timer. */
  checkTimeouts(now: number): void {
    if (this.requestDeadline !== 0 && now >= this.requestDeadline) this.timeout("request timeout", "request");
    else if (this.idleMs > 0 && now - this.lastActivity >= this.idleMs) this.timeout("stream timeout", "idle");
  }

  /** A timeout fired: 408 if nothing of the response went out (Envoy's local reply), else a reset. */
  private timeout(body: string, kind: "request" | "idle"): void {
    if (this.timedOut || this.reset || this.completed) return;
    if (kind === "request") this.stats.downstreamRqTimeout++;
    else this.stats.downstreamRqIdleTimeout++;
    this.timedOut = true;
    this.requestDeadline = 0;
    if (!this.responded) {
      this.responded = true;
      this.status = 408;
      const payload = Buffer.from(body, "latin1");
      this.session.writeHeaders(this.id, 408, ["content-type", "text/plain", "content-length", String(payload.length)], false);
      this.sendData(payload, true);
      this.runClose();
      return;
    }
    this.session.resetStream(this.id, H2_ERROR.INTERNAL_ERROR);
  }

  // ---- DownstreamResponse ---------------------------------------------------------------

  get headersSent(): boolean {
    return this.status !== 0;
  }
  get closed(): boolean {
    return this.timedOut || (this.reset && !this.completed);
  }
  writeHead(status: number, headers: HeaderMap): void {
    if (this.timedOut) return;
    if (this.status !== 0) throw new Error("response headers already sent");
    this.status = status;
    this.responseHeaders = headers;
  }
  write(chunk: Uint8Array): boolean {
    if (this.timedOut || this.reset) return true;
    if (!this.responded) this.respond(false);
    this.sendData(chunk, false);
    if (this.pendingBytes > WRITE_HIGH_WATER) return false;
    if (this.session.writeBlocked) {
      this.session.waitForDrain(this);
      return false;
    }
    return true;
  }
  onDrain(cb: () => void): void {
    (this.drainCbs ??= []).push(cb);
  }
  /** `cb` runs if the stream ends without the response completing (reset, client gone, destroy). */
  onClose(cb: () => void): void {
    if (this.closed) {
      process.nextTick(cb);
      return;
    }
    (this.closeCbs ??= []).push(cb);
  }
  end(chunk?: Uint8Array, trailers?: HeaderMap): void {
    if (this.ended || this.timedOut || this.reset) return;
    this.ended = true;
    if (this.status === 0) this.status = 200;
    const flatTrailers = trailers !== undefined ? flatten(trailers) : null;
    const hasTrailers = flatTrailers !== null && flatTrailers.length > 0;
    if (!this.responded) {
      if (chunk === undefined && !hasTrailers) {
        this.respond(true);
        return;
      }
      this.respond(false);
    }
    if (!hasTrailers) {
      this.sendData(chunk ?? EMPTY, true);
      return;
    }
    if (chunk !== undefined && chunk.length > 0) this.sendData(chunk, false);
    if (this.pending !== null) {
      this.pendingEnd = true;
      this.pendingTrailers = flatTrailers;
    } else this.finish(flatTrailers);
  }
  destroy(_error?: Error): void {
    if (this.completed || this.reset) return;
    this.session.resetStream(this.id, H2_ERROR.INTERNAL_ERROR);
  }

  // ---- sending ------------------------------------------------------------------------

  private respond(endStream: boolean): void {
    this.responded = true;
    // Envoy's request_timeout ends once the response has started.
    this.requestDeadline = 0;
    this.lastActivity = Date.now();
    const fields = this.responseHeaders !== undefined ? flatten(this.responseHeaders) : [];
    this.session.writeHeaders(this.id, this.status, fields, endStream);
    if (endStream) this.complete();
  }

  private sendData(chunk: Uint8Array, endStream: boolean): void {
    const n = chunk.length;
    if (this.pending !== null) {
      if (n > 0) {
        this.pending.push(chunk);
        this.pendingBytes += n;
      }
      if (endStream) this.pendingEnd = true;
      return;
    }
    const session = this.session;
    const can = session.sendable(this, n);
    this.lastActivity = Date.now();
    if (can === n) {
      session.writeData(this, chunk, 0, n, endStream);
      if (endStream) this.complete();
      return;
    }
    if (can > 0) session.writeData(this, chunk, 0, can, false);
    this.pending = [chunk];
    this.pendingOffset = can;
    this.pendingBytes = n - can;
    this.pendingEnd = endStream;
    session.block(this);
  }

  /** The last DATA is out: trailers if any, then the stream is complete. */
  private finish(trailers: string[] | null): void {
    if (trailers !== null) this.session.writeHeaders(this.id, 0, trailers, true);
    this.complete();
  }

  private complete(): void {
    this.completed = true;
    this.drainCbs = null;
    if (this.remoteEnded) {
      this.session.forget(this);
      return;
    }
    // The request is still open: the client may stop sending (RFC 9113 §8.1).
    this.session.writeRst(this.id, H2_ERROR.NO_ERROR);
    this.reset = true;
    this.requestDeadline = 0;
    const body = this.bodyStream;
    if (body !== null && !body.destroyed) body.destroy();
    this.session.forget(this);
  }

  private runClose(): void {
    const cbs = this.closeCbs;
    if (cbs === null) return;
    this.closeCbs = null;
    for (const cb of cbs) cb();
  }
}

/** Response headers as HPACK's flat list: connection-specific fields dropped, arrays expanded. */
function flatten(headers: HeaderMap): string[] {
  const out: string[] = [];
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || H2_FORBIDDEN.has(k)) continue;
    if (typeof v === "string") out.push(k, v);
    else if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  }
  return out;
}
