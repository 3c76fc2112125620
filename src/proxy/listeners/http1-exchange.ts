// One HTTP/1.1 request and its response on meshgate's own downstream server
// (http1-server.ts): one object per request plays both DownstreamRequest and
// DownstreamResponse; everything the connection already knows (addresses, TLS facts,
// chain) is read from its Connection.
//
// The response is written without node:http's serializer: writeHead validates the
// fields and keeps the head as a string; the first write (or end) decides the framing
// and sends head and body in ONE socket write (a single Buffer), so a small response is
// one TLS record and one syscall.
//   - Content-Length when the handler gave one, or when end() carries the whole body;
//     otherwise chunked (HTTP/1.1 clients), or delimited by closing the connection
//     (HTTP/1.0 clients); no body at all for HEAD, 1xx, 204 and 304.
//   - `connection: close` when the connection ends after this response (the client or
//     the handler asked for it, the listener is draining, an upgrade was answered
//     without switching, a body whose length does not match); `connection: keep-alive`
//     for HTTP/1.0 clients that keep it; nothing otherwise (HTTP/1.1's default).
//   - `date` unless the handler (the upstream) gave one.
// The request body is a Readable fed by the parser, with backpressure: when it is full
// the connection stops reading the socket until it is read. `Expect: 100-continue` is
// answered when the body is first read, so a request refused before (401, 403, 404)
// never has its body sent; the connection is then closed after the answer.

import type * as net from "node:net";
import type { Duplex, Readable } from "node:stream";
import type { DownstreamRequest, DownstreamResponse, HeaderMap } from "../contracts.js";
import { ConnectionFacts } from "./connection.js";
import { endedBody, RequestBody } from "./request-body.js";
import type { Http1Connection } from "./http1-server.js";
import { dateLine, fieldLines, listsToken, readRequestHeaders, statusLine, type RequestHeadFacts } from "./http1-messages.js";

const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";

export class Http1Exchange extends ConnectionFacts implements DownstreamRequest, DownstreamResponse {
  // ---- request -------------------------------------------------------------------------
  readonly headers: HeaderMap;
  readonly authority: string;
  readonly hasBody: boolean;
  /** Set (by the connection) on requests whose Upgrade the chain carries. */
  upgrade: string | undefined = undefined;
  /** The request's own Upgrade field value (lowercase), "" when none. */
  readonly upgradeField: string;
  /** The client's Expect field (lowercase), "" when none. */
  readonly expect: string;
  /** 0, or the status the request is refused with before the handler sees it. */
  readonly problem: number;
  readonly http10: boolean;
  /** Bytes read past an upgrade request's head (the new protocol's first bytes). */
  upgradeHead: Buffer | null = null;
  private bodyStream: Readable | null = null;
  /** The parser completed the request. */
  requestDone = false;
  /** The response completed before the request: what is left of the body is read and dropped. */
  discardBody = false;
  private continueSent = false;

  // ---- response ------------------------------------------------------------------------
  private status = 0;
  /** Status line and validated fields, without framing, connection and date. */
  private head = "";
  private declaredLength = -1;
  private chunkedAsked = false;
  private closeAsked = false;
  private hasDate = false;
  /** The head went out. */
  headSent = false;
  private noBody = false;
  private chunked = false;
  /** Content-Length bytes still to write; -1: not length-delimited. */
  private remaining = -1;
  /** The connection stays open after this response. */
  keepAlive = true;
  /** Set before the response when the connection must end after it (upgrade answered without switching). */
  forceClose = false;
  /** end() was called. */
  responseDone = false;
  /** The exchange ended before its response completed (client gone, timeout, destroy). */
  aborted = false;
  private closeNotified = false;
  private switched = false;
  private closeCb: (() => void) | null = null;
  private closeCbs: (() => void)[] | null = null;
  drainCb: (() => void) | null = null;
  private drainCbs: (() => void)[] | null = null;

  constructor(
    private readonly http: Http1Connection,
    readonly method: string,
    readonly rawPath: string,
    versionMinor: number,
    /** llhttp's keep-alive verdict for the request (version and Connection field). */
    private readonly keepAliveAsked: boolean,
    raw: readonly string[],
    maxHeadersCount: number,
  ) {
    super(http.conn);
    this.http10 = versionMinor === 0;
    const facts: RequestHeadFacts = { problem: 0, hosts: 0, hasBody: false, expect: "", upgrade: "" };
    this.headers = readRequestHeaders(raw, maxHeadersCount, facts);
    const host = this.headers.host;
    this.authority = typeof host === "string" ? host : "";
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused.
    this.problem = facts.problem !== 0 ? facts.problem : facts.hosts === 0 && !this.http10 ? 400 : 0;
    this.hasBody = facts.hasBody;
    this.expect = this.http10 ? "" : facts.expect;
    this.upgradeField = facts.upgrade;
    this.noBody = method === "HEAD";
    if (facts.hasBody) this.bodyStream = new RequestBody(this);
  }

  get protocol(): "http/1.1" {
    return "http/1.1";
  }

  get body(): Readable {
    // Requests without a body get an ended stream, made only if someone asks.
    return (this.bodyStream ??= endedBody());
  }

  /** The parser's body bytes for this request. */
  pushBody(chunk: Buffer): boolean {
    if (this.discardBody || this.bodyStream === null) return true;
    return this.bodyStream.push(chunk);
  }

  /** The parser completed the request. */
  completeRequest(): void {
    this.requestDone = true;
    if (this.hasBody && !this.discardBody) this.bodyStream!.push(null);
  }

  /** The body's consumer wants more: answer 100-continue first if the client waits for it. */
  bodyWanted(): void {
    if (this.expect !== "" && !this.continueSent && !this.headSent && !this.aborted) {
      this.continueSent = true;
      this.http.writeRaw(CONTINUE);
    }
    this.http.bodyWanted(this);
  }

  // ---- response ------------------------------------------------------------------------

  get headersSent(): boolean {
    return this.status !== 0;
  }

  get closed(): boolean {
    return this.switched ? this.http.socket.destroyed : this.aborted;
  }

  writeHead(status: number, headers: HeaderMap): void {
    if (this.status !== 0) throw new Error("response headers already sent");
    let head = statusLine(status);
    let declaredLength = -1;
    let chunkedAsked = false;
    let closeAsked = false;
    let hasDate = false;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      // The fields that frame the message or manage the connection are this server's.
      switch (name.length) {
        case 4:
          if (name === "date" || name.toLowerCase() === "date") hasDate = true;
          break;
        case 10:
          if (name === "connection" || name.toLowerCase() === "connection") {
            if (listsToken(v, "close")) closeAsked = true;
            continue;
          }
          if (name === "keep-alive" || name.toLowerCase() === "keep-alive") continue;
          break;
        case 14:
          if (name === "content-length" || name.toLowerCase() === "content-length") {
            const n = Number(typeof v === "string" ? v : v[0]);
            if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`invalid content-length ${JSON.stringify(v)}`);
            declaredLength = n;
            continue;
          }
          break;
        case 17:
          if (name === "transfer-encoding" || name.toLowerCase() === "transfer-encoding") {
            chunkedAsked = listsToken(v, "chunked");
            continue;
          }
          break;
      }
      head += fieldLines(name, v);
    }
    this.head = head;
    this.declaredLength = declaredLength;
    this.chunkedAsked = chunkedAsked;
    this.closeAsked = closeAsked;
    this.hasDate = hasDate;
    this.status = status;
  }

  /** The complete head, once the framing is known: `knownLength` is the whole body's length when end() carries it, else -1. */
  private finishHead(knownLength: number): string {
    const status = this.status;
    let head = this.head;
    const http = this.http;
    if (status === 204 || status === 304 || status < 200) this.noBody = true;
    // The client may or may not send a body it was not asked for: the connection cannot be trusted with another request.
    const unreadExpectedBody = this.expect !== "" && !this.continueSent && !this.requestDone;
    let keepAlive = this.keepAliveAsked && !this.closeAsked && !this.forceClose && !unreadExpectedBody && !http.conn.draining;
    if (this.noBody) {
      // HEAD and 304 may announce the representation's length; nothing follows either way.
      const length = this.declaredLength >= 0 ? this.declaredLength : knownLength;
      if (length >= 0 && status !== 204 && status >= 200) head += "content-length: " + length + "\r\n";
      this.remaining = 0;
    } else if (this.declaredLength >= 0 && !this.chunkedAsked) {
      head += "content-length: " + this.declaredLength + "\r\n";
      this.remaining = this.declaredLength;
    } else if (knownLength >= 0 && !this.chunkedAsked) {
      head += "content-length: " + knownLength + "\r\n";
      this.remaining = knownLength;
    } else if (!this.http10) {
      head += "transfer-encoding: chunked\r\n";
      this.chunked = true;
    } else keepAlive = false; // HTTP/1.0 has no chunking: the body ends with the connection
    if (!keepAlive) head += "connection: close\r\n";
    else if (this.http10) head += "connection: keep-alive\r\n";
    if (!this.hasDate) head += dateLine();
    this.keepAlive = keepAlive;
    this.headSent = true;
    return head + "\r\n";
  }

  write(chunk: Uint8Array): boolean {
    if (this.aborted || this.responseDone || this.switched) return true;
    if (this.status === 0) this.writeHead(200, {});
    const prefix = this.headSent ? "" : this.finishHead(-1);
    let body: Uint8Array | null = chunk;
    let suffix = "";
    let framing = "";
    if (this.noBody || chunk.length === 0) body = null;
    else if (this.chunked) {
      framing = chunk.length.toString(16) + "\r\n";
      suffix = "\r\n";
    } else if (this.remaining >= 0) {
      if (chunk.length > this.remaining) {
        // More than announced: the excess is dropped and the connection closed after the response.
        body = chunk.subarray(0, this.remaining);
        this.keepAlive = false;
      }
      this.remaining -= body.length;
    }
    if (prefix === "" && body === null) return true;
    return this.http.send(prefix + framing, body, suffix);
  }

  end(chunk?: Uint8Array, trailers?: HeaderMap): void {
    if (this.aborted || this.responseDone || this.switched) return;
    if (this.status === 0) this.writeHead(200, {});
    const prefix = this.headSent ? "" : this.finishHead(chunk === undefined ? 0 : chunk.length);
    let body: Uint8Array | null = chunk === undefined || chunk.length === 0 || this.noBody ? null : chunk;
    let framing = "";
    let suffix = "";
    if (this.chunked) {
      if (body !== null) {
        framing = body.length.toString(16) + "\r\n";
        suffix = "\r\n";
      }
      suffix += "0\r\n" + (trailers === undefined ? "" : trailerLines(trailers)) + "\r\n";
    } else if (this.remaining >= 0) {
      if (body !== null && body.length > this.remaining) {
        body = body.subarray(0, this.remaining);
        this.keepAlive = false;
      }
      if (body !== null) this.remaining -= body.length;
      // Shorter than announced: the client would wait for the rest; only closing tells it.
      if (this.remaining > 0) this.keepAlive = false;
    }
    this.responseDone = true;
    if (prefix !== "" || body !== null || suffix !== "") this.http.send(prefix + framing, body, suffix);
    this.http.responseDone(this);
  }

  onDrain(cb: () => void): void {
    if (this.drainCb === null) this.drainCb = cb;
    else (this.drainCbs ??= []).push(cb);
  }

  /** The socket drained: callbacks waiting for it run once. */
  drained(): void {
    const cb = this.drainCb;
    if (cb === null) return;
    this.drainCb = null;
    const more = this.drainCbs;
    this.drainCbs = null;
    cb();
    if (more !== null) for (const c of more) c();
  }

  /** `cb` runs if the exchange ends without the response completing (client gone, or destroy). */
  onClose(cb: () => void): void {
    if (this.aborted) {
      process.nextTick(cb);
      return;
    }
    if (this.responseDone) return;
    if (this.closeCb === null) this.closeCb = cb;
    else (this.closeCbs ??= []).push(cb);
  }

  destroy(_error?: Error): void {
    if (this.switched) {
      this.http.socket.destroy();
      return;
    }
    if (this.responseDone || this.aborted) return;
    this.aborted = true;
    this.http.destroy();
  }

  /**
   * The exchange will not complete (the connection closed or timed out): the response is
   * over, a body still arriving fails (its consumer sees an error or a close), and the
   * close callbacks run.
   */
  abort(): void {
    if (!this.requestDone && this.bodyStream !== null && !this.bodyStream.destroyed) {
      this.bodyStream.destroy(new Error("the client connection closed before the request body was complete"));
    }
    if (this.responseDone || this.switched) return;
    this.aborted = true;
    if (this.closeNotified) return;
    this.closeNotified = true;
    const cb = this.closeCb;
    const more = this.closeCbs;
    this.closeCb = null;
    this.closeCbs = null;
    if (cb !== null) cb();
    if (more !== null) for (const c of more) c();
  }

  /** A local answer that ends the connection (the request is not read further). */
  refuse(status: number): void {
    this.forceClose = true;
    this.writeHead(status, { "content-length": "0" });
    this.end();
  }

  /**
   * Requests with `upgrade` only: 101 Switching Protocols with `headers` (plus
   * Connection and Upgrade: `protocol`), then the socket is the caller's.
   */
  switchProtocols(headers: HeaderMap, protocol: string): Duplex {
    if (this.upgrade === undefined) throw new Error("not an upgrade request");
    if (this.headersSent || this.aborted) throw new Error("response headers already sent");
    let head = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || k === "connection" || k === "upgrade") continue;
      head += fieldLines(k, v);
    }
    head += "connection: Upgrade\r\n" + fieldLines("upgrade", protocol) + "\r\n";
    this.switched = true;
    this.status = 101;
    this.responseDone = true;
    return this.http.handOver(head, this.upgradeHead) as net.Socket;
  }
}

function trailerLines(trailers: HeaderMap): string {
  let out = "";
  for (const k in trailers) {
    const v = trailers[k];
    if (v !== undefined) out += fieldLines(k, v);
  }
  return out;
}
