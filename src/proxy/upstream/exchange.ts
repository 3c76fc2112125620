// One request forwarded to a cluster: attempts (with retries, backoff and per-try
// timeouts), the route timeout and downstream cancellation. This is the proxy's hot path,
// so an exchange is two small objects (the exchange and its current attempt, which is
// the pool's dispatch handler) and the timers it needs; no promises, no closures per request.
//
// A response that a retry will replace is drained and never shown to the sink: the sink
// sees exactly one outcome, the last attempt's.

import type { Duplex } from "node:stream";
import type { ForwardOptions, HeaderMap, UpstreamCall, UpstreamRequest, UpstreamResponseSink } from "../contracts.js";
import type { DispatchHandler, RawHeaders } from "./dispatcher.js";
import type { Host } from "./host.js";
import { headersFromRaw, trailersFromRaw } from "./raw-headers.js";
import { backoffMs, compileRetry, retriableFailure, retriableStatus, type CompiledRetry } from "./retry-policy.js";
import { UpstreamFailure, failureFromDispatchError } from "./upstream-error.js";

/** What an exchange needs from its cluster. */
export interface ExchangeHost {
  readonly name: string;
  /** undefined when no endpoint is usable. */
  pickHost(avoid: Host | undefined): Host | undefined;
  /** Circuit breakers: a reason when the attempt must not start. */
  admit(host: Host): string | undefined;
  beginAttempt(host: Host): void;
  endAttempt(host: Host): void;
  retryBudgetAvailable(): boolean;
  retryStarted(): void;
  retryEnded(): void;
  /** Outlier detection inputs. */
  recordStatus(host: Host, status: number): void;
  recordLocalFailure(host: Host): void;
}

const EMPTY_TRAILERS: HeaderMap = Object.freeze({}) as HeaderMap;

export class Exchange implements UpstreamCall {
  private readonly retry: CompiledRetry | undefined;
  private readonly replayable: boolean;
  private attempt: Attempt | null = null;
  private retriesUsed = 0;
  private holdsRetrySlot = false;
  private routeTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  private deadline = Infinity;
  private lastHost: Host | undefined;
  committed = false;
  done = false;

  constructor(
    private readonly cluster: ExchangeHost,
    readonly req: UpstreamRequest,
    readonly sink: UpstreamResponseSink,
    private readonly options: ForwardOptions,
  ) {
    this.retry = options.retry && options.retry.numRetries > 0 ? compileRetry(options.retry) : undefined;
    // A stream body can be sent once; a Buffer (or no body) can be sent again.
    this.replayable = req.body === null || Buffer.isBuffer(req.body);
  }

  start(): void {
    const signal = this.options.signal;
    if (signal?.aborted) return this.fail(new UpstreamFailure("cancelled", "the downstream request was cancelled"));
    if (this.options.timeoutMs > 0) {
      this.deadline = Date.now() + this.options.timeoutMs;
      this.routeTimer = setTimeout(onRouteTimeout, this.options.timeoutMs, this);
    }
    signal?.addEventListener("abort", this, { once: true });
    this.launch();
  }

  /** The downstream went away (AbortSignal listener). */
  handleEvent(): void {
    this.cancel();
  }

  /** The downstream went away. */
  cancel(): void {
    if (this.done) return;
    const err = new UpstreamFailure("cancelled", "the downstream request was cancelled");
    if (this.attempt) this.kill(this.attempt, err);
    this.fail(err);
  }

  private launch(): void {
    const host = this.cluster.pickHost(this.lastHost);
    if (!host) return this.fail(new UpstreamFailure("no-healthy-upstream", `no healthy upstream in cluster ${this.cluster.name}`));
    const req = this.req;
    if (req.upgrade !== undefined && host.http2) {
      // HTTP/2 would need extended CONNECT (RFC 8441), which meshgate does not speak upstream.
      return this.fail(new UpstreamFailure("reset", `cluster ${this.cluster.name} speaks HTTP/2 to its endpoints: the ${req.upgrade} upgrade needs HTTP/1.1`));
    }
    const refused = this.cluster.admit(host);
    if (refused) return this.fail(new UpstreamFailure("overflow", `cluster ${this.cluster.name}: ${refused}`));
    const a = new Attempt(this, host);
    this.attempt = a;
    this.cluster.beginAttempt(host);
    const perTry = this.retry?.perTryTimeoutMs ?? 0;
    if (perTry > 0) a.timer = setTimeout(onPerTryTimeout, perTry, a);
    host.pool.dispatch({ method: req.method, path: req.path, headers: req.headers, body: req.body, upgrade: req.upgrade }, a);
  }

  private canRetry(): boolean {
    return (
      this.retry !== undefined &&
      !this.done &&
      this.retriesUsed < this.retry.numRetries &&
      this.replayable &&
      Date.now() < this.deadline &&
      this.cluster.retryBudgetAvailable()
    );
  }

  private scheduleRetry(host: Host): void {
    this.retriesUsed++;
    this.lastHost = host;
    this.attempt = null;
    this.holdsRetrySlot = true;
    this.cluster.retryStarted();
    this.backoffTimer = setTimeout(onBackoffDone, backoffMs(this.retry!, this.retriesUsed), this);
  }

  /** Ends an attempt's accounting (exactly once per attempt). */
  private settle(a: Attempt): void {
    if (a.settled) return;
    a.settled = true;
    if (a.timer) {
      clearTimeout(a.timer);
      a.timer = null;
    }
    this.cluster.endAttempt(a.host);
    if (this.holdsRetrySlot) {
      this.holdsRetrySlot = false;
      this.cluster.retryEnded();
    }
    if (this.attempt === a) this.attempt = null;
  }

  /** Stops an attempt that is being given up (timeout, cancellation). */
  private kill(a: Attempt, err: UpstreamFailure): void {
    a.dead = true;
    a.deadReason = err;
    this.settle(a);
    if (a.abort) a.abort(err);
  }

  private finishTimers(): void {
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.routeTimer = this.backoffTimer = null;
    this.options.signal?.removeEventListener("abort", this);
  }

  private fail(err: UpstreamFailure): void {
    if (this.done) return;
    this.done = true;
    if (this.holdsRetrySlot) {
      this.holdsRetrySlot = false;
      this.cluster.retryEnded();
    }
    this.finishTimers();
    this.sink.onError(err);
  }

  // ---- attempt callbacks ---------------------------------------------------------------

  onAttemptHeaders(a: Attempt, status: number, rawHeaders: RawHeaders, resume: () => void): boolean {
    this.cluster.recordStatus(a.host, status);
    if (this.retry !== undefined && retriableStatus(this.retry, status) && this.canRetry()) {
      a.discarding = true;
      return true;
    }
    this.committed = true;
    if (a.timer) {
      // Envoy lets a response that has started run to the route timeout.
      clearTimeout(a.timer);
      a.timer = null;
    }
    return this.sink.onHeaders(status, headersFromRaw(rawHeaders), resume);
  }

  /** 101 to an upgrade request: the socket goes to the sink, the attempt stays counted until it closes. */
  onAttemptUpgrade(a: Attempt, status: number, rawHeaders: RawHeaders, socket: Duplex): void {
    // The pool removed its listeners from the socket; an error must not go unhandled.
    socket.on("error", ignore);
    if (a.timer) {
      clearTimeout(a.timer);
      a.timer = null;
    }
    if (this.done) {
      socket.destroy();
      this.settle(a);
      return;
    }
    this.cluster.recordStatus(a.host, status);
    this.committed = true;
    this.done = true;
    this.finishTimers();
    // A retry that led here is over (the budget is for retries in flight, not tunnels).
    if (this.holdsRetrySlot) {
      this.holdsRetrySlot = false;
      this.cluster.retryEnded();
    }
    // Circuit breakers and least-request balancing count the tunnel as a request in flight.
    socket.once("close", () => this.settle(a));
    const sink = this.sink;
    if (sink.onUpgrade === undefined) {
      socket.destroy();
      sink.onError(new UpstreamFailure("reset", `cluster ${this.cluster.name}: the upstream switched protocols unasked`));
      return;
    }
    sink.onUpgrade(status, headersFromRaw(rawHeaders), socket);
  }

  onAttemptComplete(a: Attempt, rawTrailers: Parameters<DispatchHandler["onComplete"]>[0]): void {
    this.settle(a);
    if (a.discarding) {
      if (this.done) return;
      return this.scheduleRetry(a.host);
    }
    if (this.done) return;
    this.done = true;
    this.finishTimers();
    this.sink.onComplete(trailersFromRaw(rawTrailers) ?? EMPTY_TRAILERS);
  }

  onAttemptError(a: Attempt, err: Error): void {
    this.settle(a);
    if (this.done) return;
    const failure = failureFromDispatchError(err);
    // A request the client refused to send says nothing about the endpoint and would fail again.
    if (failure.detail === "invalid-request") return this.fail(failure);
    if (failure.kind === "connect-failure" || failure.kind === "reset") this.cluster.recordLocalFailure(a.host);
    if (this.committed) return this.fail(failure);
    if (a.discarding && this.canRetry()) return this.scheduleRetry(a.host);
    if (this.retry !== undefined && (failure.kind === "connect-failure" || failure.kind === "reset") && retriableFailure(this.retry, failure.kind, failure.detail === "refused-stream") && this.canRetry()) {
      return this.scheduleRetry(a.host);
    }
    this.fail(failure);
  }

  onPerTryTimeout(a: Attempt): void {
    a.timer = null;
    if (a.dead || a.settled || this.done || this.committed) return;
    const err = new UpstreamFailure("timeout", `upstream per-try timeout (${this.retry!.perTryTimeoutMs} ms) from ${a.host.label} in cluster ${this.cluster.name}`, "per-try-timeout");
    this.kill(a, err);
    this.cluster.recordLocalFailure(a.host);
    if (retriableFailure(this.retry!, "per-try-timeout", false) && this.canRetry()) return this.scheduleRetry(a.host);
    this.fail(err);
  }

  onRouteTimeout(): void {
    this.routeTimer = null;
    if (this.done) return;
    const err = new UpstreamFailure("timeout", `upstream request timeout (${this.options.timeoutMs} ms) in cluster ${this.cluster.name}`, "route-timeout");
    const a = this.attempt;
    if (a && !a.settled) {
      if (!this.committed) this.cluster.recordLocalFailure(a.host);
      this.kill(a, err);
    }
    this.fail(err);
  }

  onBackoffDone(): void {
    this.backoffTimer = null;
    if (this.done) return;
    this.launch();
  }
}

function ignore(): void {}

function onRouteTimeout(ex: Exchange): void {
  ex.onRouteTimeout();
}

function onBackoffDone(ex: Exchange): void {
  ex.onBackoffDone();
}

function onPerTryTimeout(a: Attempt): void {
  a.exchange.onPerTryTimeout(a);
}

/** One try on one endpoint; the pool's (callback-style) dispatch handler. */
class Attempt implements DispatchHandler {
  abort: ((err?: Error) => void) | null = null;
  timer: NodeJS.Timeout | null = null;
  /** Given up (timeout, cancellation): later callbacks are ignored. */
  dead = false;
  deadReason: Error | null = null;
  settled = false;
  /** The response will be replaced by a retry: drain it. */
  discarding = false;

  constructor(
    readonly exchange: Exchange,
    readonly host: Host,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    // A request given up while it waited for a connection is stopped before it is sent.
    if (this.dead) abort(this.deadReason ?? undefined);
    else this.abort = abort;
  }

  onHeaders(status: number, rawHeaders: RawHeaders, resume: () => void): boolean {
    if (this.dead) return true;
    // 1xx (other than 101, which the pools treat as an upgrade) is not forwarded.
    if (status < 200) return true;
    return this.exchange.onAttemptHeaders(this, status, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    if (this.dead || this.discarding) return true;
    return this.exchange.sink.onData(chunk);
  }

  onComplete(trailers: Parameters<DispatchHandler["onComplete"]>[0]): void {
    if (this.dead) return;
    this.exchange.onAttemptComplete(this, trailers);
  }

  onError(err: Error): void {
    if (this.dead) return;
    this.exchange.onAttemptError(this, err);
  }

  onUpgrade(status: number, rawHeaders: RawHeaders, socket: Duplex): void {
    if (this.dead) {
      socket.destroy();
      return;
    }
    this.exchange.onAttemptUpgrade(this, status, rawHeaders, socket);
  }
}
