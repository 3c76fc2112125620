// meshgate's HTTP/1.1 server: the connections the listeners hand over (plaintext or
// TLS) are parsed by Node's native llhttp parser (../upstream/llhttp.ts, REQUEST mode,
// strict: no lenient flag) and answered through Http1Exchange, without node:http's
// IncomingMessage / ServerResponse streams, header validation and per-request closures,
// which measured as most of the gateway's per-request CPU.
//
// Per connection: one parser, its callbacks set once. Requests are handled one at a time
// and answered in order: the next request (pipelined) is handed to the handler once the
// previous response is complete (as Envoy does); while one waits, the socket is not read
// further. A request whose response ends before its body does has the rest of its body
// read and dropped. A client that ends its side of the connection (FIN) is gone, as for
// Envoy and nginx: whatever is unanswered is aborted (its upstream request cancelled).
//
// Limits, as node:http enforced them (and Envoy's connection manager defines them):
// - header block over maxRequestHeadersKb (request line included) -> 431; more header
//   fields than maxHeadersCount -> 431; a chunk extension over 16 KiB -> 413; anything
//   the strict parser refuses (conflicting Content-Length / Transfer-Encoding, invalid
//   characters, bare CR or LF, obs-fold, ...) -> 400; plus the checks of
//   readRequestHeaders (transfer codings, Host) and: no Host in HTTP/1.1 -> 400, a version
//   other than 1.0 / 1.1 -> 505, CONNECT -> 501, an Expect other than 100-continue -> 417.
//   Each of these answers `connection: close` and closes; the handler never sees the
//   request. Answers wait for the responses before them (pipelining).
// - requestHeadersTimeout: from a request's first byte (or the connection's start) to
//   its complete head -> 408 and close; requestTimeout: until the whole request arrived,
//   unless its response has started -> 408 and close (a response already under way is
//   cut off instead). idleTimeout: a connection without a request for that long is
//   closed. All three are checked by one timer per server (a quarter of the shortest,
//   between 100 ms and 1 s) that reads the parser's own clock, so a request costs no
//   timer work.
// - Upgrades (upgradeConfigs): a request whose Upgrade the chain carries (and that has no
//   body: 400 otherwise) reaches the handler with `upgrade` set; switchProtocols writes
//   the 101 and hands the socket over, with the bytes read past the head put back. Any
//   other answer closes the connection. An Upgrade the chain does not carry is an
//   ordinary request (the field is dropped as hop-by-hop further on).

import type * as net from "node:net";
import type { Logger } from "../../telemetry/logger.js";
import { consumeSocket, HTTPParser, isParseError, methods, parserOnBody, parserOnExecute, parserOnMessageComplete, releaseSocket, setReading, type NativeParser, type OnHeaders, type OnHeadersComplete, type StreamHandle } from "../upstream/llhttp.js";
import type { Connection } from "./connection.js";
import { Http1Exchange } from "./http1-exchange.js";
import { errorResponse } from "./http1-messages.js";
import { timeoutCheckEveryMs, type HttpLimits } from "./listener-config.js";
import type { ListenerStats } from "./listener-stats.js";

/** A connection that is closing (its last answer written) is destroyed after this long if the client does not read it. */
const CLOSING_GRACE_MS = 10_000;
/** Bodies up to this size are copied behind the head into one buffer; larger ones are written as they are. */
const COALESCE_MAX_BYTES = 16 * 1024;
const NO_FIELDS: string[] = [];
const EMPTY = Buffer.alloc(0);

/** Buffer's own latin1 writer (what buf.write(s, o, n, "latin1") ends in, without its argument handling). */
type Latin1Buffer = Buffer & { latin1Write(s: string, offset: number, length: number): number };

// Why the socket is not being read (bits): a request body its consumer has not taken,
// a request waiting for the one before it, an upgrade request being decided.
const PAUSE_BODY = 1;
const PAUSE_PIPELINE = 2;
const PAUSE_UPGRADE = 4;

/** The HTTP/1.1 server of one set of limits, shared by every connection that has them. */
export class Http1Server {
  private readonly connections = new Set<Http1Connection>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly checkEveryMs: number;

  constructor(
    readonly limits: HttpLimits,
    readonly stats: ListenerStats,
    readonly logger: Logger | undefined,
  ) {
    this.checkEveryMs = timeoutCheckEveryMs([limits.headersTimeoutMs, limits.requestTimeoutMs, limits.idleTimeoutMs], 1 / 4, 100);
  }

  /** Takes a connection whose socket (the TLS socket on TLS chains) now carries HTTP/1.1. */
  accept(conn: Connection, socket: net.Socket): void {
    const c = new Http1Connection(this, conn, socket);
    this.connections.add(c);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.checkEveryMs);
      this.timer.unref();
    }
    c.start();
  }

  /** The connection left HTTP/1.1 (closed, or upgraded). */
  remove(c: Http1Connection): void {
    this.connections.delete(c);
    if (this.connections.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private check(): void {
    const now = Date.now();
    for (const c of this.connections) c.check(now);
  }

  /** Stops the timer; the listeners close the connections. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

// llhttp calls these with `this` = the parser; each connection's parser points back to it.
// An exception is caught here, not left to cross llhttp: when the parser reads the native
// stream there is no JavaScript caller to catch it.
interface OwnedParser extends NativeParser {
  owner: Http1Connection;
}

const parserOnHeaders: OnHeaders = function (this: OwnedParser, fields, url) {
  this.owner.onFields(fields, url);
};

const parserOnHeadersComplete: OnHeadersComplete = function (this: OwnedParser, major, minor, headers, method, url, _status, _text, upgrade, keepAlive) {
  try {
    return this.owner.onHeadersComplete(major, minor, headers, method!, url, upgrade, keepAlive);
  } catch (err) {
    this.owner.callbackFailed(err);
    return 0;
  }
};

function closeParser(parser: NativeParser): void {
  parser.close();
}

/** One downstream HTTP/1.1 connection. */
export class Http1Connection {
  private readonly parser: OwnedParser;
  /** The request being answered (handed to the handler), or null between requests. */
  private active: Http1Exchange | null = null;
  /** Requests parsed while another was being answered (pipelining), in order. */
  private waiting: Http1Exchange[] | null = null;
  /** The request whose message the parser is in (its body goes there), or null. */
  private parsing: Http1Exchange | null = null;
  /** Header fields and request-target pieces the parser handed over before the head was complete. */
  private fields: string[] | null = null;
  private url = "";
  /** No further request is taken (one closes the connection, was refused, or upgrades). */
  private stopped = false;
  /** A refusal to send once the responses before it are done. */
  private pendingError = 0;
  private pauseMask = 0;
  private sawBytes = false;
  /** A request with llhttp's upgrade flag was parsed: the parser may stop short of the bytes read. */
  private upgradeSeen = false;
  /** The native stream the parser reads directly (null: fed from the socket's 'data' events). */
  private handle: StreamHandle | null = null;
  private readonly startedAt = Date.now();
  /** When the idle check first saw the connection without a request (0: busy since). */
  private idleSince = 0;
  private closingSince = 0;
  private closed = false;
  private handedOver = false;

  private readonly onData = (chunk: Buffer): void => this.read(chunk);
  private readonly onEnd = (): void => this.clientEnded();
  private readonly onClose = (): void => this.socketClosed();
  private readonly onDrain = (): void => this.active?.drained();

  constructor(
    private readonly server: Http1Server,
    readonly conn: Connection,
    readonly socket: net.Socket,
  ) {
    const parser = new HTTPParser() as OwnedParser;
    // The connection is the parser's async resource (async_hooks need an object).
    parser.initialize(HTTPParser.REQUEST, this, server.limits.maxHeaderBytes, HTTPParser.kLenientNone);
    parser.owner = this;
    parser[HTTPParser.kOnHeaders] = parserOnHeaders;
    parser[HTTPParser.kOnHeadersComplete] = parserOnHeadersComplete;
    parser[HTTPParser.kOnBody] = parserOnBody;
    parser[HTTPParser.kOnMessageComplete] = parserOnMessageComplete;
    this.parser = parser;
  }

  start(): void {
    const socket = this.socket;
    this.conn.h1 = this;
    socket.on("end", this.onEnd);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
    if (socket.destroyed) return this.socketClosed();
    // The parser reads the native stream itself, as node:http's server does: a read costs
    // no Buffer, no stream 'data' event and no allocation of its own (the parser reuses
    // one buffer). Sockets without a native stream are fed from 'data' events instead.
    const handle = consumeSocket(this.parser, socket, parserOnExecute);
    if (handle !== null) {
      this.handle = handle;
      // The socket's stream may have stopped reading while bytes waited in it.
      setReading(handle, true);
      // Bytes already in the socket's stream: what the listener read to sniff the protocol
      // (put back), or what TLS decrypted before the handshake was reported.
      const early = socket.read() as Buffer | null;
      if (early !== null) this.read(early);
      return;
    }
    socket.on("data", this.onData);
    // The listener paused the socket to put back what it sniffed.
    socket.resume();
  }

  // ---- reading -------------------------------------------------------------------------

  /** Parses bytes handed over in JavaScript ('data' events, or bytes read before the parser took the stream). */
  private read(chunk: Buffer): void {
    if (this.stopped && this.parsing === null) return;
    this.sawBytes = true;
    let data: Buffer | null = chunk;
    while (data !== null) {
      let ret: unknown;
      try {
        ret = this.parser.execute(data);
      } catch (err) {
        // A callback threw (llhttp passes the exception on): the parser is unusable.
        ret = err;
      }
      data = this.afterExecute(ret, data);
    }
  }

  /** Something under a parser callback threw (a bug): the connection is dropped, the process goes on. */
  callbackFailed(err: unknown): void {
    this.server.logger?.error({ err: err instanceof Error ? err.message : String(err) }, "HTTP/1.1 connection failed");
    this.destroy();
  }

  /** kOnExecute: the parser parsed what it read from the stream; `ret` is what execute returned. */
  executed(ret: unknown): void {
    this.sawBytes = true;
    if (typeof ret === "number" && !this.upgradeSeen) return;
    const rest = this.afterExecute(ret, null);
    if (rest !== null) this.read(rest);
  }

  /**
   * What follows an execute of `data` (null: the stream's read, fetched only when needed):
   * the bytes still to parse, or null.
   */
  private afterExecute(ret: unknown, data: Buffer | null): Buffer | null {
    if (this.closed || this.socket.destroyed) return null;
    if (typeof ret === "number") {
      if (data !== null && ret >= data.length && !this.upgradeSeen) return null;
      // llhttp stops after a message that asked for an upgrade.
      const up = this.upgradeWaiting();
      const buf = data ?? this.parser.getCurrentBuffer();
      if (this.parsing === null) this.upgradeSeen = false;
      if (up !== null) {
        // An upgrade the chain carries: the rest is the new protocol's.
        up.upgradeHead = ret < buf.length ? buf.subarray(ret) : EMPTY;
        if (up === this.active) this.dispatch(up);
        return null;
      }
      // One the chain does not carry is an ordinary request, and parsing goes on.
      return ret < buf.length && !this.stopped ? buf.subarray(ret) : null;
    }
    if (ret === undefined) return null;
    // Bytes after a request that closes the connection, or after a refused one, are not read.
    if (this.stopped && this.parsing === null) return null;
    if (!isParseError(ret) || ret.code === "HPE_JS_EXCEPTION") {
      this.server.logger?.error({ err: (ret as Error).message }, "HTTP/1.1 connection failed");
      this.destroy();
      return null;
    }
    const code = ret.code;
    this.refuseConnection(code === "HPE_HEADER_OVERFLOW" ? 431 : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? 413 : 400);
    return null;
  }

  /** The upgrade request whose head was just parsed and is waiting for its remaining bytes. */
  private upgradeWaiting(): Http1Exchange | null {
    const last = this.waiting !== null && this.waiting.length > 0 ? this.waiting[this.waiting.length - 1]! : this.active;
    return last !== null && last.upgrade !== undefined && last.upgradeHead === null ? last : null;
  }

  onFields(fields: string[], url: string): void {
    if (this.fields === null) this.fields = fields;
    else for (let i = 0; i < fields.length; i++) this.fields.push(fields[i]!);
    this.url += url;
  }

  onHeadersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    const raw = headers ?? this.fields ?? NO_FIELDS;
    const target = url === undefined ? this.url : this.url === "" ? url : this.url + url;
    this.fields = null;
    this.url = "";
    if (upgrade) this.upgradeSeen = true;
    if (this.stopped || this.socket.destroyed) return 0;
    this.idleSince = 0;
    const chain = this.conn.chain;
    const limits = chain !== undefined ? chain.limits : this.server.limits;
    const ex = new Http1Exchange(this, methods[method] ?? "", target, minor, keepAlive, raw, limits.maxHeadersCount);
    let problem = major !== 1 || minor > 1 ? 505 : ex.problem;
    if (problem === 0 && upgrade) {
      if (ex.method === "CONNECT") problem = 501;
      else if (limits.upgradeTypes.includes(ex.upgradeField)) {
        // The body of an upgrade request would be read as the new protocol's bytes.
        if (ex.hasBody) problem = 400;
        else {
          ex.upgrade = ex.upgradeField;
          ex.forceClose = true;
          this.stopped = true;
          this.pause(PAUSE_UPGRADE);
        }
      }
    }
    if (problem === 0 && ex.expect !== "" && ex.expect !== "100-continue") problem = 417;
    if (problem !== 0) {
      this.refuseConnection(problem);
      return 0;
    }
    this.parsing = ex;
    // The last request of the connection: what follows it is not read.
    if (!keepAlive) this.stopped = true;
    if (this.active === null) {
      this.active = ex;
      // An upgrade is handed over once execute() has told where its head ends.
      if (ex.upgrade === undefined) this.dispatch(ex);
    } else {
      (this.waiting ??= []).push(ex);
      this.pause(PAUSE_PIPELINE);
    }
    return 0;
  }

  onBody(chunk: Buffer): void {
    const ex = this.parsing;
    if (ex !== null && !ex.pushBody(chunk)) this.pause(PAUSE_BODY);
  }

  onMessageComplete(): void {
    const ex = this.parsing;
    if (ex === null) return;
    this.parsing = null;
    ex.completeRequest();
    if (ex === this.active && ex.responseDone) this.next();
  }

  /** The consumer of `ex`'s body wants more. */
  bodyWanted(ex: Http1Exchange): void {
    if (ex === this.parsing) this.unpause(PAUSE_BODY);
  }

  private pause(reason: number): void {
    const was = this.pauseMask;
    this.pauseMask = was | reason;
    if (was !== 0 || this.closed) return;
    if (this.handle === null) this.socket.pause();
    else setReading(this.handle, false);
  }

  private unpause(reason: number): void {
    if ((this.pauseMask & reason) === 0) return;
    this.pauseMask &= ~reason;
    if (this.pauseMask !== 0 || this.closed || this.handedOver) return;
    if (this.handle === null) this.socket.resume();
    else setReading(this.handle, true);
  }

  // ---- requests ------------------------------------------------------------------------

  private dispatch(ex: Http1Exchange): void {
    const chain = this.conn.chain;
    if (chain === undefined) return this.destroy();
    if (ex.upgrade !== undefined) this.conn.upgraded = true;
    try {
      this.conn.owner.handler(ex, ex, chain.ref);
    } catch {
      // A handler bug must not take the process down; the client gets a 500 or a reset.
      if (!ex.headersSent && !ex.aborted) ex.refuse(500);
      else ex.destroy();
    }
  }

  /** `ex` (the active exchange) has its whole response written. */
  responseDone(ex: Http1Exchange): void {
    if (ex !== this.active) return;
    if (!ex.keepAlive || this.conn.draining) return this.closeAfterWrites();
    if (!ex.requestDone) {
      // The rest of the body is read and dropped; the next request follows it.
      ex.discardBody = true;
      this.unpause(PAUSE_BODY);
      return;
    }
    this.next();
  }

  /** The active exchange is complete both ways: on to the next request, or idle. */
  private next(): void {
    this.active = null;
    if (this.closed) return;
    if (this.conn.draining) return this.closeAfterWrites();
    const waiting = this.waiting;
    const ex = waiting !== null ? waiting.shift() : undefined;
    if (ex === undefined) {
      if (this.pendingError !== 0) this.writeErrorAndClose(this.pendingError);
      return;
    }
    if (waiting!.length === 0) this.unpause(PAUSE_PIPELINE);
    this.active = ex;
    if (ex.upgrade === undefined || ex.upgradeHead !== null) this.dispatch(ex);
  }

  /**
   * A request refused before the handler saw it (or a parse error): no further request
   * is read; the answer goes out after the responses before it, and the connection closes.
   */
  private refuseConnection(status: number): void {
    this.stopped = true;
    const broken = this.parsing;
    this.parsing = null;
    if (broken !== null && broken !== this.active) {
      // A waiting request whose body turned out malformed: never handed over.
      const i = this.waiting!.indexOf(broken);
      if (i >= 0) this.waiting!.splice(i, 1);
      broken.abort();
    }
    const active = this.active;
    if (active === null) return this.writeErrorAndClose(status);
    if (active === broken) {
      // The request being answered is malformed (its body): answer the error if nothing of
      // the response went out, else cut the connection.
      if (active.headSent) return this.destroy();
      active.abort();
      this.active = null;
      return this.writeErrorAndClose(status);
    }
    this.pendingError = status;
    // Nothing after the answered requests can be read any more.
    this.pause(PAUSE_PIPELINE);
  }

  // ---- writing -------------------------------------------------------------------------

  /** Writes `prefix` (latin1), `body` and `suffix` (latin1) as one buffer when small. */
  send(prefix: string, body: Uint8Array | null, suffix: string): boolean {
    const socket = this.socket;
    if (this.closed || socket.destroyed) return true;
    if (body === null) return socket.write(prefix + suffix, "latin1");
    const n = body.length;
    if (n > COALESCE_MAX_BYTES) {
      socket.cork();
      if (prefix !== "") socket.write(prefix, "latin1");
      let ok = socket.write(body);
      if (suffix !== "") ok = socket.write(suffix, "latin1");
      socket.uncork();
      return ok;
    }
    const p = prefix.length;
    const buf = Buffer.allocUnsafe(p + n + suffix.length) as Latin1Buffer;
    if (p > 0) buf.latin1Write(prefix, 0, p);
    buf.set(body, p);
    if (suffix !== "") buf.latin1Write(suffix, p + n, suffix.length);
    return socket.write(buf);
  }

  writeRaw(s: string): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(s, "latin1");
  }

  private writeErrorAndClose(status: number): void {
    this.writeRaw(errorResponse(status));
    this.closeAfterWrites();
  }

  /** Ends the connection once what was written is flushed; nothing more is read. */
  private closeAfterWrites(): void {
    this.stopped = true;
    if (this.closingSince !== 0 || this.closed) return;
    this.closingSince = Date.now();
    this.abortWaiting();
    this.socket.destroySoon();
  }

  // ---- timeouts, draining, closing ------------------------------------------------------

  /** Run by the server's timer: headers / request timeouts and the idle timeout. */
  check(now: number): void {
    if (this.closed || this.handedOver) return;
    if (this.closingSince !== 0) {
      if (now - this.closingSince >= CLOSING_GRACE_MS) this.destroy();
      return;
    }
    const limits = this.server.limits;
    // A message under way: the parser knows since when (before the first byte, the connection's age counts).
    let elapsed = 0;
    if (!this.stopped || this.parsing !== null) {
      if (this.sawBytes) elapsed = this.parser.duration();
      else if (limits.headersTimeoutMs > 0) elapsed = now - this.startedAt;
    }
    if (elapsed > 0) {
      this.idleSince = 0;
      const headersDone = this.sawBytes && this.parser.headersCompleted();
      if (!headersDone && limits.headersTimeoutMs > 0 && elapsed >= limits.headersTimeoutMs) return this.timedOut(false);
      // Envoy's request_timeout ends when the response starts.
      if (limits.requestTimeoutMs > 0 && elapsed >= limits.requestTimeoutMs && !(this.parsing !== null && this.parsing.headSent)) return this.timedOut(true);
      return;
    }
    if (this.active !== null || limits.idleTimeoutMs <= 0) {
      this.idleSince = 0;
      return;
    }
    if (this.idleSince === 0) this.idleSince = now;
    else if (now - this.idleSince >= limits.idleTimeoutMs) this.destroy();
  }

  private timedOut(wholeRequest: boolean): void {
    if (wholeRequest) this.server.stats.downstreamRqTimeout++;
    else this.server.stats.downstreamRqHeaderTimeout++;
    const active = this.active;
    // A response under way cannot be followed by an answer: the connection is cut.
    if (active !== null && active.headSent) return this.destroy();
    this.stopped = true;
    this.parsing = null;
    if (active !== null) {
      active.abort();
      this.active = null;
    }
    this.writeErrorAndClose(408);
  }

  /** The listener drains: an idle connection closes now, a busy one after its response. */
  drain(): void {
    if (this.closed || this.handedOver || this.closingSince !== 0) return;
    if (this.active === null) this.destroy();
    // Otherwise the response says `connection: close` (or, already under way, the connection closes after it).
  }

  destroy(): void {
    this.stopped = true;
    if (!this.closed) this.socket.destroy();
  }

  /** The client sent FIN: it is gone (the socket closes our side too once our writes are out). */
  private clientEnded(): void {
    if (this.closed || this.handedOver) return;
    this.stopped = true;
    const active = this.active;
    if (active !== null && !(active.responseDone && active.requestDone)) {
      // Unanswered: aborted; a response under way is cut.
      if (!active.responseDone) return this.destroy();
      active.abort();
    }
    this.parsing = null;
    this.closeAfterWrites();
  }

  /** Gives the stream back to the socket and frees the parser (later: this may run under one of its callbacks). */
  private releaseParser(read: boolean): void {
    const h = this.handle;
    if (h !== null) {
      this.handle = null;
      releaseSocket(this.parser, h, read && !this.socket.destroyed);
    }
    setImmediate(closeParser, this.parser);
  }

  private abortWaiting(): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    this.waiting = null;
    for (const ex of waiting) ex.abort();
  }

  private socketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.remove(this);
    if (this.conn.h1 === this) this.conn.h1 = undefined;
    this.releaseParser(false);
    const active = this.active;
    this.active = null;
    if (active !== null) active.abort();
    const parsing = this.parsing;
    this.parsing = null;
    if (parsing !== null && parsing !== active) parsing.abort();
    this.abortWaiting();
  }

  /**
   * After a 101: the socket leaves HTTP for the caller, with `rest` (bytes read past the
   * request head) put back to be read first.
   */
  handOver(head: string, rest: Buffer | null): net.Socket {
    const socket = this.socket;
    if (this.closed || socket.destroyed) throw new Error("the client connection is closed");
    this.handedOver = true;
    this.stopped = true;
    this.active = null;
    this.parsing = null;
    this.server.remove(this);
    if (this.conn.h1 === this) this.conn.h1 = undefined;
    socket.off("data", this.onData);
    socket.off("end", this.onEnd);
    socket.off("close", this.onClose);
    socket.off("drain", this.onDrain);
    // The socket's own stream reads from now on.
    this.releaseParser(true);
    this.closed = true;
    socket.write(head, "latin1");
    // Neither flowing nor paused: the new owner's first "data" listener or pipe starts the flow.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    if (rest !== null && rest.length > 0) socket.unshift(rest);
    const stats = this.server.stats;
    stats.downstreamCxUpgradesTotal++;
    stats.downstreamCxUpgradesActive++;
    socket.once("close", () => stats.downstreamCxUpgradesActive--);
    // A tunnel with no bytes either way for the stream idle timeout is closed (Envoy's
    // stream_idle_timeout applies to upgraded streams).
    const idle = this.conn.chain?.limits.streamIdleTimeoutMs ?? this.server.limits.streamIdleTimeoutMs;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    return socket;
  }
}
