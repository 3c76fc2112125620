// HTTP/1.1 requests with `Connection: upgrade` + `Upgrade: <protocol>` (WebSocket), on
// chains whose HttpConnectionManager enables that protocol (upgradeConfigs). node:http
// hands such a request over without a ServerResponse ('upgrade' event); it becomes an
// exchange like any other (routing, HTTP filters, the upstream) whose response either
// switches protocols — 101, then the connection is the handler's to tunnel — or is an
// ordinary answer (404, 403, the upstream refusing) after which the connection closes.
//
// An Upgrade the chain does not enable is an ordinary request, as in Envoy (the Upgrade
// header is dropped as hop-by-hop): the request head is put back and the connection goes
// to the same limits' HTTP server that does not take upgrades, which parses it (and its
// body) normally and keeps the connection alive.

import * as http from "node:http";
import type { IncomingMessage } from "node:http";
import type * as net from "node:net";
import type { Duplex, Readable } from "node:stream";
import type { HeaderMap } from "../contracts.js";
import { kConnection, type Connection, type WithConnection } from "./connection.js";
import { Http1Exchange, http1RequestProblem, refuse } from "./http1-exchange.js";
import type { ListenerStats } from "./listener-stats.js";

export class Http1UpgradeExchange extends Http1Exchange {
  private switched = false;

  constructor(
    req: IncomingMessage,
    res: http.ServerResponse,
    conn: Connection,
    private readonly socket: net.Socket,
    /** Bytes the client sent after the request head (the new protocol's first bytes). */
    private readonly head: Buffer,
    readonly upgrade: string,
    private readonly stats: ListenerStats,
    private readonly idleTimeoutMs: number,
  ) {
    super(req, res, conn);
  }

  override get hasBody(): boolean {
    return false;
  }
  override get body(): Readable {
    return this.req;
  }
  override get headersSent(): boolean {
    return this.switched || super.headersSent;
  }
  override get closed(): boolean {
    return this.switched ? this.socket.destroyed : super.closed;
  }

  switchProtocols(headers: HeaderMap, protocol: string): Duplex {
    if (this.headersSent) throw new Error("response headers already sent");
    const socket = this.socket;
    let head = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || k === "connection" || k === "upgrade") continue;
      // Values came from the upstream's parser or from validated config; checked anyway,
      // as they are written without node:http's serializer.
      http.validateHeaderName(k);
      for (const one of typeof v === "string" ? [v] : v) {
        http.validateHeaderValue(k, one);
        head += `${k}: ${one}\r\n`;
      }
    }
    http.validateHeaderValue("upgrade", protocol);
    head += `connection: Upgrade\r\nupgrade: ${protocol}\r\n\r\n`;
    this.switched = true;
    this.res.detachSocket(socket);
    socket.write(head, "latin1");
    if (this.head.length > 0) socket.unshift(this.head);
    this.stats.downstreamCxUpgradesTotal++;
    this.stats.downstreamCxUpgradesActive++;
    const stats = this.stats;
    socket.once("close", () => stats.downstreamCxUpgradesActive--);
    // A tunnel with no bytes either way for the stream idle timeout is closed (Envoy's
    // stream_idle_timeout applies to upgraded streams).
    if (this.idleTimeoutMs > 0) socket.setTimeout(this.idleTimeoutMs, () => socket.destroy());
    return socket;
  }
}

/** The upgrade type a request asks for, as upgradeConfigs name it (lowercase, the whole field). */
function upgradeTypeOf(req: IncomingMessage): string {
  const u = req.headers.upgrade;
  return u === undefined ? "" : u.trim().toLowerCase();
}

/** The request head again, as received (node:http validated it), for another parser. */
function requestHead(req: IncomingMessage): Buffer {
  let s = `${req.method!} ${req.url!} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]!}: ${raw[i + 1]!}\r\n`;
  return Buffer.from(`${s}\r\n`, "latin1");
}

/**
 * node:http 'upgrade' listener of the servers whose chains enable upgrades. `plain`
 * gives the server with the same limits that takes no upgrades.
 */
export function onHttp1Upgrade(req: IncomingMessage, duplex: Duplex, head: Buffer, plain: () => http.Server, stats: ListenerStats): void {
  // A net.Socket (a tls.TLSSocket on TLS chains): what the listener handed to node:http.
  const socket = duplex as net.Socket;
  const conn = (socket as WithConnection)[kConnection];
  const chain = conn?.chain;
  if (conn === undefined || chain === undefined) {
    socket.destroy();
    return;
  }
  const type = upgradeTypeOf(req);
  if (req.method === "CONNECT" || !chain.limits.upgradeTypes.includes(type)) {
    // Not an upgrade this chain carries: parsed again as an ordinary request.
    socket.unshift(Buffer.concat([requestHead(req), head]));
    plain().emit("connection", socket);
    socket.resume();
    return;
  }
  conn.upgraded = true;
  socket.on("error", ignore);
  const res = new http.ServerResponse(req);
  // Anything but 101 ends the connection (what follows the head may be the new protocol).
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once("finish", () => socket.destroySoon());
  const problem = http1RequestProblem(req, chain.limits.maxHeadersCount);
  if (problem !== undefined) return refuse(res, problem.status);
  // node:http does not read the body of an upgrade request (it would be part of `head`).
  if ((req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0") || req.headers["transfer-encoding"] !== undefined) return refuse(res, 400);
  const exchange = new Http1UpgradeExchange(req, res, conn, socket, head, type, stats, chain.limits.streamIdleTimeoutMs);
  try {
    conn.owner.handler(exchange, exchange, chain.ref);
  } catch {
    if (!exchange.headersSent) refuse(res, 500);
    else socket.destroy();
  }
}

function ignore(): void {}
