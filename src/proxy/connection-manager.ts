// The HTTP connection manager: what happens to a request between the listener and the
// upstream. Path normalisation first (so routing and authorization see one canonical
// path), then the route table named by the filter chain's HttpConnectionManager, the HTTP
// filters in their configured order, and the route's action: forward to a cluster (with
// rewrites, header mutations, mirrors, retries, timeouts), redirect, or answer directly.
//
// A request reads the route tables current when it arrived and the cluster object it
// picked; a configuration update swaps both for later requests only.

import { PassThrough, type Duplex } from "node:stream";
import type { Logger } from "../telemetry/logger.js";
import type {
  DownstreamRequest,
  DownstreamResponse,
  DownstreamTls,
  EnvoyResource,
  FilterChainRef,
  FilterContext,
  FilterResult,
  HeaderMap,
  HttpFilter,
  RequestHandler,
  UpstreamCall,
  UpstreamCluster,
  UpstreamError,
  UpstreamRequest,
  UpstreamResponseSink,
} from "./contracts.js";
import { compileHttpConnectionManager, type CompiledHcm } from "./http-connection-manager.js";
import { appendForwardedFor, ensureRequestId, setForwardedProto } from "./http/forwarded.js";
import { removeRequestHopByHop, removeResponseHopByHop } from "./http/hop-by-hop.js";
import { isNormalPath, normalizePath } from "./http/path-normalization.js";
import type { ForwardDecision, HeaderMutations, HeaderVars, PickedCluster, RouteDecision } from "./router/route-decision.js";
import { applyHeaderMutations, rewritePath, type RouteTable } from "./router/route-table.js";
import type { ClusterManager } from "./upstream/cluster-manager.js";
import { tunnel } from "./upgrade-tunnel.js";
import { failureResponse } from "./upstream/failure-status.js";

export type RouteTables = ReadonlyMap<string, RouteTable>;

/** Request bodies up to this size are buffered when a retry or mirror may need to resend them. */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

export interface ConnectionManagerOptions {
  readonly clusters: ClusterManager;
  readonly logger: Logger;
  /** Where the global rate limit filter reaches its service (from the proxy's clusters). */
  readonly rateLimitService?: (clusterName: string) => { host: string; port: number } | undefined;
}

export class ConnectionManager {
  #tables: RouteTables = new Map();
  // Compiled once per received HttpConnectionManager object (listeners keep their object while unchanged).
  readonly #hcms = new WeakMap<EnvoyResource, CompiledHcm>();
  readonly #all = new Set<CompiledHcm>();

  constructor(private readonly opts: ConnectionManagerOptions) {}

  /** Compiles every filter chain's connection manager; throws (-> NACK) on anything unsupported. */
  validateListeners(listeners: ReadonlyMap<string, EnvoyResource>): void {
    for (const [name, l] of listeners) {
      const chains = [...((l.filterChains as EnvoyResource[] | undefined) ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain as EnvoyResource] : [])];
      chains.forEach((chain, i) => {
        for (const f of (chain.filters as EnvoyResource[] | undefined) ?? []) {
          const tc = f.typedConfig as EnvoyResource | undefined;
          if (tc) this.#compiled(tc, `listener ${name} filter chain ${String(chain.name ?? i)}`);
        }
      });
    }
  }

  setRouteTables(tables: RouteTables): void {
    this.#tables = tables;
  }

  close(): void {
    for (const h of this.#all) for (const f of h.filters) f.close?.();
    this.#all.clear();
  }

  readonly handler: RequestHandler = (req, res, chain) => this.#handle(req, res, chain);

  #compiled(hcm: EnvoyResource, where: string): CompiledHcm {
    let c = this.#hcms.get(hcm);
    if (!c) {
      c = compileHttpConnectionManager(hcm, where, { logger: this.opts.logger, ...(this.opts.rateLimitService ? { rateLimitService: this.opts.rateLimitService } : {}) });
      this.#hcms.set(hcm, c);
      this.#all.add(c);
    }
    return c;
  }

  #handle(req: DownstreamRequest, res: DownstreamResponse, chain: FilterChainRef): void {
    let hcm: CompiledHcm;
    try {
      hcm = this.#compiled(chain.hcm, `listener ${chain.listenerName} filter chain ${chain.chainName}`);
    } catch (e) {
      this.opts.logger.error({ listener: chain.listenerName, err: (e as Error).message }, "filter chain unusable");
      return localReply(res, 500, "", undefined);
    }
    // Most paths are already canonical: checked without allocating.
    let path = req.rawPath;
    let pathOnly: string | undefined;
    if (!isNormalPath(path, hcm.pathOptions)) {
      const n = normalizePath(path, hcm.pathOptions);
      if (n.kind === "reject") return localReply(res, 400, "Bad Request", undefined);
      if (n.kind === "redirect") return localReply(res, 307, "", { location: n.location });
      pathOnly = n.path;
      path = n.query === "" ? n.path : `${n.path}?${n.query}`;
    }

    const table = this.#tables.get(hcm.routeConfigName);
    const decision = table?.route({ authority: req.authority, path, method: req.method, headers: req.headers, scheme: req.scheme });
    // Envoy answers an unmatched request with an empty 404 (response flag NR).
    if (!decision) return localReply(res, 404, "", undefined);
    const picked = decision.kind === "forward" ? decision.clusters.pick() : undefined;

    if (hcm.filters.length === 0) return this.#act(req, res, hcm, decision, picked, path);
    const ctx: FilterContext = {
      request: req,
      // An edge proxy: the client is the peer of the downstream connection.
      clientAddress: req.remoteAddress,
      path: pathOnly ?? withoutQuery(path),
      headers: req.headers,
      metadata: new Map(),
      routeFilterConfig: picked ? picked.filterConfig : decision.filterConfig,
      routeRateLimits: decision.kind === "forward" ? (decision.rateLimits ?? decision.virtualHostRateLimits) : undefined,
    };
    this.#runFilters(hcm.filters, 0, ctx, req, res, hcm, decision, picked, path);
  }

  #runFilters(filters: readonly HttpFilter[], from: number, ctx: FilterContext, req: DownstreamRequest, res: DownstreamResponse, hcm: CompiledHcm, d: RouteDecision, picked: PickedCluster | undefined, path: string): void {
    for (let i = from; i < filters.length; i++) {
      let r: FilterResult | Promise<FilterResult>;
      try {
        r = filters[i]!.decode(ctx);
      } catch (e) {
        this.opts.logger.error({ filter: filters[i]!.name, err: (e as Error).message }, "HTTP filter failed");
        return localReply(res, 500, "", undefined);
      }
      if (r instanceof Promise) {
        r.then(
          (done) => {
            if (res.closed) return;
            if (done.action === "respond") return localReply(res, done.status, done.body, withAdded(done.headers, ctx), responseMutations(d, picked), varsOf(req));
            this.#runFilters(filters, i + 1, ctx, req, res, hcm, d, picked, path);
          },
          (e: unknown) => {
            this.opts.logger.error({ filter: filters[i]!.name, err: (e as Error).message }, "HTTP filter failed");
            localReply(res, 500, "", undefined);
          },
        );
        return;
      }
      if (r.action === "respond") return localReply(res, r.status, r.body, withAdded(r.headers, ctx), responseMutations(d, picked), varsOf(req));
    }
    this.#act(req, res, hcm, d, picked, path, ctx.responseHeadersToAdd);
  }

  /** `added`: headers the filters put on every response of this request (FilterContext.responseHeadersToAdd). */
  #act(req: DownstreamRequest, res: DownstreamResponse, hcm: CompiledHcm, d: RouteDecision, picked: PickedCluster | undefined, path: string, added?: HeaderMap): void {
    switch (d.kind) {
      case "redirect":
        drain(req);
        return localReply(res, d.status, "", added ? { ...added, location: d.location } : { location: d.location }, d.responseHeaders, varsOf(req));
      case "direct":
        drain(req);
        return localReply(res, d.status, d.body ?? "", added ? { ...added, ...d.headers } : d.headers, d.responseHeaders, varsOf(req));
      case "forward":
        return this.#forward(req, res, hcm, d, picked!, path, added);
    }
  }

  #forward(req: DownstreamRequest, res: DownstreamResponse, hcm: CompiledHcm, d: ForwardDecision, picked: PickedCluster, path: string, added: HeaderMap | undefined): void {
    const cluster = this.opts.clusters.get(picked.name);
    if (!cluster) {
      drain(req);
      return localReply(res, d.clusterNotFoundStatus, "", added, picked.responseHeaders, varsOf(req));
    }
    const headers = upstreamHeaders(req, hcm);
    // Header variables are worked out only for routes that use mutations.
    if (picked.requestHeaders.ops.length > 0) applyHeaderMutations(picked.requestHeaders, headers, varsOf(req));
    const host = picked.hostRewrite;
    if (host?.kind === "literal") headers.host = host.value;
    const upstreamPath = d.pathRewrite ? rewritePath(d, { path }) : path;
    const exchange = new ForwardExchange(res, picked.responseHeaders, req);
    if (added) exchange.added = added;
    if (req.upgrade !== undefined) {
      // HTTP/1.1 Upgrade (the listener only marks those the chain enables): no body, no
      // mirrors; the route timeout runs until the upstream answers.
      return this.#send(cluster, { method: req.method, path: upstreamPath, headers, body: null, upgrade: req.upgrade }, exchange, d);
    }
    const needsReplay = d.retry !== undefined || d.mirrors.length > 0;
    const length = contentLength(req);
    // HTTP/1.1 without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3).
    const bodiless = req.hasBody === false || length === 0 || (req.protocol === "http/1.1" && length === undefined && req.headers["transfer-encoding"] === undefined);
    if (bodiless) {
      this.#send(cluster, { method: req.method, path: upstreamPath, headers, body: null }, exchange, d);
    } else if (needsReplay && length !== undefined && length <= REPLAYABLE_BODY_BYTES) {
      collect(req, length, (body) => this.#send(cluster, { method: req.method, path: upstreamPath, headers, body }, exchange, d));
    } else {
      // An HTTP/2 request body is the stream the response goes out on: hand the upstream
      // client a separate readable, so nothing it does to the body touches the response.
      const body = req.protocol === "h2" ? req.body.pipe(new PassThrough()) : req.body;
      this.#send(cluster, { method: req.method, path: upstreamPath, headers, body }, exchange, d);
    }
  }

  #send(cluster: UpstreamCluster, ureq: UpstreamRequest, exchange: ForwardExchange, d: ForwardDecision): void {
    if (ureq.upgrade === undefined) for (const m of d.mirrors) {
      if (ureq.body !== null && !Buffer.isBuffer(ureq.body)) break; // a streamed body cannot be sent twice
      if (m.fraction < 1 && Math.random() >= m.fraction) continue;
      const mc = this.opts.clusters.get(m.cluster);
      if (!mc) continue;
      const mh: HeaderMap = { ...ureq.headers };
      if (m.shadowHostSuffix && typeof mh.host === "string") mh.host = shadowHost(mh.host);
      mc.mirror({ method: ureq.method, path: ureq.path, headers: mh, body: ureq.body });
    }
    exchange.call = cluster.forward(ureq, exchange, d.retry ? { timeoutMs: d.timeoutMs, retry: d.retry } : { timeoutMs: d.timeoutMs });
    // After forward(): a response that failed at once has nothing left to cancel.
    if (!exchange.done) exchange.res.onClose(exchange.cancel);
  }
}

/** Streams one upstream response to the client (a class, not closures: one object per request). */
class ForwardExchange implements UpstreamResponseSink {
  done = false;
  call: UpstreamCall | undefined;
  /** Headers the filters add to the response (set before the call starts). */
  added: HeaderMap | undefined;
  /** Registered once as the response's close callback: the client went away mid-exchange. */
  readonly cancel = (): void => {
    if (!this.done) this.call?.cancel();
  };
  #resume: (() => void) | undefined;
  constructor(
    readonly res: DownstreamResponse,
    private readonly mutations: HeaderMutations,
    private readonly req: DownstreamRequest,
  ) {}

  onHeaders(status: number, headers: HeaderMap, resume: () => void): boolean {
    if (this.res.closed) return false;
    this.#resume = resume;
    removeResponseHopByHop(headers);
    if (this.added) Object.assign(headers, this.added);
    if (this.mutations.ops.length > 0) applyHeaderMutations(this.mutations, headers, varsOf(this.req));
    this.res.writeHead(status, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // A slow client: pause the upstream until the client has taken what was sent.
    const resume = this.#resume;
    if (resume) this.res.onDrain(resume);
    return false;
  }

  onComplete(trailers: HeaderMap): void {
    this.done = true;
    this.res.end(undefined, Object.keys(trailers).length > 0 ? trailers : undefined);
  }

  /** The upstream switched protocols: the same switch downstream, then bytes both ways. */
  onUpgrade(status: number, headers: HeaderMap, socket: Duplex): void {
    this.done = true;
    const res = this.res;
    const upgrade = headers.upgrade;
    const protocol = typeof upgrade === "string" && upgrade !== "" ? upgrade : this.req.upgrade;
    if (res.closed || res.switchProtocols === undefined || protocol === undefined || status !== 101) {
      socket.destroy();
      if (!res.closed) res.destroy();
      return;
    }
    removeResponseHopByHop(headers);
    if (this.mutations.ops.length > 0) applyHeaderMutations(this.mutations, headers, varsOf(this.req));
    let client: Duplex;
    try {
      client = res.switchProtocols(headers, protocol);
    } catch {
      socket.destroy();
      res.destroy();
      return;
    }
    tunnel(client, socket);
  }

  onError(error: UpstreamError): void {
    this.done = true;
    if (this.res.closed) return;
    if (this.res.headersSent) {
      // Part of the response already went out: the client must see it was cut short.
      this.res.destroy(error);
      return;
    }
    const f = failureResponse(error.kind);
    localReply(this.res, f.status, f.body, this.added ? { ...this.added, ...f.headers } : f.headers, this.mutations, this.mutations.ops.length > 0 ? varsOf(this.req) : undefined);
  }
}

/** A filter's local reply keeps what earlier filters added (its own headers win). */
function withAdded(headers: HeaderMap | undefined, ctx: FilterContext): HeaderMap | undefined {
  const added = ctx.responseHeadersToAdd;
  return added ? { ...added, ...headers } : headers;
}

function responseMutations(d: RouteDecision, picked: PickedCluster | undefined): HeaderMutations | undefined {
  return picked ? picked.responseHeaders : d.responseHeaders;
}

function varsOf(req: DownstreamRequest): HeaderVars {
  return {
    remoteAddress: req.remoteAddress,
    remotePort: req.remotePort,
    localAddress: req.localAddress,
    localPort: req.localPort,
    protocol: req.protocol === "h2" ? "HTTP/2" : "HTTP/1.1",
    requestHeaders: req.headers,
  };
}

/** The request headers for the upstream: end-to-end ones, plus x-forwarded-* and x-request-id. */
function upstreamHeaders(req: DownstreamRequest, hcm: CompiledHcm): HeaderMap {
  const out: HeaderMap = {};
  const src = req.headers;
  for (const k in src) out[k] = src[k];
  removeRequestHopByHop(out);
  out.host = req.authority;
  appendForwardedFor(out, req.remoteAddress);
  setForwardedProto(out, req.scheme);
  // Never pass on a client certificate header the client wrote itself (Envoy's SANITIZE).
  if (out["x-forwarded-client-cert"] !== undefined) out["x-forwarded-client-cert"] = undefined;
  if (hcm.forwardClientCert.set && req.tls?.peerCertificateHash !== undefined) out["x-forwarded-client-cert"] = clientCertHeader(req.tls, hcm.forwardClientCert.uri);
  if (hcm.generateRequestId) ensureRequestId(out);
  // Bodies are re-framed for the upstream: its client sets content-length or chunking itself.
  return out;
}

/**
 * x-forwarded-client-cert as Envoy's SANITIZE_SET writes it for a verified client
 * certificate: `By=` this proxy's own URI SAN(s), `Hash=` the certificate's SHA-256, then
 * `URI=` each of the client's URI SANs when asked for (an empty `URI=` when it has none), e.g.
 * `By=spiffe://td/ns/a/sa/server;Hash=5e8d...;URI=spiffe://td/ns/b/sa/client`.
 */
export function clientCertHeader(tls: DownstreamTls, uri: boolean): string {
  let v = "";
  for (const by of tls.localUriSans ?? []) v += `By=${xfccValue(by)};`;
  v += `Hash=${tls.peerCertificateHash ?? ""}`;
  if (!uri) return v;
  const sans = tls.peerUriSans ?? (tls.peerSpiffeId !== undefined ? [tls.peerSpiffeId] : []);
  // As in Envoy, the key stays (empty) when the certificate has no URI SAN.
  if (sans.length === 0) return `${v};URI=`;
  for (const u of sans) v += `;URI=${xfccValue(u)}`;
  return v;
}

/** A value with `,`, `;`, `=` or `"` is quoted (and its quotes escaped), as Envoy does. */
function xfccValue(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x2c || c === 0x3b || c === 0x3d || c === 0x22) return `"${v.replaceAll('"', '\\"')}"`;
  }
  return v;
}

function withoutQuery(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
}

function contentLength(req: DownstreamRequest): number | undefined {
  const v = req.headers["content-length"];
  if (typeof v !== "string") return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function collect(req: DownstreamRequest, length: number, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.body.on("data", (c: Buffer) => {
    chunks.push(c);
    size += c.length;
  });
  req.body.once("end", () => then(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, Math.min(size, length))));
}

/** Consume a request body nobody will read, so the connection can carry the next request. */
function drain(req: DownstreamRequest): void {
  if (req.hasBody !== false && !req.body.readableEnded) req.body.resume();
}

function shadowHost(host: string): string {
  const i = host.lastIndexOf(":");
  return i > 0 && !host.endsWith("]") ? `${host.slice(0, i)}-shadow${host.slice(i)}` : `${host}-shadow`;
}

function localReply(res: DownstreamResponse, status: number, body: string, headers: HeaderMap | undefined, mutations?: HeaderMutations, vars?: HeaderVars): void {
  if (res.closed || res.headersSent) return;
  const h: HeaderMap = headers ? { ...headers } : {};
  if (body.length > 0 && h["content-type"] === undefined) h["content-type"] = "text/plain";
  h["content-length"] = String(Buffer.byteLength(body));
  if (mutations && mutations.ops.length > 0) applyHeaderMutations(mutations, h, vars);
  res.writeHead(status, h);
  res.end(body.length > 0 ? Buffer.from(body) : undefined);
}
