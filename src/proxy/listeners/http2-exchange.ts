// HTTP/2 streams (node:http2's core 'stream' API, which is cheaper than its HTTP/1-style
// compatibility layer) adapted to DownstreamRequest / DownstreamResponse. Response
// headers are held until the first body byte or the end, so a body-less response goes
// out as one HEADERS frame with END_STREAM, and whether to wait for trailers can be
// decided when they are known.
//
// Per stream, as Envoy's connection manager does: `requestTimeout` bounds the time until
// the whole request has arrived (disarmed by its end or by the response starting), and
// `streamIdleTimeout` the time without frames either way. Either one answers 408 while
// nothing of the response went out (and resets what is left of the stream), and resets
// the stream otherwise; the handler sees the exchange closed, so the upstream request is
// cancelled.
//
// The idle timer is node:http2's per-stream timer, which every frame of the stream
// refreshes; it is armed only for streams still open after one or two ticks of the
// server's StreamIdleWatch (an eighth of the timeout, 50 ms to 1 s), so the short streams
// that make up most traffic never pay for a timer, and an idle stream is noticed at most
// two ticks late. Per stream the exchange adds two listeners ('error', 'close'), both
// shared functions.

import * as http2 from "node:http2";
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";
import type { DownstreamRequest, DownstreamResponse, HeaderMap } from "../contracts.js";
import { teAcceptsTrailers } from "../http/hop-by-hop.js";
import { ConnectionFacts, kConnection, type Connection, type WithConnection } from "./connection.js";
import type { ListenerStats } from "./listener-stats.js";

const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

const kExchange: unique symbol = Symbol("meshgate.exchange");
type WithExchange = { [kExchange]?: Http2Exchange };

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); node:http2 would throw on them. */
const H2_FORBIDDEN = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host"]);

/**
 * Arms the idle timer of the streams of one HTTP/2 server that outlive a tick or two.
 * The streams waiting are a list threaded through the exchanges themselves, oldest
 * first: adding and removing one is a few field writes (a Set's hashing and rehashing,
 * at every stream, measurably cost more).
 */
export class StreamIdleWatch {
  private head: Http2Exchange | null = null;
  private tail: Http2Exchange | null = null;
  private epoch = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, Math.floor(timeoutMs / 8))));
    this.timer.unref();
  }

  add(ex: Http2Exchange): void {
    ex.idleEpoch = this.epoch;
    ex.idlePrev = this.tail;
    ex.idleNext = null;
    if (this.tail === null) this.head = ex;
    else this.tail.idleNext = ex;
    this.tail = ex;
    ex.idleWatched = true;
  }

  delete(ex: Http2Exchange): void {
    if (!ex.idleWatched) return;
    ex.idleWatched = false;
    const prev = ex.idlePrev;
    const next = ex.idleNext;
    if (prev === null) this.head = next;
    else prev.idleNext = next;
    if (next === null) this.tail = prev;
    else next.idlePrev = prev;
    ex.idlePrev = null;
    ex.idleNext = null;
  }

  private tick(): void {
    const seen = this.epoch++;
    // Streams added before the previous tick have lived at least one tick.
    for (let ex = this.head; ex !== null && ex.idleEpoch < seen; ex = this.head) {
      this.delete(ex);
      ex.armIdleTimer();
    }
  }

  close(): void {
    clearInterval(this.timer);
    while (this.head !== null) this.delete(this.head);
  }
}

export class Http2Exchange extends ConnectionFacts implements DownstreamRequest, DownstreamResponse {
  private plainHeaders: HeaderMap | undefined = undefined;
  private status = 0;
  private responseHeaders: HeaderMap | undefined = undefined;
  private trailers: HeaderMap | undefined = undefined;
  private responded = false;
  /** end() was called: a close with NO_ERROR after it is a completed response. */
  private ended = false;
  /** A timeout ended the stream: whatever the handler still sends is dropped. */
  private timedOut = false;
  private requestTimer: NodeJS.Timeout | undefined = undefined;
  /** The stream idle timeout (the chain's when the stream arrived); 0: none. */
  private idleMs = 0;
  private idleWatch: StreamIdleWatch | undefined = undefined;
  /** The watch's tick when the stream was added to it, and its place in the watch's list. */
  idleEpoch = 0;
  idleWatched = false;
  idlePrev: Http2Exchange | null = null;
  idleNext: Http2Exchange | null = null;
  private closeCb: (() => void) | null = null;
  private closeCbs: (() => void)[] | null = null;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly h2Headers: IncomingHttpHeaders,
    conn: Connection,
    private readonly stats: ListenerStats,
  ) {
    super(conn);
    (stream as WithExchange)[kExchange] = this;
    stream.on("close", onStreamClose);
  }

  /** Starts the stream's timeouts (the chain's limits when the stream arrived). */
  armTimeouts(requestTimeoutMs: number, streamIdleTimeoutMs: number, watch: StreamIdleWatch | undefined): void {
    const stream = this.stream;
    if (streamIdleTimeoutMs > 0) {
      this.idleMs = streamIdleTimeoutMs;
      if (watch !== undefined) {
        this.idleWatch = watch;
        watch.add(this);
      } else this.armIdleTimer();
    }
    if (requestTimeoutMs > 0 && !stream.endAfterHeaders) {
      this.requestTimer = setTimeout(onRequestTimeout, requestTimeoutMs, this);
      stream.once("end", disarmRequestTimer);
    }
  }

  /** node:http2's idle timer for this stream, from now on. */
  armIdleTimer(): void {
    const stream = this.stream;
    if (this.idleMs <= 0 || stream.destroyed || stream.closed) return;
    stream.setTimeout(this.idleMs);
    stream.on("timeout", onStreamIdle);
  }

  /** The stream closed: its timers go, and close callbacks run if the response did not complete. */
  streamClosed(): void {
    this.disarmRequestTimer();
    if (this.idleWatch !== undefined) this.idleWatch.delete(this);
    const cb = this.closeCb;
    if (cb === null || !this.closed) return;
    const more = this.closeCbs;
    this.closeCb = null;
    this.closeCbs = null;
    cb();
    if (more !== null) for (const c of more) c();
  }

  disarmRequestTimer(): void {
    if (this.requestTimer !== undefined) {
      clearTimeout(this.requestTimer);
      this.requestTimer = undefined;
    }
  }

  /** A timeout fired: 408 if nothing of the response went out (Envoy's local reply), else a reset. */
  timeout(body: string, kind: "request" | "idle"): void {
    const stream = this.stream;
    if (this.timedOut || stream.destroyed || stream.closed) return;
    if (kind === "request") this.stats.downstreamRqTimeout++;
    else this.stats.downstreamRqIdleTimeout++;
    this.timedOut = true;
    this.disarmRequestTimer();
    if (!this.responded) {
      this.responded = true;
      this.status = 408;
      stream.respond({ ":status": 408, "content-type": "text/plain", "content-length": body.length }, { endStream: false });
      stream.end(body);
      // The request may still be open: RST_STREAM(NO_ERROR) once the answer is out frees the stream.
      stream.close(NGHTTP2_NO_ERROR);
      return;
    }
    stream.destroy(new Error(`${body} (${kind} timeout)`));
  }

  get protocol(): "h2" {
    return "h2";
  }
  get method(): string {
    return this.h2Headers[":method"]!;
  }
  get authority(): string {
    return this.h2Headers[":authority"] ?? this.h2Headers.host ?? "";
  }
  get rawPath(): string {
    return this.h2Headers[":path"] ?? "";
  }
  get headers(): HeaderMap {
    return (this.plainHeaders ??= withoutPseudoHeaders(this.h2Headers));
  }
  get body(): Readable {
    return this.stream;
  }
  /** END_STREAM on the request's HEADERS frame: nothing follows. */
  get hasBody(): boolean {
    return !this.stream.endAfterHeaders;
  }

  get headersSent(): boolean {
    return this.status !== 0;
  }
  get closed(): boolean {
    if (this.timedOut) return true;
    const s = this.stream;
    return (s.destroyed || s.closed) && (!this.ended || s.rstCode !== NGHTTP2_NO_ERROR);
  }
  writeHead(status: number, headers: HeaderMap): void {
    if (this.timedOut) return;
    if (this.status !== 0) throw new Error("response headers already sent");
    this.status = status;
    this.responseHeaders = headers;
  }
  write(chunk: Uint8Array): boolean {
    if (this.timedOut) return true;
    if (!this.responded) this.respond(false, teAcceptsTrailersOf(this.h2Headers));
    return this.stream.write(chunk);
  }
  onDrain(cb: () => void): void {
    this.stream.once("drain", cb);
  }
  /** `cb` runs if the stream ends without the response completing (reset, client gone, destroy). */
  onClose(cb: () => void): void {
    if (this.closed) {
      process.nextTick(cb);
      return;
    }
    if (this.closeCb === null) this.closeCb = cb;
    else (this.closeCbs ??= []).push(cb);
  }
  end(chunk?: Uint8Array, trailers?: HeaderMap): void {
    const stream = this.stream;
    if (stream.destroyed || this.timedOut) return;
    this.ended = true;
    if (this.status === 0) this.status = 200;
    if (!this.responded) {
      if (chunk === undefined && trailers === undefined) {
        this.respond(true, false);
        return;
      }
      this.respond(false, trailers !== undefined);
    }
    this.trailers = trailers;
    if (chunk !== undefined) stream.end(chunk);
    else stream.end();
  }
  destroy(error?: Error): void {
    // destroy(), not close(code): close() ends the writable side first, so the client
    // would see a complete (truncated) response before the RST_STREAM.
    if (!this.stream.destroyed) this.stream.destroy(error ?? new Error("response aborted"));
  }

  private respond(endStream: boolean, waitForTrailers: boolean): void {
    this.responded = true;
    // Envoy's request_timeout ends once the response has started.
    if (this.requestTimer !== undefined) this.disarmRequestTimer();
    const out: OutgoingHttpHeaders = { ":status": this.status };
    const headers = this.responseHeaders;
    if (headers !== undefined) {
      for (const k in headers) {
        const v = headers[k];
        if (v !== undefined && !H2_FORBIDDEN.has(k)) out[k] = v;
      }
    }
    if (waitForTrailers) {
      this.stream.once("wantTrailers", () => {
        const t = this.trailers;
        const clean: OutgoingHttpHeaders = {};
        if (t !== undefined) for (const k in t) if (t[k] !== undefined && !H2_FORBIDDEN.has(k)) clean[k] = t[k];
        this.stream.sendTrailers(clean);
      });
    }
    this.stream.respond(out, { endStream, waitForTrailers });
  }
}

function teAcceptsTrailersOf(h: IncomingHttpHeaders): boolean {
  const te = h.te;
  return te !== undefined && teAcceptsTrailers(te);
}

function withoutPseudoHeaders(h: IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) if (k.charCodeAt(0) !== 0x3a) out[k] = h[k];
  return out;
}

function ignore(): void {}

function onStreamIdle(this: ServerHttp2Stream): void {
  (this as WithExchange)[kExchange]?.timeout("stream timeout", "idle");
}

function onRequestTimeout(exchange: Http2Exchange): void {
  exchange.timeout("request timeout", "request");
}

function disarmRequestTimer(this: ServerHttp2Stream): void {
  (this as WithExchange)[kExchange]?.disarmRequestTimer();
}

function onStreamClose(this: ServerHttp2Stream): void {
  (this as WithExchange)[kExchange]?.streamClosed();
}

/** node:http2 'stream' listener (one per server, with the listeners' counters). */
export function onHttp2Stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, stats: ListenerStats, idleWatch?: StreamIdleWatch): void {
  // A client reset surfaces as an 'error' on the stream; it is reported through onClose.
  stream.on("error", ignore);
  const conn = (stream.session as unknown as WithConnection | undefined)?.[kConnection];
  const id = stream.id;
  if (conn !== undefined && id !== undefined && id > conn.lastStreamId) conn.lastStreamId = id;
  const chain = conn?.chain;
  if (conn === undefined || chain === undefined) {
    stream.close(NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (headers[":method"] === "CONNECT" || headers[":path"] === undefined) {
    stream.respond({ ":status": 501 }, { endStream: true });
    return;
  }
  const exchange = new Http2Exchange(stream, headers, conn, stats);
  const limits = chain.limits;
  if (limits.requestTimeoutMs > 0 || limits.streamIdleTimeoutMs > 0) exchange.armTimeouts(limits.requestTimeoutMs, limits.streamIdleTimeoutMs, idleWatch);
  try {
    conn.owner.handler(exchange, exchange, chain.ref);
  } catch {
    if (!exchange.headersSent && !stream.destroyed) stream.respond({ ":status": 500 }, { endStream: true });
    else exchange.destroy();
  }
}
