// The Aggregated Discovery Service: every proxy opens one gRPC stream and receives its
// listeners, routes, clusters, endpoints and secrets on it, in State of the World
// (StreamAggregatedResources) or incremental (DeltaAggregatedResources) form.
//
// The server keeps, per stream and resource type, what the proxy subscribed to and what
// it holds (name -> version, as far as the server knows), and on every new snapshot sends
// only what differs, in make-before-break order. Resources are never decoded: responses
// are assembled from the snapshot's pre-encoded bytes (wire.ts). Convergence (which proxy
// ACKed which version) is recorded in a ConvergenceTracker.
//
// Security: with mTLS every proxy presents its SVID; the node id it claims must belong to
// the SPIFFE ID in that certificate (`identityOf`), and only then does it receive secrets.
// grpc-js 1.14 exposes the verified peer certificate on each server call as
// `call.getAuthContext().sslPeerCertificate` (a tls.PeerCertificate, set only when the TLS
// socket is authorized; `subjectaltname` holds "URI:spiffe://..."), read once per stream.
//
// Local mode serves the processes `meshgate up` starts itself, on a Unix domain socket that
// only the same user can open (mode 0600, in the state directory): whoever can connect
// already holds the control plane's keys, so the node id is taken at its word and secrets
// are served to it.

import { X509Certificate } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, rename, rm, stat, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createSecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { MeshgateError, XdsListenError, XdsTlsConfigError } from "../errors.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { ConvergenceTracker, type SyncReport, type XdsFlavour } from "./convergence.js";
import { envoyRoot, TYPE_URLS, type ResourceKind } from "./envoy-protos.js";
import { RotatingServerCredentials, type ServerTlsMaterial } from "./rotating-server-credentials.js";
import type { EncodedResource, NodeSnapshot, ResourceSet, SnapshotSet } from "./snapshot.js";
import {
  controlPlaneBytes,
  decodeDeltaRequest,
  decodeSotwRequest,
  encodeDeltaResponse,
  encodeSotwResponse,
  loadWireTypes,
  type DeltaRequest,
  type SotwRequest,
} from "./wire.js";

/**
 * Push order when a snapshot changes (make-before-break): secrets first (a renewed or new
 * certificate is in place before a cluster or listener refers to it), then clusters before
 * the endpoints that fill them, listeners after the clusters their routes target, routes last.
 */
export const PUSH_ORDER: readonly ResourceKind[] = ["secret", "cluster", "endpoint", "listener", "route"];

/**
 * Kinds held back while the proxy warms new clusters. Sending them in order is not enough:
 * Envoy asks for a new cluster's endpoints only after it took the CDS response, and a route
 * that names a cluster still warming answers 503 (no cluster) meanwhile. So listeners and
 * routes follow once the proxy has ACKed the clusters and holds the endpoints of every
 * cluster it was sent — or after `warmingHoldMs`, so a proxy that never warms still gets them.
 */
const HELD_WHILE_WARMING: ReadonlySet<ResourceKind> = new Set(["listener", "route"]);
const DEFAULT_WARMING_HOLD_MS = 5_000;

/** Kinds whose SotW responses carry the full set: a resource left out is a resource removed. */
const FULL_STATE: ReadonlySet<ResourceKind> = new Set(["listener", "cluster"]);

const KIND_BY_URL = new Map<string, ResourceKind>(Object.entries(TYPE_URLS).map(([k, url]) => [url, k as ResourceKind]));
const EMPTY: ResourceSet = new Map();

export type AdsSecurity =
  | { readonly mode: "plaintext" }
  /** A Unix domain socket only the same user can open; streams get the secrets of the node id they claim. */
  | { readonly mode: "local" }
  | {
      readonly mode: "mtls";
      /** PEM: the roots proxies' SVIDs chain to. */
      readonly rootCaPem: string;
      /** PEM: the server's certificate chain and key. */
      readonly certChainPem: string;
      readonly privateKeyPem: string;
      /** The SPIFFE ID a node id belongs to; undefined when the node has no identity (it then never receives secrets). */
      readonly identityOf: (nodeId: string) => string | undefined;
    };

export interface AdsServerOptions {
  readonly security: AdsSecurity;
  /** Served until the first `update()`; streams that arrive before any snapshot wait for one. */
  readonly snapshot?: SnapshotSet;
  /** Updates within this window are pushed once, with the newest snapshot (default 100 ms). */
  readonly debounceMs?: number;
  /** Longest wait for a proxy to warm new clusters before listeners and routes are pushed anyway (default 5 s). */
  readonly warmingHoldMs?: number;
  readonly logger?: Logger;
  readonly tracker?: ConvergenceTracker;
  /** Sent as `control_plane.identifier` in every response. */
  readonly controlPlaneId?: string;
  /** Extra grpc-js server options (message sizes, keepalive). */
  readonly grpcOptions?: grpc.ServerOptions;
}

interface Subscription {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  wildcard: boolean;
  names: Set<string>;
  /** name -> version the proxy holds; "" = holds something of unknown version; null = told it does not exist (Delta). */
  known: Map<string, string | null>;
  /** The latest nonce sent for this type; ACKs and NACKs for older nonces are stale. */
  nonce: string | undefined;
  /** The latest response is neither ACKed nor NACKed yet. */
  awaiting: boolean;
  /** What the latest response changed in `known`, to undo when the proxy NACKs it. */
  undo: [string, string | null | undefined][];
  /** The ResourceSet last compared with, to skip unchanged types without looking inside. */
  lastSet: ResourceSet | undefined;
  responded: boolean;
  /** The proxy NACKed the latest response: answer the next snapshot even if nothing differs, so it can ACK a good version. */
  answerNext: boolean;
}

interface Stream {
  readonly id: number;
  readonly flavour: XdsFlavour;
  readonly call: grpc.ServerDuplexStream<Buffer, Buffer>;
  readonly peer: string;
  nodeId: string | undefined;
  /** Only streams whose SVID proves the node's identity get secrets. */
  secretsAllowed: boolean;
  identity: string | undefined;
  readonly subs: Map<ResourceKind, Subscription>;
  closed: boolean;
  /** Pushes of listeners and routes waiting for the proxy to warm new clusters (HELD_WHILE_WARMING). */
  held: { readonly timer: NodeJS.Timeout } | undefined;
}

let nextNonce = 0;
// Process-wide, so servers sharing a ConvergenceTracker (plaintext and mTLS ports of one
// control plane) never hand it the same stream id.
let nextStreamId = 1;

export class AdsServer {
  readonly tracker: ConvergenceTracker;
  private readonly server: grpc.Server;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly warmingHoldMs: number;
  private readonly streams = new Map<number, Stream>();
  private readonly controlPlane: Uint8Array;
  private current: SnapshotSet | undefined;
  private pending: SnapshotSet | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  /** Local mode: the socket file this server created, removed again on close if it is still this one. */
  private socket: { path: string; ino: number } | undefined;
  /** mTLS mode, once listening: the certificate and roots new handshakes use. */
  private tls: RotatingServerCredentials | undefined;

  constructor(private readonly options: AdsServerOptions) {
    loadWireTypes();
    this.tracker = options.tracker ?? new ConvergenceTracker();
    this.log = options.logger ?? createLogger({ level: "silent" });
    this.debounceMs = options.debounceMs ?? 100;
    this.warmingHoldMs = options.warmingHoldMs ?? DEFAULT_WARMING_HOLD_MS;
    this.controlPlane = controlPlaneBytes(options.controlPlaneId ?? "meshgate");
    this.server = new grpc.Server(options.grpcOptions);
    this.server.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.open(call, "sotw"),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.open(call, "delta"),
    });
    if (options.snapshot) this.apply(options.snapshot);
  }

  /**
   * Binds `host:port` (port 0 picks one) and returns the port. In local mode `address` is
   * the socket's file path (`unix://` prefix optional); the result is 0.
   */
  async listen(address: string): Promise<number> {
    let creds: grpc.ServerCredentials;
    const sec = this.options.security;
    if (sec.mode === "local") {
      await this.listenLocal(address.replace(/^unix:(\/\/)?/, ""));
      return 0;
    }
    if (sec.mode === "mtls") {
      try {
        checkTlsMaterial(sec.rootCaPem, sec.certChainPem, sec.privateKeyPem);
      } catch (e) {
        throw new XdsTlsConfigError((e as Error).message, e);
      }
      this.tls ??= new RotatingServerCredentials(sec);
      creds = this.tls.credentials;
    } else {
      creds = grpc.ServerCredentials.createInsecure();
    }
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p)));
    }).catch((e: unknown) => {
      if (e instanceof MeshgateError) throw e;
      throw new XdsListenError(address, (e as Error).message ?? String(e), e);
    });
    this.started = true;
    this.log.info({ address, port, security: sec.mode }, "ADS server listening");
    return port;
  }

  /**
   * mTLS mode: replaces the server's certificate (a renewed SVID) and the roots client
   * certificates must chain to. Handshakes from now on use them; open streams are kept.
   * Throws XdsTlsConfigError, keeping the current material, when the new one is unusable.
   */
  updateTls(material: ServerTlsMaterial): void {
    if (this.options.security.mode !== "mtls") throw new XdsTlsConfigError(`this ADS server is not in mTLS mode (${this.options.security.mode})`);
    const current = this.tls?.material ?? this.options.security;
    if (current.rootCaPem === material.rootCaPem && current.certChainPem === material.certChainPem && current.privateKeyPem === material.privateKeyPem) return;
    try {
      checkTlsMaterial(material.rootCaPem, material.certChainPem, material.privateKeyPem);
    } catch (e) {
      throw new XdsTlsConfigError((e as Error).message, e);
    }
    if (this.tls) this.tls.update(material);
    else this.tls = new RotatingServerCredentials(material);
  }

  /**
   * The socket is bound in a fresh 0700 directory, made 0600 there, then renamed into place,
   * so there is no moment at which another user could connect to it. A socket left behind
   * by a process that is gone is replaced; one that still answers is not.
   */
  private async listenLocal(path: string): Promise<void> {
    const target = resolve(path);
    const dir = dirname(target);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await removeStaleSocket(target);
    } catch (e) {
      if (e instanceof MeshgateError) throw e;
      throw new XdsListenError(target, (e as Error).message, e);
    }
    const tmpDir = await mkdtemp(join(dir, ".x"));
    const tmp = join(tmpDir, "s");
    try {
      // sun_path holds 108 bytes with its terminating NUL.
      if (Buffer.byteLength(tmp) > 107) throw new XdsListenError(target, `the socket path is too long for a Unix domain socket (at most ${107 - (tmp.length - target.length)} bytes here); choose a shorter state directory`);
      await new Promise<number>((ok, fail) => this.server.bindAsync(`unix://${tmp}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : ok(p)))).catch((e: unknown) => {
        if (e instanceof MeshgateError) throw e;
        throw new XdsListenError(target, (e as Error).message ?? String(e), e);
      });
      this.started = true;
      await chmod(tmp, 0o600);
      await rename(tmp, target);
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    this.socket = { path: target, ino: (await stat(target)).ino };
    this.log.info({ address: `unix://${target}`, security: "local" }, "ADS server listening");
  }

  /** Serves a new snapshot. Pushes are debounced: several updates within `debounceMs` become one push. */
  update(set: SnapshotSet): void {
    this.tracker.versionUpdated(set.version);
    if (!this.current) {
      this.apply(set);
      return;
    }
    this.pending = set;
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  /** Pushes a pending update now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const set = this.pending;
    this.pending = undefined;
    if (set) this.apply(set);
  }

  get version(): string | undefined {
    return this.current?.version;
  }

  get connectedStreams(): number {
    return this.streams.size;
  }

  /** Per proxy and type: sent, ACKed, NACKed; and the convergence summary (`/debug/syncz`). */
  syncz(): SyncReport {
    return this.tracker.report();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const s of this.streams.values()) {
      s.closed = true;
      s.call.end();
    }
    this.streams.clear();
    if (!this.started) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => this.server.forceShutdown(), 1000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    const socket = this.socket;
    this.socket = undefined;
    // Only the file this server created: a newer server may have taken the path since.
    if (socket && (await stat(socket.path).catch(() => undefined))?.ino === socket.ino) await unlink(socket.path).catch(() => {});
  }

  // ---- streams -------------------------------------------------------------------------

  private open(call: grpc.ServerDuplexStream<Buffer, Buffer>, flavour: XdsFlavour): void {
    const stream: Stream = {
      id: nextStreamId++,
      flavour,
      call,
      peer: call.getPeer(),
      nodeId: undefined,
      secretsAllowed: false,
      identity: undefined,
      subs: new Map(),
      held: undefined,
      closed: false,
    };
    call.on("data", (buf: Buffer) => {
      if (stream.closed) return;
      let req: SotwRequest | DeltaRequest;
      try {
        req = flavour === "sotw" ? decodeSotwRequest(buf) : decodeDeltaRequest(buf);
      } catch (e) {
        this.refuse(stream, grpc.status.INVALID_ARGUMENT, `malformed ${flavour === "sotw" ? "DiscoveryRequest" : "DeltaDiscoveryRequest"}: ${(e as Error).message}`);
        return;
      }
      if (stream.nodeId === undefined && !this.identify(stream, req.node?.id)) return;
      const kind = KIND_BY_URL.get(req.typeUrl);
      if (!kind) {
        // A type meshgate does not serve (e.g. ScopedRouteConfiguration): nothing to send.
        this.log.debug({ node: stream.nodeId, typeUrl: req.typeUrl }, "request for a type that is not served");
        return;
      }
      if (flavour === "sotw") this.onSotwRequest(stream, kind, req as SotwRequest);
      else this.onDeltaRequest(stream, kind, req as DeltaRequest);
    });
    const end = () => {
      if (stream.held) clearTimeout(stream.held.timer);
      stream.held = undefined;
      if (!stream.closed) {
        stream.closed = true;
        call.end();
      }
      if (this.streams.delete(stream.id)) {
        this.tracker.disconnect(stream.id);
        this.log.debug({ node: stream.nodeId, stream: stream.id }, "ADS stream closed");
      }
    };
    call.on("end", end);
    call.on("error", end);
    call.on("cancelled", end);
    call.on("close", end);
  }

  /** The first request names the node; with mTLS its SVID must prove the node's identity. */
  private identify(stream: Stream, nodeId: string | undefined): boolean {
    if (!nodeId) {
      this.refuse(stream, grpc.status.INVALID_ARGUMENT, "the first request on a stream must carry node.id");
      return false;
    }
    const sec = this.options.security;
    if (sec.mode === "local") stream.secretsAllowed = true;
    if (sec.mode === "mtls") {
      const claimed = sec.identityOf(nodeId);
      if (claimed !== undefined) {
        const presented = spiffeIdsOf(stream.call.getAuthContext().sslPeerCertificate?.subjectaltname);
        if (!presented.includes(claimed)) {
          this.log.warn({ node: nodeId, expected: claimed, presented, peer: stream.peer }, "ADS stream refused: the client certificate does not hold the node's identity");
          this.refuse(stream, grpc.status.PERMISSION_DENIED, `node ${nodeId} belongs to ${claimed}; the client certificate presents ${presented.join(", ") || "no SPIFFE ID"}`);
          return false;
        }
        stream.secretsAllowed = true;
        stream.identity = claimed;
      }
    }
    stream.nodeId = nodeId;
    this.streams.set(stream.id, stream);
    this.tracker.connect(stream.id, { nodeId, flavour: stream.flavour, peer: stream.peer, identity: stream.identity });
    if (this.current) this.tracker.setTarget(stream.id, this.nodeSnapshot(stream, this.current).version);
    this.log.debug({ node: nodeId, stream: stream.id, flavour: stream.flavour, peer: stream.peer, identity: stream.identity }, "ADS stream opened");
    return true;
  }

  private refuse(stream: Stream, code: grpc.status, details: string): void {
    stream.closed = true;
    stream.call.emit("error", { code, details, metadata: new grpc.Metadata() } as grpc.ServiceError);
  }

  private subscription(stream: Stream, kind: ResourceKind, create: () => Subscription): Subscription {
    let sub = stream.subs.get(kind);
    if (!sub) {
      sub = create();
      stream.subs.set(kind, sub);
      this.tracker.subscribed(stream.id, kind);
    }
    return sub;
  }

  // ---- State of the World ----------------------------------------------------------------

  private onSotwRequest(stream: Stream, kind: ResourceKind, req: SotwRequest): void {
    const existing = stream.subs.get(kind);
    if (existing && req.responseNonce !== "" && req.responseNonce !== existing.nonce) return; // stale: a newer response is on its way
    const sub = this.subscription(stream, kind, () => newSubscription(kind));
    // A new subscription, or a reconnected proxy: answer with the current state.
    let force = req.responseNonce === "" || !existing;
    if (req.responseNonce !== "" && req.responseNonce === sub.nonce) {
      sub.awaiting = false;
      if (req.errorDetail) this.onNack(stream, sub, req.errorDetail, req.versionInfo);
      else this.tracker.acked(stream.id, kind, req.responseNonce);
    }
    const wildcard = req.resourceNames.length === 0 ? FULL_STATE.has(kind) : req.resourceNames.includes("*");
    const names = new Set(req.resourceNames.filter((n) => n !== "*"));
    if (wildcard !== sub.wildcard || !sameSet(names, sub.names)) {
      sub.wildcard = wildcard;
      sub.names = names;
      force = true;
    }
    if (force && this.current) this.respondSotw(stream, sub, this.nodeSnapshot(stream, this.current), true);
    this.releaseIfWarm(stream);
  }

  /**
   * Sends what changed for one type. LDS/CDS responses carry every requested resource;
   * RDS/EDS/SDS responses carry only new or changed ones (absence does not remove them),
   * except when `full` (a new subscription or a reconnect).
   */
  private respondSotw(stream: Stream, sub: Subscription, node: NodeSnapshot, full: boolean): void {
    full ||= sub.answerNext;
    const set = this.resourcesOf(stream, sub.kind, node);
    if (!full && sub.lastSet === set) {
      this.tracker.unchanged(stream.id, sub.kind, node.version);
      return;
    }
    sub.lastSet = set;
    const fullState = FULL_STATE.has(sub.kind);
    const out: EncodedResource[] = [];
    const requested = new Set<string>();
    let changed = full || !sub.responded;
    const consider = (r: EncodedResource) => {
      requested.add(r.name);
      const differs = sub.known.get(r.name) !== r.version;
      if (differs) changed = true;
      if (differs || full || fullState) out.push(r);
    };
    if (sub.wildcard) for (const r of set.values()) consider(r);
    else
      for (const name of sub.names) {
        const r = set.get(name);
        if (r) consider(r);
      }
    const gone: string[] = [];
    for (const name of sub.known.keys()) if (!requested.has(name)) gone.push(name);
    if (gone.length && fullState) changed = true;
    if (!changed) {
      this.tracker.unchanged(stream.id, sub.kind, node.version);
      return;
    }
    const undo: Subscription["undo"] = [];
    for (const name of gone) {
      undo.push([name, sub.known.get(name)]);
      sub.known.delete(name);
    }
    for (const r of out) {
      const before = sub.known.get(r.name);
      if (before !== r.version) {
        undo.push([r.name, before]);
        sub.known.set(r.name, r.version);
      }
    }
    sub.undo = undo;
    sub.answerNext = false;
    const nonce = (++nextNonce).toString(36);
    sub.nonce = nonce;
    sub.awaiting = true;
    sub.responded = true;
    this.tracker.sent(stream.id, sub.kind, node.version, nonce);
    stream.call.write(encodeSotwResponse(node.version, sub.typeUrl, nonce, out, this.controlPlane));
  }

  // ---- Delta ----------------------------------------------------------------------------

  private onDeltaRequest(stream: Stream, kind: ResourceKind, req: DeltaRequest): void {
    let first = false;
    const sub = this.subscription(stream, kind, () => {
      first = true;
      const s = newSubscription(kind);
      // Implicit wildcard: a first LDS/CDS request that names nothing wants everything.
      s.wildcard = FULL_STATE.has(kind) && req.resourceNamesSubscribe.length === 0;
      // A reconnecting proxy says what it holds; only what differs is sent again.
      for (const [name, version] of Object.entries(req.initialResourceVersions)) s.known.set(name, version);
      return s;
    });
    if (req.responseNonce !== "" && req.responseNonce === sub.nonce) {
      sub.awaiting = false;
      if (req.errorDetail) this.onNack(stream, sub, req.errorDetail, "");
      else this.tracker.acked(stream.id, kind, req.responseNonce);
    }
    // Subscription changes count whatever their nonce: they are increments, not state.
    let changed = first;
    for (const name of req.resourceNamesSubscribe) {
      if (name === "*") {
        if (!sub.wildcard) changed = true;
        sub.wildcard = true;
      } else if (!sub.names.has(name)) {
        sub.names.add(name);
        changed = true;
      }
    }
    for (const name of req.resourceNamesUnsubscribe) {
      if (name === "*") {
        sub.wildcard = false;
        for (const n of [...sub.known.keys()]) if (!sub.names.has(n)) sub.known.delete(n);
        continue;
      }
      sub.names.delete(name);
      // Still wanted through the wildcard: mark it unknown so it is sent again (the proxy
      // may have dropped it); otherwise forget it, so a later subscribe sends it again.
      if (sub.wildcard) sub.known.set(name, "");
      else sub.known.delete(name);
      changed = true;
    }
    if (!sub.wildcard && first) for (const n of [...sub.known.keys()]) if (!sub.names.has(n)) sub.known.delete(n);
    if (changed && this.current) this.respondDelta(stream, sub, this.nodeSnapshot(stream, this.current), first ? "initial" : "subscription");
    this.releaseIfWarm(stream);
  }

  /**
   * Sends new and changed resources and the names of removed ones. A first request is
   * always answered (even with nothing: the proxy learns the version it is at); a snapshot
   * push whose resources are the same objects as last time skips the comparison.
   */
  private respondDelta(stream: Stream, sub: Subscription, node: NodeSnapshot, reason: "initial" | "subscription" | "push"): void {
    const always = reason === "initial" || sub.answerNext;
    const set = this.resourcesOf(stream, sub.kind, node);
    if (reason === "push" && !always && sub.lastSet === set && sub.responded) {
      this.tracker.unchanged(stream.id, sub.kind, node.version);
      return;
    }
    sub.lastSet = set;
    const out: EncodedResource[] = [];
    const removed: string[] = [];
    if (sub.wildcard) for (const r of set.values()) if (sub.known.get(r.name) !== r.version) out.push(r);
    for (const name of sub.names) {
      const r = set.get(name);
      if (r) {
        if (!sub.wildcard && sub.known.get(name) !== r.version) out.push(r);
      } else if (sub.known.get(name) !== null) {
        removed.push(name); // explicitly wanted but absent: say so once
      }
    }
    const goneFromWildcard: string[] = [];
    if (sub.wildcard) for (const [name, v] of sub.known) if (v !== null && !sub.names.has(name) && !set.has(name)) goneFromWildcard.push(name);
    if (out.length === 0 && removed.length === 0 && goneFromWildcard.length === 0 && !always && sub.responded) {
      this.tracker.unchanged(stream.id, sub.kind, node.version);
      return;
    }
    const undo: Subscription["undo"] = [];
    for (const r of out) {
      undo.push([r.name, sub.known.get(r.name)]);
      sub.known.set(r.name, r.version);
    }
    for (const name of removed) {
      undo.push([name, sub.known.get(name)]);
      sub.known.set(name, null);
    }
    for (const name of goneFromWildcard) {
      undo.push([name, sub.known.get(name)]);
      sub.known.delete(name);
    }
    sub.undo = undo;
    sub.answerNext = false;
    const nonce = (++nextNonce).toString(36);
    sub.nonce = nonce;
    sub.awaiting = true;
    sub.responded = true;
    this.tracker.sent(stream.id, sub.kind, node.version, nonce);
    stream.call.write(encodeDeltaResponse(node.version, sub.typeUrl, nonce, out, [...removed, ...goneFromWildcard], this.controlPlane));
  }

  // ---- shared ----------------------------------------------------------------------------

  /** The proxy rejected the latest response and keeps its previous configuration. */
  private onNack(stream: Stream, sub: Subscription, detail: { code: number; message: string }, versionInfo: string): void {
    this.tracker.nacked(stream.id, sub.kind, sub.nonce!, detail.message);
    this.log.warn({ node: stream.nodeId, type: sub.typeUrl, nonce: sub.nonce, keeps: versionInfo || undefined, error: detail.message }, "proxy rejected a configuration (NACK)");
    // Back to what the proxy still holds, so the next change resends what it lacks.
    for (let i = sub.undo.length - 1; i >= 0; i--) {
      const [name, before] = sub.undo[i]!;
      if (before === undefined) sub.known.delete(name);
      else sub.known.set(name, before);
    }
    sub.undo = [];
    sub.lastSet = undefined;
    sub.answerNext = true;
  }

  private apply(set: SnapshotSet): void {
    this.current = set;
    for (const stream of this.streams.values()) {
      if (stream.closed) continue;
      const node = this.nodeSnapshot(stream, set);
      this.tracker.setTarget(stream.id, node.version);
      this.push(stream, node, false);
    }
    // Last: measured against the new version only once every stream has been offered it.
    this.tracker.versionApplied(set.version);
  }

  /**
   * Pushes a snapshot to one stream in PUSH_ORDER, holding listeners and routes while new
   * clusters warm; `release` pushes only what was held.
   */
  private push(stream: Stream, node: NodeSnapshot, release: boolean): void {
    let hold = false;
    for (const kind of PUSH_ORDER) {
      const sub = stream.subs.get(kind);
      if (!sub) continue;
      const held = HELD_WHILE_WARMING.has(kind);
      if (release ? !held : held && (hold ||= this.warming(stream, node))) continue;
      if (stream.flavour === "sotw") this.respondSotw(stream, sub, node, !sub.responded);
      else this.respondDelta(stream, sub, node, sub.responded ? "push" : "initial");
    }
    if (hold) {
      if (!stream.held) {
        const timer = setTimeout(() => {
          if (!stream.held || stream.closed || !this.current) return;
          this.log.warn({ node: stream.nodeId, waitedMs: this.warmingHoldMs }, "proxy did not warm its new clusters in time; pushing listeners and routes anyway");
          stream.held = undefined;
          this.push(stream, this.nodeSnapshot(stream, this.current), true);
        }, this.warmingHoldMs);
        timer.unref();
        stream.held = { timer };
      }
    } else if (stream.held) {
      clearTimeout(stream.held.timer);
      stream.held = undefined;
    }
  }

  /** After an ACK, NACK or subscription change: pushes what was held once the proxy is warm. */
  private releaseIfWarm(stream: Stream): void {
    if (!stream.held || stream.closed || !this.current) return;
    const node = this.nodeSnapshot(stream, this.current);
    if (!this.warming(stream, node)) this.push(stream, node, true);
  }

  /**
   * The proxy has a cluster response it has not ACKed, or a cluster it holds lacks the
   * current endpoints (not yet asked for, sent, or ACKed). A NACKed cluster response ends
   * the wait: those clusters will not warm.
   */
  private warming(stream: Stream, node: NodeSnapshot): boolean {
    const clusters = stream.subs.get("cluster");
    if (!clusters) return false;
    if (clusters.awaiting) return true;
    const assignments = node.resources.endpoint;
    if (!assignments || assignments.size === 0) return false;
    const eds = stream.subs.get("endpoint");
    if (eds?.awaiting) return true;
    for (const name of clusters.known.keys()) {
      const r = assignments.get(name);
      if (r && eds?.known.get(name) !== r.version) return true;
    }
    return false;
  }

  private nodeSnapshot(stream: Stream, set: SnapshotSet): NodeSnapshot {
    return set.nodes.get(stream.nodeId!) ?? set.fallback;
  }

  private resourcesOf(stream: Stream, kind: ResourceKind, node: NodeSnapshot): ResourceSet {
    if (kind === "secret" && !stream.secretsAllowed) return EMPTY;
    return node.resources[kind] ?? EMPTY;
  }
}

/**
 * grpc-js accepts any bytes as PEM and fails later, per handshake; check up front that the
 * roots are certificates and that the chain and key parse and belong together.
 */
function checkTlsMaterial(rootCaPem: string, certChainPem: string, privateKeyPem: string): void {
  const roots = rootCaPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (roots.length === 0) throw new Error("the root CA PEM holds no certificate");
  for (const pem of roots) new X509Certificate(pem);
  createSecureContext({ ca: rootCaPem, cert: certChainPem, key: privateKeyPem });
}

/** Removes a socket file no process answers on any more; refuses a live socket or any other file. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (!st) return;
  if (!st.isSocket()) throw new XdsListenError(path, "the path exists and is not a socket");
  const refused = await new Promise<boolean>((done, fail) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      done(false);
    });
    probe.once("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNREFUSED" || e.code === "ENOENT" ? done(true) : fail(e)));
  });
  if (!refused) throw new XdsListenError(path, "another process is serving on this socket");
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
  });
}

function newSubscription(kind: ResourceKind): Subscription {
  return { kind, typeUrl: TYPE_URLS[kind], wildcard: false, names: new Set(), known: new Map(), nonce: undefined, awaiting: false, undo: [], lastSet: undefined, responded: false, answerNext: false };
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** `URI:spiffe://td/ns/a/sa/b, DNS:x` -> the SPIFFE IDs. */
export function spiffeIdsOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:spiffe://"))
    .map((s) => s.slice(4));
}

/**
 * The AggregatedDiscoveryService as grpc-js wants it, paths taken from the loaded protos.
 * Messages cross as raw bytes: requests are decoded by the server (so a malformed one can
 * be answered with INVALID_ARGUMENT), responses are encoded by wire.ts.
 */
export function adsServiceDefinition(): grpc.ServiceDefinition {
  const service = envoyRoot().lookupService("envoy.service.discovery.v3.AggregatedDiscoveryService");
  const raw = (b: Buffer) => b;
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const method of service.methodsArray) {
    def[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return def;
}
