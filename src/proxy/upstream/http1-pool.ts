// One endpoint's HTTP/1.1 connections: a keep-alive pool made for the proxy's one job,
// forwarding a request and streaming its response back. It replaces a general-purpose
// client whose per-request work (request objects, header validation already done by
// node:http on the way in, wasm parser callbacks, promise-based queueing) measured as a
// large share of the gateway's CPU.
//
// - At most `maxConnections` connections (open or being opened); requests beyond them
//   wait in a FIFO queue (the cluster's circuit breakers bound it). A connection carries
//   one request at a time (no pipelining); idle ones are reused most-recent first and
//   closed after `idleTimeoutMs` (or before the server's own `Keep-Alive: timeout`).
// - Connections come from the endpoint's connector (TCP or TLS, SNI and SAN checks, and
//   its ConnectFailure errors). A failed connect fails the requests waiting for it, as
//   Envoy purges its pending requests; the retry policy decides what happens next.
// - A request goes out as one string write for its head (plus its Buffer body, corked so
//   a small request is one TLS record); a stream body is sent with its Content-Length or
//   chunked. Responses are parsed by Node's native llhttp (./llhttp.ts).
// - Keep-alive race: a server may close a connection that sat idle just as a request is
//   written to it. A request that got no byte of response on a connection that had been
//   idle for at least `raceRetryMinIdleMs` is sent once more on a new connection when it
//   can be (no body or a Buffer body). A connection closed right after a request that
//   followed closely on the previous one is the server's answer to that request, and
//   reported as a reset for the route's retry policy to judge.
// - Upgrades (`options.upgrade`): the request goes out with `Connection: upgrade` and
//   `Upgrade: <protocol>`. A 101 stops the parser; the connection leaves the pool for good
//   and its socket, with any bytes read past the response head put back in front of it,
//   goes to `handler.onUpgrade`. Until that socket closes it still counts against
//   `maxConnections` (as the cluster counts the tunnel as a request in flight), but it no
//   longer holds up `close()` nor is it cut by `destroy()`: it is the handler's. Any other
//   answer is an ordinary response, after which the connection is closed, not reused.
//
// Hot path: a request costs the head string and its write; the connection object holds
// all per-request state, its callbacks are made once per connection, and nothing on the
// way allocates a promise or compiles a regex.

import type * as net from "node:net";
import type { Duplex, Readable } from "node:stream";
import type { Connect } from "./connector.js";
import type { DispatchHandler, DispatchOptions, UpstreamDispatcher } from "./dispatcher.js";
import { consumeSocket, HTTPParser, isParseError, parserOnBody, parserOnExecute, parserOnMessageComplete, releaseSocket, setReading, type NativeParser, type OnHeadersComplete, type StreamHandle } from "./llhttp.js";
import { ConnectFailure, invalidRequest, UpstreamConnectionError } from "./upstream-error.js";

export interface Http1PoolOptions {
  readonly connect: Connect;
  /** Connections open or opening at once (circuit breaker maxConnections). */
  readonly maxConnections: number;
  /** Idle connections are closed after this long; 0: never. */
  readonly idleTimeoutMs: number;
  /** `address:port`, for messages. */
  readonly label: string;
  readonly clusterName: string;
  /** Largest response header block accepted (default 60 KiB, as Envoy's). */
  readonly maxHeaderBytes?: number;
  /** A connection idle at least this long before a request may have met the keep-alive race (default 1 s). */
  readonly raceRetryMinIdleMs?: number;
}

export const DEFAULT_MAX_RESPONSE_HEADER_BYTES = 60 * 1024;
const DEFAULT_RACE_RETRY_MIN_IDLE_MS = 1000;
/** An idle connection is closed this long before the server said it would close it. */
const KEEP_ALIVE_HINT_MARGIN_MS = 1000;
const CONNECT_OPTIONS = Object.freeze({});
const NO_FIELDS: string[] = [];

/** FIFO of requests waiting for a connection: two parallel arrays and a head index, no per-entry objects. */
class RequestQueue {
  private options: (DispatchOptions | undefined)[] = [];
  private handlers: (DispatchHandler | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.options.length - this.head;
  }

  push(o: DispatchOptions, h: DispatchHandler): void {
    this.options.push(o);
    this.handlers.push(h);
  }

  peekOptions(): DispatchOptions {
    return this.options[this.head]!;
  }

  peekHandler(): DispatchHandler {
    return this.handlers[this.head]!;
  }

  drop(): void {
    this.options[this.head] = undefined;
    this.handlers[this.head] = undefined;
    this.head++;
    if (this.head === this.options.length) {
      this.options.length = 0;
      this.handlers.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.options.length) {
      this.options.splice(0, this.head);
      this.handlers.splice(0, this.head);
      this.head = 0;
    }
  }
}

export class Http1Pool implements UpstreamDispatcher {
  readonly label: string;
  readonly clusterName: string;
  readonly maxHeaderBytes: number;
  readonly raceRetryMinIdleMs: number;
  readonly idleTimeoutMs: number;
  private readonly connectFn: Connect;
  private readonly maxConnections: number;
  /** Idle connections, most recently used last. */
  private readonly idle: Http1Connection[] = [];
  private readonly queue = new RequestQueue();
  private readonly connections = new Set<Http1Connection>();
  /** Connections open or opening (counted against maxConnections). */
  private open = 0;
  /** Connections handed over after a 101 and not closed yet (also counted against maxConnections). */
  private upgraded = 0;
  private readonly onUpgradedClose = (): void => {
    this.upgraded--;
    this.maybeConnect();
  };
  private connecting = 0;
  closing = false;
  private closed: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;

  constructor(options: Http1PoolOptions) {
    this.connectFn = options.connect;
    this.maxConnections = Math.max(1, options.maxConnections);
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.label = options.label;
    this.clusterName = options.clusterName;
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_RESPONSE_HEADER_BYTES;
    this.raceRetryMinIdleMs = options.raceRetryMinIdleMs ?? DEFAULT_RACE_RETRY_MIN_IDLE_MS;
  }

  /** For status pages and tests. */
  get stats(): { open: number; connecting: number; idle: number; queued: number; upgraded: number } {
    return { open: this.open, connecting: this.connecting, idle: this.idle.length, queued: this.queue.length, upgraded: this.upgraded };
  }

  dispatch(options: DispatchOptions, handler: DispatchHandler): void {
    if (this.closing) {
      process.nextTick(reportError, handler, new ConnectFailure(`upstream ${this.label} (cluster ${this.clusterName}) is closed`, false));
      return;
    }
    let conn = this.idle.pop();
    while (conn !== undefined && conn.dead) conn = this.idle.pop();
    if (conn !== undefined) {
      conn.idle = false;
      if (!conn.start(options, handler, false)) this.serve(conn);
      return;
    }
    this.queue.push(options, handler);
    this.maybeConnect();
  }

  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    for (const c of this.idle.splice(0)) {
      c.idle = false;
      c.destroy();
    }
    this.checkClosed();
    return this.closed;
  }

  destroy(): Promise<void> {
    const closed = this.close();
    const err = new ConnectFailure(`upstream ${this.label} (cluster ${this.clusterName}) is closed`, false);
    while (this.queue.length > 0) {
      const h = this.queue.peekHandler();
      this.queue.drop();
      h.onError(err);
    }
    for (const c of [...this.connections]) c.fail(err);
    return closed;
  }

  // ---- connections ---------------------------------------------------------------------

  private maybeConnect(): void {
    while (this.queue.length > this.connecting && this.open + this.upgraded < this.maxConnections) this.connect(null, null);
  }

  /** Opens a connection; one given a request serves it first (a keep-alive race retry). */
  private connect(options: DispatchOptions | null, handler: DispatchHandler | null): void {
    this.open++;
    this.connecting++;
    const conn = new Http1Connection(this, options, handler);
    this.connections.add(conn);
    try {
      this.connectFn(CONNECT_OPTIONS, conn.connectCallback);
    } catch (err) {
      conn.connectCallback(err instanceof Error ? err : new Error(String(err)), null);
    }
  }

  /** The connector delivered a socket (the connection has attached it). */
  connected(conn: Http1Connection): void {
    this.connecting--;
    const h = conn.reservedHandler;
    if (h !== null) {
      const o = conn.reservedOptions!;
      conn.reservedHandler = null;
      conn.reservedOptions = null;
      if (conn.start(o, h, true)) return;
    }
    this.serve(conn);
  }

  /** The connector failed (always called on a later tick than dispatch). */
  connectFailed(conn: Http1Connection, err: Error): void {
    this.connecting--;
    this.open--;
    this.connections.delete(conn);
    const reserved = conn.reservedHandler;
    if (reserved !== null) {
      conn.reservedHandler = null;
      conn.reservedOptions = null;
      reserved.onError(err);
    } else {
      // The requests beyond what the connections still being opened will take.
      while (this.queue.length > this.connecting) {
        const h = this.queue.peekHandler();
        this.queue.drop();
        h.onError(err);
      }
    }
    this.maybeConnect();
    this.checkClosed();
  }

  /** A connection opened after the pool was destroyed: it never served anything. */
  abandoned(conn: Http1Connection): void {
    this.connecting--;
    this.open--;
    this.connections.delete(conn);
    this.checkClosed();
  }

  /** A connection finished a response and can carry another request. */
  released(conn: Http1Connection): void {
    if (!conn.dead) this.serve(conn);
  }

  /** Gives a free connection the next queued request, or puts it with the idle ones. */
  private serve(conn: Http1Connection): void {
    for (;;) {
      if (this.queue.length === 0) {
        if (this.closing) conn.destroy();
        else {
          conn.goIdle();
          this.idle.push(conn);
        }
        return;
      }
      const o = this.queue.peekOptions();
      const h = this.queue.peekHandler();
      this.queue.drop();
      // false: the request was given up or refused before anything was written.
      if (conn.start(o, h, false)) return;
    }
  }

  /** A connection switched protocols: its socket is no longer the pool's, but it counts against maxConnections until it closes. */
  handedOver(conn: Http1Connection, socket: Duplex): void {
    this.open--;
    this.upgraded++;
    this.connections.delete(conn);
    socket.once("close", this.onUpgradedClose);
    this.checkClosed();
  }

  /** A connection's socket closed; `retry` is a request to send again on a new connection. */
  connectionClosed(conn: Http1Connection, retryOptions: DispatchOptions | null, retryHandler: DispatchHandler | null): void {
    this.open--;
    this.connections.delete(conn);
    if (conn.idle) {
      conn.idle = false;
      const i = this.idle.lastIndexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
    }
    if (retryHandler !== null) this.connect(retryOptions, retryHandler);
    this.maybeConnect();
    this.checkClosed();
  }

  private checkClosed(): void {
    if (this.closing && this.open === 0 && this.queue.length === 0 && this.resolveClosed) {
      this.resolveClosed();
      this.resolveClosed = null;
    }
  }
}

function reportError(handler: DispatchHandler, err: Error): void {
  handler.onError(err);
}

function onIdleTimeout(conn: Http1Connection): void {
  if (conn.idle && !conn.dead) conn.destroy();
}

function closeParser(parser: NativeParser): void {
  parser.close();
}

// llhttp calls these with `this` = the parser; each connection's parser points back to it.
// An exception from a handler is caught here, not left to cross llhttp: when the parser
// reads the native stream there is no JavaScript caller to catch it.
interface OwnedParser extends NativeParser {
  owner: Http1Connection;
}

function parserOnHeaders(this: OwnedParser, fields: string[]): void {
  this.owner.onFields(fields);
}

const parserOnHeadersComplete: OnHeadersComplete = function (this: OwnedParser, major, minor, headers, _method, _url, status, _text, upgrade, keepAlive) {
  try {
    return this.owner.onHeadersComplete(major, minor, headers, status, upgrade, keepAlive);
  } catch (err) {
    this.owner.callbackFailed(err);
    return 1;
  }
};

/** One connection and the request on it. */
class Http1Connection {
  socket: net.Socket | null = null;
  private parser: OwnedParser | null = null;
  /** The socket is closed or closing: never reused. */
  dead = false;
  /** In the pool's idle list. */
  idle = false;
  /** A request that waits for this particular connection (keep-alive race retry). */
  reservedOptions: DispatchOptions | null;
  reservedHandler: DispatchHandler | null;

  // The request in flight.
  private options: DispatchOptions | null = null;
  private handler: DispatchHandler | null = null;
  private retried = false;
  private requestsServed = 0;
  private idleSince = 0;
  private idleBeforeRequest = 0;
  private starting = false;
  private abortedEarly = false;
  // Its response.
  private responseBytes = false;
  private headersSeen = false;
  private informational = false;
  /** The request asked for an upgrade: a 101 hands the socket over, any other answer ends the connection. */
  private upgradeRequested = false;
  /** A 101 was parsed: the socket is handed over once the parser returns. */
  private switching = false;
  private switchStatus = 0;
  private switchFields: string[] = NO_FIELDS;
  private isHead = false;
  private keepAlive = true;
  private complete = false;
  private paused = false;
  private socketPaused = false;
  /** The socket's native stream when the parser reads it directly (null: 'data' events). */
  private handle: StreamHandle | null = null;
  /** A response completed during the read being parsed (native stream reads): its bytes were that response's. */
  private finishedInRead = false;
  private backlog: Buffer[] | null = null;
  /** Header fields llhttp handed over before kOnHeadersComplete, or trailers. */
  private fields: string[] | null = null;
  private trailers: string[] | null = null;
  private parsing = false;
  private socketError: Error | null = null;
  // Its body, when it is a stream.
  private body: Readable | null = null;
  /** Bytes still to send for a Content-Length body; -1: chunked. */
  private bodyRemaining = -1;
  private bodyDone = true;
  private bodyPaused = false;
  // Keep-alive.
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerMs = 0;
  private serverIdleMs = 0;
  private keepAliveHint: string | null = null;

  readonly connectCallback = (err: Error | null, socket: net.Socket | null): void => this.onConnectResult(err, socket);
  private readonly abortFn = (err?: Error): void => this.abort(err);
  private readonly resumeFn = (): void => this.resume();
  private readonly onSocketData = (chunk: Buffer): void => this.readResponse(chunk);
  private readonly onSocketEnd = (): void => this.ended();
  private readonly onSocketError = (err: Error): void => void (this.socketError ??= err);
  private readonly onSocketClose = (): void => this.closed();
  private readonly onSocketDrain = (): void => this.drained();
  private readonly onBodyData = (chunk: Buffer | string): void => this.sendBodyChunk(chunk);
  private readonly onBodyEnd = (): void => this.endBody();
  private readonly onBodyError = (err: Error): void => this.bodyFailed(err);
  private readonly onBodyClose = (): void => this.bodyFailed(null);
  private connectSettled = false;

  constructor(
    private readonly pool: Http1Pool,
    reservedOptions: DispatchOptions | null,
    reservedHandler: DispatchHandler | null,
  ) {
    this.reservedOptions = reservedOptions;
    this.reservedHandler = reservedHandler;
  }

  private get where(): string {
    return `upstream ${this.pool.label} (cluster ${this.pool.clusterName})`;
  }

  // ---- connecting ------------------------------------------------------------------------

  private onConnectResult(err: Error | null, socket: net.Socket | null): void {
    if (this.connectSettled) return;
    this.connectSettled = true;
    if (err !== null || socket === null) {
      // A connector may fail synchronously (inside dispatch): report on a later tick.
      process.nextTick(connectFailedLater, this.pool, this, err ?? new ConnectFailure(`${this.where}: connect failed`, false));
      return;
    }
    if (this.dead) {
      socket.destroy();
      this.pool.abandoned(this);
      return;
    }
    this.socket = socket;
    const parser = new HTTPParser() as OwnedParser;
    // The connection is the parser's async resource (async_hooks need an object).
    parser.initialize(HTTPParser.RESPONSE, this, this.pool.maxHeaderBytes, HTTPParser.kLenientNone);
    parser.owner = this;
    parser[HTTPParser.kOnHeaders] = parserOnHeaders;
    parser[HTTPParser.kOnHeadersComplete] = parserOnHeadersComplete;
    parser[HTTPParser.kOnBody] = parserOnBody;
    parser[HTTPParser.kOnMessageComplete] = parserOnMessageComplete;
    this.parser = parser;
    // The parser reads the socket's native stream itself (no Buffer or 'data' event per
    // read); a socket without one free is read through 'data' events.
    this.handle = consumeSocket(parser, socket, parserOnExecute);
    if (this.handle === null) socket.on("data", this.onSocketData);
    socket.on("end", this.onSocketEnd);
    socket.on("error", this.onSocketError);
    socket.on("close", this.onSocketClose);
    socket.on("drain", this.onSocketDrain);
    this.pool.connected(this);
    if (this.handle !== null && !this.dead) {
      // Bytes the socket's stream already held, read as if they had come after (as 'data' events would have delivered them).
      const early = socket.read() as Buffer | null;
      if (early !== null) this.readResponse(early);
    }
  }

  // ---- requests ------------------------------------------------------------------------

  /** Sends a request; false when it was given up or refused before anything was written (the connection stays clean). */
  start(options: DispatchOptions, handler: DispatchHandler, retried: boolean): boolean {
    this.options = options;
    this.handler = handler;
    this.retried = retried;
    this.idleBeforeRequest = this.idleSince > 0 ? Date.now() - this.idleSince : 0;
    this.idleSince = 0;
    this.responseBytes = false;
    this.headersSeen = false;
    this.informational = false;
    this.upgradeRequested = options.upgrade !== undefined;
    this.complete = false;
    this.keepAlive = true;
    this.isHead = options.method === "HEAD";
    this.starting = true;
    this.abortedEarly = false;
    handler.onConnect(this.abortFn);
    this.starting = false;
    if (this.abortedEarly) return false;
    const refused = this.writeRequest(options);
    if (refused !== null) {
      this.clearRequest();
      process.nextTick(reportError, handler, refused);
      return false;
    }
    return true;
  }

  /** Writes the request head (and a Buffer body, or starts a stream body); an error when the request cannot be sent. */
  private writeRequest(options: DispatchOptions): Error | null {
    const { method, path, headers, body, upgrade } = options;
    let head = method + " " + path + " HTTP/1.1\r\n";
    let lines = 2; // the request line and the empty line
    if (upgrade !== undefined) {
      head += "connection: upgrade\r\nupgrade: " + upgrade + "\r\n";
      lines += 2;
    }
    const declared = headers["content-length"];
    let skipLength = false;
    let length = -1;
    if (body === null) {
      if (declared === undefined && (method === "POST" || method === "PUT" || method === "PATCH")) {
        head += "content-length: 0\r\n";
        lines++;
      }
    } else if (Buffer.isBuffer(body)) {
      if (typeof declared !== "string" || Number(declared) !== body.length) {
        skipLength = declared !== undefined;
        head += "content-length: " + body.length + "\r\n";
        lines++;
      }
    } else {
      const n = typeof declared === "string" ? Number(declared) : NaN;
      if (Number.isSafeInteger(n) && n >= 0) length = n;
      else {
        skipLength = declared !== undefined;
        head += "transfer-encoding: chunked\r\n";
        lines++;
      }
    }
    // Framing is this client's: a transfer-encoding field from elsewhere is never passed on.
    const skipTe = headers["transfer-encoding"] !== undefined;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      if ((skipLength && name === "content-length") || (skipTe && name === "transfer-encoding")) continue;
      // The upgrade's own fields were written above.
      if (upgrade !== undefined && (name === "connection" || name === "upgrade")) continue;
      if (typeof v === "string") {
        head += name + ": " + v + "\r\n";
        lines++;
      } else {
        for (let i = 0; i < v.length; i++) head += name + ": " + v[i] + "\r\n";
        lines += v.length;
      }
    }
    head += "\r\n";
    // One check over the whole head instead of one per field: exactly the CRs and LFs
    // written above, so no name, value or path carried one of its own.
    if (countOf(head, 10) !== lines || countOf(head, 13) !== lines) return invalidRequest(`${this.where}: refused to send ${method} ${JSON.stringify(path)}: ${offendingField(options)} contains CR or LF`);
    const socket = this.socket!;
    if (body === null) {
      this.bodyDone = true;
      socket.write(head, "latin1");
    } else if (Buffer.isBuffer(body)) {
      this.bodyDone = true;
      if (body.length === 0) socket.write(head, "latin1");
      else {
        socket.cork();
        socket.write(head, "latin1");
        socket.write(body);
        socket.uncork();
      }
    } else {
      socket.write(head, "latin1");
      this.streamBody(body, length);
    }
    return null;
  }

  private streamBody(body: Readable, length: number): void {
    this.body = body;
    this.bodyRemaining = length;
    this.bodyDone = false;
    this.bodyPaused = false;
    if (body.readableEnded) return this.endBody();
    if (body.destroyed) return this.bodyFailed(null);
    body.on("data", this.onBodyData);
    body.on("end", this.onBodyEnd);
    body.on("error", this.onBodyError);
    body.on("close", this.onBodyClose);
    body.resume();
  }

  private sendBodyChunk(data: Buffer | string): void {
    const socket = this.socket;
    if (this.body === null || socket === null || this.dead) return;
    const chunk = typeof data === "string" ? Buffer.from(data) : data;
    if (chunk.length === 0) return; // in chunked framing an empty chunk would end the body
    let ok: boolean;
    if (this.bodyRemaining < 0) {
      socket.cork();
      socket.write(chunk.length.toString(16) + "\r\n", "latin1");
      socket.write(chunk);
      ok = socket.write("\r\n", "latin1");
      socket.uncork();
    } else {
      if (chunk.length > this.bodyRemaining) return this.fail(new UpstreamConnectionError(`${this.where}: the request body is longer than its content-length`));
      this.bodyRemaining -= chunk.length;
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.bodyPaused = true;
      this.body.pause();
    }
  }

  private drained(): void {
    if (this.bodyPaused && this.body !== null) {
      this.bodyPaused = false;
      this.body.resume();
    }
  }

  private endBody(): void {
    if (this.body === null) return;
    if (this.bodyRemaining > 0) return this.fail(new UpstreamConnectionError(`${this.where}: the request body ended ${this.bodyRemaining} bytes short of its content-length`));
    if (this.bodyRemaining < 0 && this.socket !== null && !this.dead) this.socket.write("0\r\n\r\n", "latin1");
    this.detachBody();
    this.bodyDone = true;
  }

  private bodyFailed(err: Error | null): void {
    if (this.body === null || this.bodyDone) return;
    this.fail(new UpstreamConnectionError(`${this.where}: the request body was cut short${err ? `: ${err.message}` : ""}`));
  }

  private detachBody(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    body.off("data", this.onBodyData);
    body.off("end", this.onBodyEnd);
    body.off("error", this.onBodyError);
    body.off("close", this.onBodyClose);
    // A body left unread is the downstream side's to drain or discard.
    if (this.bodyPaused) this.bodyPaused = false;
  }

  // ---- responses -----------------------------------------------------------------------

  private readResponse(chunk: Buffer): void {
    const parser = this.parser;
    if (parser === null) return;
    if (this.handler === null) {
      // Bytes nobody asked for: the connection is out of step.
      this.destroy();
      return;
    }
    this.responseBytes = true;
    this.parsing = true;
    let ret: unknown;
    try {
      ret = parser.execute(chunk);
    } catch (err) {
      // A handler callback threw (llhttp passes the exception on); the parser is unusable.
      ret = err instanceof Error ? err : new Error(String(err));
    }
    this.parsing = false;
    if (typeof ret !== "number" && ret !== undefined) this.parseFailed(ret as Error);
    else if (this.switching) this.handOver(typeof ret === "number" ? chunk.subarray(ret) : null);
  }

  /** A handler threw under a parser callback: the request fails with that error, and the connection is dropped. */
  callbackFailed(err: unknown): void {
    this.fail(err instanceof Error ? err : new Error(String(err)));
  }

  /** kOnExecute: the parser parsed a read of the native stream; `ret` is what execute returned. */
  executed(ret: unknown): void {
    const finished = this.finishedInRead;
    this.finishedInRead = false;
    if (this.parser === null) return;
    if (this.handler === null) {
      // Bytes nobody asked for (unless they ended a response): the connection is out of step.
      if (!finished || (typeof ret !== "number" && ret !== undefined)) this.destroy();
      return;
    }
    // The bytes were this request's (those of a response that finished belonged to the one before).
    if (!finished) this.responseBytes = true;
    if (typeof ret !== "number" && ret !== undefined) this.parseFailed(ret as Error);
    else if (this.switching) {
      const buf = this.parser.getCurrentBuffer();
      this.handOver(typeof ret === "number" && ret < buf.length ? buf.subarray(ret) : null);
    }
  }

  private parseFailed(err: Error): void {
    if (this.handler === null) {
      // E.g. bytes after a response that closed the connection: nothing is waiting.
      this.destroy();
      return;
    }
    if (!isParseError(err) || err.code === "HPE_JS_EXCEPTION") return this.fail(err);
    if (err.code === "HPE_HEADER_OVERFLOW") return this.fail(new UpstreamConnectionError(`${this.where}: response headers larger than ${this.pool.maxHeaderBytes} bytes`));
    this.fail(new UpstreamConnectionError(`${this.where}: malformed HTTP/1.1 response: ${err.reason} (${err.code})`));
  }

  onFields(fields: string[]): void {
    if (this.fields === null) this.fields = fields;
    else for (let i = 0; i < fields.length; i++) this.fields.push(fields[i]!);
  }

  onHeadersComplete(_major: number, _minor: number, headers: string[] | undefined, status: number, upgrade: boolean, keepAlive: boolean): number {
    const fields = headers ?? this.fields ?? NO_FIELDS;
    this.fields = null;
    const h = this.handler;
    if (h === null) return 1;
    if (status < 200 || upgrade) {
      if (status === 101 || upgrade) {
        if (!this.upgradeRequested) {
          this.fail(new UpstreamConnectionError(`${this.where}: switched protocols (101) on a request that asked for no upgrade`));
          return 1;
        }
        // 2: no body, and llhttp pauses after this head (its return value counts the bytes
        // up to the end of it), even when the 101 lacks its Connection/Upgrade fields.
        this.switching = true;
        this.switchStatus = status;
        this.switchFields = fields;
        return 2;
      }
      // 1xx (100 Continue, 103 Early Hints): not forwarded; the response follows.
      this.informational = true;
      return 1;
    }
    this.headersSeen = true;
    // An upgrade the server declined: the server may still expect the new protocol, or
    // have read the request differently; the connection is not trusted with another one.
    this.keepAlive = keepAlive && !this.upgradeRequested;
    if (keepAlive) this.readKeepAliveHint(fields);
    const noBody = this.isHead || status === 204 || status === 304 ? 1 : 0;
    if (h.onHeaders(status, fields, this.resumeFn) === false && this.handler === h) this.pause();
    return noBody;
  }

  /** `Keep-Alive: timeout=N`: the server closes idle connections after N s; close them first. */
  private readKeepAliveHint(fields: string[]): void {
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      if (name.length !== 10 || name.toLowerCase() !== "keep-alive") continue;
      const value = fields[i + 1]!;
      if (value === this.keepAliveHint) return;
      this.keepAliveHint = value;
      const at = value.toLowerCase().indexOf("timeout=");
      const seconds = at < 0 ? NaN : parseInt(value.slice(at + 8), 10);
      this.serverIdleMs = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 0;
      if (this.serverIdleMs > 0 && this.serverIdleMs <= KEEP_ALIVE_HINT_MARGIN_MS) this.keepAlive = false;
      return;
    }
  }

  onBody(chunk: Buffer): void {
    const h = this.handler;
    if (h === null || this.informational) return;
    if (this.paused) {
      (this.backlog ??= []).push(chunk);
      return;
    }
    if (h.onData(chunk) === false && this.handler === h) this.pause();
  }

  onMessageComplete(): void {
    // llhttp completes a 101's message before it pauses; the handover follows execute().
    if (this.switching) return;
    if (this.informational) {
      this.informational = false;
      this.fields = null;
      return;
    }
    if (this.handler === null) return;
    this.complete = true;
    if (this.handle !== null) this.finishedInRead = true;
    this.trailers = this.fields;
    this.fields = null;
    if (!this.paused) this.finish();
  }

  /**
   * After a 101: the socket leaves this connection (and the pool) for the handler, with
   * `rest` (bytes read past the response head) put back to be read first.
   */
  private handOver(rest: Buffer | null): void {
    const h = this.handler!;
    const socket = this.socket!;
    const parser = this.parser!;
    const status = this.switchStatus;
    const fields = this.switchFields;
    this.switching = false;
    this.switchFields = NO_FIELDS;
    this.clearRequest();
    this.requestsServed++;
    // Never reused, and nothing of this connection touches the socket again.
    this.dead = true;
    this.socket = null;
    this.parser = null;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.handle !== null) {
      // The socket's own stream reads from now on.
      releaseSocket(parser, this.handle, true);
      this.handle = null;
    }
    // Never freed under its own callback (a native read's kOnExecute leads here).
    setImmediate(closeParser, parser);
    socket.off("data", this.onSocketData);
    socket.off("end", this.onSocketEnd);
    socket.off("error", this.onSocketError);
    socket.off("close", this.onSocketClose);
    socket.off("drain", this.onSocketDrain);
    // Neither flowing nor paused: the new owner's first "data" listener or pipe starts the
    // flow (removing the pool's listener alone would leave it flowing into nothing).
    if (this.socketPaused) this.socketPaused = false;
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    if (rest !== null && rest.length > 0) socket.unshift(rest);
    this.pool.handedOver(this, socket);
    if (h.onUpgrade === undefined) {
      socket.destroy();
      h.onError(new UpstreamConnectionError(`${this.where}: switched protocols (101) for a handler that takes no upgrade`));
      return;
    }
    try {
      h.onUpgrade(status, fields, socket);
    } catch (err) {
      // The handler failed to take the socket: it is closed, and the exception reported as itself.
      socket.destroy();
      h.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Hands the complete response over and frees the connection for the next request. */
  private finish(): void {
    const h = this.handler!;
    const trailers = this.trailers;
    const reuse = this.keepAlive && this.bodyDone && !this.dead && !this.pool.closing;
    this.clearRequest();
    this.requestsServed++;
    if (!reuse) this.destroy();
    else if (this.socketPaused) {
      this.socketPaused = false;
      this.resumeSocket();
    }
    h.onComplete(trailers);
    if (reuse) this.pool.released(this);
  }

  private pause(): void {
    this.paused = true;
    if (!this.socketPaused && this.socket !== null) {
      this.socketPaused = true;
      if (this.handle !== null) setReading(this.handle, false);
      else this.socket.pause();
    }
  }

  /** The handler can take more (a stale call after the response ended does nothing). */
  private resume(): void {
    if (!this.paused) return;
    const h = this.handler;
    if (h === null) return;
    this.paused = false;
    const backlog = this.backlog;
    if (backlog !== null) {
      while (backlog.length > 0) {
        const chunk = backlog.shift()!;
        if (h.onData(chunk) === false && this.handler === h) {
          this.paused = true;
          return;
        }
        if (this.handler !== h) return;
      }
    }
    if (this.complete) return this.finish();
    if (this.socketPaused && this.socket !== null) {
      this.socketPaused = false;
      this.resumeSocket();
    }
  }

  private resumeSocket(): void {
    if (this.handle !== null) setReading(this.handle, true);
    else this.socket!.resume();
  }

  private abort(err?: Error): void {
    const h = this.handler;
    if (h === null) return;
    const e = err ?? new UpstreamConnectionError(`${this.where}: request aborted`);
    this.clearRequest();
    if (this.starting) this.abortedEarly = true;
    else this.destroy();
    h.onError(e);
  }

  /** Ends the request in flight with an error; the connection is not reused. */
  fail(err: Error): void {
    const h = this.handler;
    this.clearRequest();
    this.destroy();
    if (h !== null) h.onError(err);
    else if (this.reservedHandler !== null) {
      const r = this.reservedHandler;
      this.reservedHandler = null;
      this.reservedOptions = null;
      r.onError(err);
    }
  }

  private clearRequest(): void {
    this.handler = null;
    this.options = null;
    this.trailers = null;
    this.fields = null;
    this.paused = false;
    if (this.backlog !== null) this.backlog = null;
    if (this.body !== null) this.detachBody();
  }

  // ---- idle and closing ----------------------------------------------------------------

  goIdle(): void {
    this.idle = true;
    this.idleSince = Date.now();
    let ms = this.pool.idleTimeoutMs;
    if (this.serverIdleMs > 0) {
      const hinted = this.serverIdleMs - KEEP_ALIVE_HINT_MARGIN_MS;
      if (ms <= 0 || hinted < ms) ms = hinted;
    }
    if (ms <= 0) return;
    if (this.idleTimer !== null && this.idleTimerMs === ms) {
      this.idleTimer.refresh();
      return;
    }
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(onIdleTimeout, ms, this);
    this.idleTimer.unref();
    this.idleTimerMs = ms;
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    this.socket?.destroy();
  }

  /** The server ended the connection. */
  private ended(): void {
    // A response delimited by the connection's end is complete now.
    if (this.handler !== null && this.headersSeen && !this.complete && this.parser !== null) {
      this.parsing = true;
      try {
        this.parser.finish();
      } catch (err) {
        this.parsing = false;
        return this.fail(err instanceof Error ? err : new Error(String(err)));
      }
      this.parsing = false;
    }
    this.destroy();
  }

  private closed(): void {
    this.dead = true;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const parser = this.parser;
    if (parser !== null) {
      this.parser = null;
      if (this.handle !== null) {
        releaseSocket(parser, this.handle, false);
        this.handle = null;
      }
      // Never free the native parser under its own callback.
      if (this.parsing) setImmediate(closeParser, parser);
      else parser.close();
    }
    const h = this.handler;
    let retryOptions: DispatchOptions | null = null;
    let retryHandler: DispatchHandler | null = null;
    let err: Error | null = null;
    if (h !== null && !this.complete) {
      const o = this.options!;
      if (!this.responseBytes && !this.retried && this.requestsServed > 0 && this.idleBeforeRequest >= this.pool.raceRetryMinIdleMs && (o.body === null || Buffer.isBuffer(o.body))) {
        retryOptions = o;
        retryHandler = h;
      } else {
        const cause = this.socketError ? `: ${this.socketError.message}` : "";
        err = new UpstreamConnectionError(this.responseBytes ? `${this.where} closed the connection before the response completed${cause}` : `${this.where} closed the connection before responding${cause}`);
      }
      this.clearRequest();
    } else if (this.body !== null) this.detachBody();
    this.pool.connectionClosed(this, retryOptions, retryHandler);
    if (err !== null) h!.onError(err);
  }
}

function connectFailedLater(pool: Http1Pool, conn: Http1Connection, err: Error): void {
  pool.connectFailed(conn, err);
}

/** How many times the char code occurs in s (native indexOf, one call per occurrence). */
function countOf(s: string, code: number): number {
  const ch = code === 10 ? "\n" : "\r";
  let n = 0;
  let i = s.indexOf(ch);
  while (i !== -1) {
    n++;
    i = s.indexOf(ch, i + 1);
  }
  return n;
}

/** Names the part of a refused request that carries CR or LF (the slow path). */
function offendingField(options: DispatchOptions): string {
  const bad = (s: string) => s.includes("\r") || s.includes("\n");
  if (bad(options.method)) return "the method";
  if (bad(options.path)) return "the path";
  if (options.upgrade !== undefined && bad(options.upgrade)) return "the upgrade protocol";
  for (const name in options.headers) {
    const v = options.headers[name];
    if (bad(name)) return `header name ${JSON.stringify(name)}`;
    if (v !== undefined && (typeof v === "string" ? bad(v) : v.some(bad))) return `the value of header ${JSON.stringify(name)}`;
  }
  return "the request head";
}
