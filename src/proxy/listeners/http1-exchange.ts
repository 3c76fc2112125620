// HTTP/1.1 requests from node:http, adapted to DownstreamRequest / DownstreamResponse.
// One object per request plays both roles (one allocation, not two); everything the
// connection already knows (addresses, TLS facts, chain) is read from its Connection.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { DownstreamRequest, DownstreamResponse, HeaderMap } from "../contracts.js";
import { ConnectionFacts, kConnection, type Connection, type WithConnection } from "./connection.js";

export class Http1Exchange extends ConnectionFacts implements DownstreamRequest, DownstreamResponse {
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    conn: Connection,
  ) {
    super(conn);
  }

  get protocol(): "http/1.1" {
    return "http/1.1";
  }
  get method(): string {
    return this.req.method!;
  }
  get authority(): string {
    return this.req.headers.host ?? "";
  }
  get rawPath(): string {
    return this.req.url!;
  }
  get headers(): HeaderMap {
    return this.req.headers;
  }
  get body(): Readable {
    return this.req;
  }
  /** RFC 9112 §6.3: a request has a body only with Content-Length or Transfer-Encoding. */
  get hasBody(): boolean {
    const h = this.req.headers;
    return (h["content-length"] !== undefined && h["content-length"] !== "0") || h["transfer-encoding"] !== undefined;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get closed(): boolean {
    return this.res.destroyed && !this.res.writableFinished;
  }
  writeHead(status: number, headers: HeaderMap): void {
    this.res.writeHead(status, definedOnly(headers));
  }
  write(chunk: Uint8Array): boolean {
    return this.res.write(chunk);
  }
  onDrain(cb: () => void): void {
    this.res.once("drain", cb);
  }
  /** `cb` runs if the exchange ends without the response completing (client gone, or destroy). */
  onClose(cb: () => void): void {
    if (this.closed) {
      process.nextTick(cb);
      return;
    }
    const res = this.res;
    res.once("close", () => {
      if (!res.writableFinished) cb();
    });
  }
  end(chunk?: Uint8Array, trailers?: HeaderMap): void {
    // Node sends trailers only on chunked responses (no content-length given).
    if (trailers !== undefined) this.res.addTrailers(definedOnly(trailers) as Record<string, string>);
    if (chunk !== undefined) this.res.end(chunk);
    else this.res.end();
  }
  destroy(error?: Error): void {
    this.res.destroy(error);
  }
}

/** Node rejects `undefined` header values; copy only when there are some. */
function definedOnly(headers: HeaderMap): OutgoingHttpHeaders {
  for (const k in headers) {
    if (headers[k] === undefined) {
      const out: OutgoingHttpHeaders = {};
      for (const key in headers) {
        const v = headers[key];
        if (v !== undefined) out[key] = v;
      }
      return out;
    }
  }
  return headers as OutgoingHttpHeaders;
}

/**
 * What node:http's strict parser lets through but a proxy must refuse (RFC 9112):
 * a transfer coding other than `chunked` (`gzip, chunked` passes the parser, and
 * forwarding it de-chunked would change the body's meaning), more than one Host field
 * or an invalid Host value (request smuggling and routing confusion), and more header
 * fields than the limit (Node would silently drop the excess).
 */
export function http1RequestProblem(req: IncomingMessage, maxHeadersCount: number): { status: number; reason: string } | undefined {
  const raw = req.rawHeaders;
  if (raw.length > maxHeadersCount * 2) return { status: 431, reason: "too many header fields" };
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && equalsLowerAscii(name, "host")) {
      if (++hosts > 1) return { status: 400, reason: "more than one Host header field" };
      if (!isValidHost(raw[i + 1]!)) return { status: 400, reason: "invalid Host header field" };
    } else if (name.length === 17 && equalsLowerAscii(name, "transfer-encoding")) {
      if (!equalsLowerAscii(raw[i + 1]!.trim(), "chunked")) return { status: 400, reason: "unsupported transfer coding" };
    }
  }
  return undefined;
}

function equalsLowerAscii(s: string, lower: string): boolean {
  if (s.length !== lower.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** RFC 3986 host [":" port]: reg-name / IPv4 / IP-literal characters only. */
const HOST_CHARS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:[]%") HOST_CHARS[c.charCodeAt(0)] = 1;

function isValidHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 128 || HOST_CHARS[c] === 0) return false;
  }
  return true;
}

/** node:http 'request' listener shared by every listener. */
export function onHttp1Request(req: IncomingMessage, res: ServerResponse): void {
  const conn = (req.socket as WithConnection)[kConnection];
  const chain = conn?.chain;
  if (conn === undefined || chain === undefined) {
    res.destroy();
    return;
  }
  const problem = http1RequestProblem(req, chain.limits.maxHeadersCount);
  if (problem !== undefined) {
    refuse(res, problem.status);
    return;
  }
  if (conn.draining) res.shouldKeepAlive = false;
  const exchange = new Http1Exchange(req, res, conn);
  try {
    conn.owner.handler(exchange, exchange, chain.ref);
  } catch {
    // A handler bug must not take the process down; the client gets a 500 or a reset.
    if (!res.headersSent) refuse(res, 500);
    else res.destroy();
  }
}

/** A local error answer; the connection is closed after it (the request body is not read). */
export function refuse(res: ServerResponse, status: number): void {
  res.shouldKeepAlive = false;
  res.writeHead(status, { connection: "close", "content-length": 0 });
  res.end();
}
