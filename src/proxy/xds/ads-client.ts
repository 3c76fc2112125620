// The proxy's xDS client: State-of-the-World ADS over one bidirectional gRPC stream.
//
// It subscribes to listeners and clusters (wildcard) and to the route tables, load
// assignments and secrets those name (referencedNames), hands every response to the proxy
// as a complete candidate configuration, and ACKs it when the proxy took it or NACKs it
// (with the proxy's error) when it did not; a NACKed response changes nothing. Responses
// are applied one at a time, in the order they arrived.
//
// When the control plane goes away the proxy keeps serving what it has; the client
// reconnects with exponential backoff and jitter and re-sends every subscription with the
// version it last accepted. The server then re-sends the current state; resources whose
// bytes did not change keep their decoded object, and a type whose content did not change
// is ACKed without bothering the proxy.

import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { XdsResponseInvalidError } from "../../errors.js";
import { createLogger, type Logger } from "../../telemetry/logger.js";
import { decodeResource, envoyRoot, TYPE_URLS, type ResourceKind } from "../../xds/envoy-protos.js";
import type { EnvoyResource } from "../contracts.js";
import { EMPTY_RESOURCE_SET, REFERENCED_KINDS, referencedNames, SET_FIELD, type ReferencedKind, type XdsResourceSet } from "./resource-set.js";

const ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const XDS_NAME: Readonly<Record<ResourceKind, string>> = { listener: "LDS", route: "RDS", cluster: "CDS", endpoint: "EDS", secret: "SDS" };
const KINDS: readonly ResourceKind[] = ["listener", "route", "cluster", "endpoint", "secret"];
const KIND_BY_URL = new Map<string, ResourceKind>(KINDS.map((k) => [TYPE_URLS[k], k]));
/** Requests on a new stream go out in the server's make-before-break push order. */
const REQUEST_ORDER: readonly ResourceKind[] = ["secret", "cluster", "endpoint", "listener", "route"];
/** SotW: an LDS/CDS response is the whole set; an RDS/EDS/SDS one adds or replaces what it names. */
const FULL_STATE: ReadonlySet<ResourceKind> = new Set(["listener", "cluster"]);
const INVALID_ARGUMENT = 3;

export interface AdsClientOptions {
  /** gRPC target: `127.0.0.1:15010`, or `unix:///path/xds.sock`. */
  readonly target: string;
  /** Or a function asked on every connection attempt, so renewed client certificates are picked up on reconnect. */
  readonly credentials: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
  /** `gateway~<namespace>~<name>` or `sidecar~<namespace>~<workload>`. */
  readonly nodeId: string;
  /**
   * Puts a candidate configuration in force (`changed` is the type the response carried).
   * Returning (or resolving) accepts it: the client commits and ACKs. Throwing (or
   * rejecting) refuses it: the client NACKs with the error's message and keeps the
   * previous configuration. Never called twice at once.
   */
  readonly apply: (candidate: XdsResourceSet, changed: ResourceKind) => void | Promise<void>;
  /** Reconnect delay: doubles from `initialMs` (250) up to `maxMs` (10,000), with jitter. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly logger?: Logger;
  /** Extra grpc-js channel options (default: 64 MiB messages, keepalive pings every 30 s). */
  readonly channelOptions?: grpc.ChannelOptions;
}

export interface AdsClientStatus {
  readonly connected: boolean;
  /** Why the last stream ended (absent while connected, or before anything failed). */
  readonly error?: string;
}

export interface AdsClientCounters {
  /** Responses received. */
  readonly responses: number;
  /** Times `apply` was called (a response that changes nothing is ACKed without it). */
  readonly applies: number;
  readonly acks: number;
  readonly nacks: number;
  /** Streams opened after the first. */
  readonly reconnects: number;
}

/** A resource as held: its bytes (to tell an unchanged resource on sight) and its decoded form. */
interface Held {
  readonly bytes: Buffer;
  readonly value: EnvoyResource;
}
type HeldSets = Readonly<Record<ResourceKind, ReadonlyMap<string, Held>>>;

interface TypeState {
  /** version_info of the last accepted response. */
  version: string;
  /** Nonce of the last response on the current stream ("" on a new stream). */
  nonce: string;
  /** Names subscribed to (RDS/EDS/SDS; LDS/CDS are wildcard). */
  names: readonly string[];
  /** A request for this type went out on the current stream. */
  requested: boolean;
  /** A response for this type has been accepted once. */
  accepted: boolean;
}

interface Stream {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  nodeSent: boolean;
  ended: boolean;
}

interface Candidate {
  readonly changed: boolean;
  readonly held: HeldSets;
  readonly state: XdsResourceSet;
  readonly refs: Record<ReferencedKind, string[]>;
}

interface DecodedResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly { readonly typeUrl: string; readonly value: Uint8Array }[];
}

export class AdsClient {
  readonly #opts: AdsClientOptions;
  readonly #log: Logger;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #types: Record<ResourceKind, TypeState>;
  readonly #statusListeners = new Set<(s: AdsClientStatus) => void>();
  #counters = { responses: 0, applies: 0, acks: 0, nacks: 0, reconnects: 0 };
  #held: HeldSets = { listener: new Map(), route: new Map(), cluster: new Map(), endpoint: new Map(), secret: new Map() };
  #state: XdsResourceSet = EMPTY_RESOURCE_SET;
  #refs: Record<ReferencedKind, string[]> = { route: [], endpoint: [], secret: [] };
  #stream: Stream | undefined;
  #queue: Promise<void> = Promise.resolve();
  #status: AdsClientStatus = { connected: false };
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  constructor(options: AdsClientOptions) {
    this.#opts = options;
    this.#log = (options.logger ?? createLogger({ level: "silent" })).child({ component: "ads-client", node: options.nodeId });
    this.#initialMs = Math.max(1, options.backoff?.initialMs ?? 250);
    this.#maxMs = Math.max(this.#initialMs, options.backoff?.maxMs ?? 10_000);
    const type = (): TypeState => ({ version: "", nonce: "", names: [], requested: false, accepted: false });
    this.#types = { listener: type(), route: type(), cluster: type(), endpoint: type(), secret: type() };
    envoyRoot(); // load the protos now, not on the first response
  }

  /** Opens the stream (once; reconnects are automatic until `close`). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connect();
  }

  /** Ends the stream and stops reconnecting; resolves once a response being applied is done. */
  async close(): Promise<void> {
    if (this.#closed) return this.#queue;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const s = this.#stream;
    if (s) this.#end(s);
    this.#setStatus({ connected: false });
    await this.#queue;
  }

  /** The configuration last applied (each type's map is the same object until that type changes). */
  get state(): XdsResourceSet {
    return this.#state;
  }

  /** Names the configuration refers to that have not arrived yet (RDS, EDS, SDS), sorted. */
  missing(): string[] {
    const m = this.missingByKind();
    return [...m.route, ...m.endpoint, ...m.secret].sort();
  }

  /** `missing()` by type. */
  missingByKind(): Record<ReferencedKind, string[]> {
    const out = { route: [] as string[], endpoint: [] as string[], secret: [] as string[] };
    for (const kind of REFERENCED_KINDS) {
      const held = this.#state[SET_FIELD[kind]];
      for (const name of this.#refs[kind]) if (!held.has(name)) out[kind].push(name);
    }
    return out;
  }

  /** Listeners and clusters arrived once, and nothing they refer to is missing (Envoy: warmed). */
  get ready(): boolean {
    return this.#types.listener.accepted && this.#types.cluster.accepted && this.missing().length === 0;
  }

  get status(): AdsClientStatus {
    return this.#status;
  }

  /** Called on every change of connection status; returns a function that unsubscribes. */
  onStatus(cb: (s: AdsClientStatus) => void): () => void {
    this.#statusListeners.add(cb);
    return () => this.#statusListeners.delete(cb);
  }

  get counters(): AdsClientCounters {
    return { ...this.#counters };
  }

  // ---- the stream ---------------------------------------------------------------------

  #connect(): void {
    const creds = this.#opts.credentials;
    const client = new grpc.Client(this.#opts.target, typeof creds === "function" ? creds() : creds, {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      // A fresh channel per attempt, not shared with other clients of the process: the
      // reconnect pace is this client's backoff, not a shared subchannel's.
      "grpc.use_local_subchannel_pool": 1,
      // A control plane whose host vanished sends no FIN: pings find out, so the proxy reconnects.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      ...this.#opts.channelOptions,
    });
    const raw = (b: Buffer) => b;
    const call = client.makeBidiStreamRequest(ADS_METHOD, raw, raw);
    const stream: Stream = { client, call, nodeSent: false, ended: false };
    this.#stream = stream;
    call.on("data", (buf: Buffer) => {
      if (stream.ended) return;
      this.#markConnected(stream);
      this.#enqueue(() => this.#onResponse(stream, buf));
    });
    call.on("status", (s: grpc.StatusObject) => this.#onStreamEnd(stream, s.code === grpc.status.OK ? "the control plane ended the stream" : `${grpc.status[s.code] ?? s.code}: ${s.details}`));
    call.on("error", () => {}); // reported through "status"
    this.#watchChannel(stream);
    // After any response still being applied, so the requests carry what it committed.
    this.#enqueue(() => this.#sendInitialRequests(stream));
  }

  /** Reports the stream connected once its channel is up (a response may be a while coming). */
  #watchChannel(stream: Stream): void {
    const channel = stream.client.getChannel();
    const check = () => {
      if (stream.ended) return;
      const state = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.READY) return this.#markConnected(stream);
      if (state === grpc.connectivityState.SHUTDOWN) return;
      channel.watchConnectivityState(state, Infinity, check);
    };
    check();
  }

  #markConnected(stream: Stream): void {
    if (stream !== this.#stream || stream.ended || this.#status.connected) return;
    this.#log.info({ target: this.#opts.target }, "connected to the control plane");
    this.#setStatus({ connected: true });
  }

  #onStreamEnd(stream: Stream, reason: string): void {
    if (stream.ended) return;
    this.#end(stream);
    if (this.#closed) return;
    this.#log.warn({ target: this.#opts.target, reason }, "xDS stream lost; serving the last configuration received");
    this.#setStatus({ connected: false, error: reason });
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    // Jitter (half to all of the ceiling): proxies cut off together do not return together.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#counters.reconnects++;
      this.#connect();
    }, delay);
  }

  #end(stream: Stream): void {
    stream.ended = true;
    stream.call.cancel();
    stream.client.close();
  }

  #setStatus(s: AdsClientStatus): void {
    if (s.connected === this.#status.connected && s.error === this.#status.error) return;
    this.#status = s;
    for (const cb of this.#statusListeners) {
      try {
        cb(s);
      } catch (e) {
        this.#log.error({ err: (e as Error).message }, "a status listener threw");
      }
    }
  }

  #enqueue(task: () => void | Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((e: unknown) => {
      this.#log.error({ err: e instanceof Error ? e.message : String(e) }, "xDS client task failed");
    });
  }

  #live(stream: Stream): boolean {
    return !this.#closed && stream === this.#stream && !stream.ended;
  }

  #send(stream: Stream, kind: ResourceKind, extra: { versionInfo: string; responseNonce: string; errorDetail?: { code: number; message: string } }): void {
    if (!this.#live(stream)) return;
    const T = envoyRoot().lookupType("envoy.service.discovery.v3.DiscoveryRequest");
    const msg = T.fromObject({
      ...(stream.nodeSent ? {} : { node: { id: this.#opts.nodeId, userAgentName: "meshgate" } }),
      typeUrl: TYPE_URLS[kind],
      resourceNames: FULL_STATE.has(kind) ? [] : [...this.#types[kind].names],
      ...extra,
    });
    stream.nodeSent = true;
    this.#types[kind].requested = true;
    stream.call.write(Buffer.from(T.encode(msg).finish()));
  }

  /** A new stream: every subscription again, with the version last accepted (nonces belong to the old stream). */
  #sendInitialRequests(stream: Stream): void {
    if (!this.#live(stream)) return;
    for (const kind of REQUEST_ORDER) {
      const t = this.#types[kind];
      t.nonce = "";
      t.requested = false;
      if (FULL_STATE.has(kind) || t.names.length > 0) this.#send(stream, kind, { versionInfo: t.version, responseNonce: "" });
    }
  }

  /** After a commit: subscribe to the names the configuration now refers to, if they changed. */
  #updateSubscriptions(stream: Stream): void {
    for (const kind of REFERENCED_KINDS) {
      const t = this.#types[kind];
      const names = this.#refs[kind];
      if (sameList(names, t.names)) continue;
      t.names = names;
      // An empty list is sent only to drop names asked for on this stream.
      if (names.length > 0 || t.requested) this.#send(stream, kind, { versionInfo: t.version, responseNonce: t.nonce });
    }
  }

  // ---- responses ------------------------------------------------------------------------

  async #onResponse(stream: Stream, buf: Buffer): Promise<void> {
    if (!this.#live(stream)) return;
    let res: DecodedResponse;
    try {
      res = decodeResponse(buf);
    } catch (e) {
      // Without a type and nonce there is nothing to NACK; the next response will do.
      this.#log.error({ err: (e as Error).message }, "malformed DiscoveryResponse ignored");
      return;
    }
    this.#counters.responses++;
    this.#attempt = 0; // the control plane answers: the next loss starts from the shortest delay
    const kind = KIND_BY_URL.get(res.typeUrl);
    if (!kind) {
      this.#log.warn({ typeUrl: res.typeUrl }, "response for a type the proxy did not subscribe to");
      return;
    }
    const t = this.#types[kind];
    t.nonce = res.nonce;
    let next: Candidate;
    try {
      next = this.#candidate(kind, res);
      // The first response of a type is always handed over, even when empty: it tells the proxy the type arrived.
      if (next.changed || !t.accepted) {
        this.#counters.applies++;
        await this.#opts.apply(next.state, kind);
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.#counters.nacks++;
      this.#log.warn({ type: XDS_NAME[kind], version: res.versionInfo, keeps: t.version || undefined, err: message }, "configuration rejected (NACK)");
      this.#send(stream, kind, { versionInfo: t.version, responseNonce: res.nonce, errorDetail: { code: INVALID_ARGUMENT, message } });
      return;
    }
    this.#held = next.held;
    this.#refs = next.refs;
    this.#state = next.state;
    t.version = res.versionInfo;
    t.accepted = true;
    this.#counters.acks++;
    this.#log.debug({ type: XDS_NAME[kind], version: res.versionInfo, resources: res.resources.length }, "configuration accepted (ACK)");
    this.#send(stream, kind, { versionInfo: res.versionInfo, responseNonce: res.nonce });
    this.#updateSubscriptions(stream);
  }

  /**
   * The configuration as it would be with this response: the type replaced (LDS/CDS) or
   * updated (RDS/EDS/SDS), then route tables, load assignments and secrets nothing refers
   * to any more dropped. `changed` is false when every resource is what the proxy holds.
   */
  #candidate(kind: ResourceKind, res: DecodedResponse): Candidate {
    const before = this.#held[kind];
    const incoming = new Map<string, Held>();
    for (const [i, r] of res.resources.entries()) {
      if (r.typeUrl !== res.typeUrl) throw new XdsResponseInvalidError(XDS_NAME[kind], `holds a resource of type ${r.typeUrl}`);
      let name: string | undefined;
      try {
        name = nameOf(r.value);
      } catch (e) {
        throw new XdsResponseInvalidError(XDS_NAME[kind], `resource #${i} cannot be decoded: ${(e as Error).message}`);
      }
      if (!name) throw new XdsResponseInvalidError(XDS_NAME[kind], "a resource has no name");
      if (incoming.has(name)) throw new XdsResponseInvalidError(XDS_NAME[kind], `${name} appears twice`);
      const old = before.get(name);
      if (old && old.bytes.equals(r.value)) {
        incoming.set(name, old);
        continue;
      }
      let value: EnvoyResource;
      try {
        value = decodeResource(res.typeUrl, r.value);
      } catch (e) {
        throw new XdsResponseInvalidError(XDS_NAME[kind], `${name} cannot be decoded: ${(e as Error).message}`);
      }
      incoming.set(name, { bytes: Buffer.from(r.value), value });
    }
    const held: Record<ResourceKind, ReadonlyMap<string, Held>> = { ...this.#held };
    held[kind] = FULL_STATE.has(kind) ? incoming : new Map([...before, ...incoming]);

    const values = (k: ResourceKind) => (sameHeld(held[k], this.#held[k]) ? this.#state[SET_FIELD[k]] : new Map([...held[k]].map(([n, h]) => [n, h.value])));
    const listeners = values("listener");
    const clusters = values("cluster");
    const refs = listeners === this.#state.listeners && clusters === this.#state.clusters ? this.#refs : referencedNames({ listeners, clusters });
    for (const k of REFERENCED_KINDS) {
      const wanted = new Set(refs[k]);
      const m = held[k];
      if ([...m.keys()].some((n) => !wanted.has(n))) held[k] = new Map([...m].filter(([n]) => wanted.has(n)));
    }
    const versions = { ...this.#state.versions, [kind]: res.versionInfo };
    if (KINDS.every((k) => sameHeld(held[k], this.#held[k]))) return { changed: false, held: this.#held, state: { ...this.#state, versions }, refs: this.#refs };
    const state: XdsResourceSet = {
      listeners,
      clusters,
      routes: values("route"),
      endpoints: values("endpoint"),
      secrets: values("secret"),
      versions,
    };
    return { changed: true, held, state, refs };
  }
}

function sameHeld(a: ReadonlyMap<string, Held>, b: ReadonlyMap<string, Held>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [n, h] of a) if (b.get(n) !== h) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The resource's name without decoding it: field 1 is the name in every type served
 * (Listener.name, RouteConfiguration.name, Cluster.name, ClusterLoadAssignment.cluster_name,
 * Secret.name), so an unchanged resource is recognised by its bytes alone.
 */
function nameOf(bytes: Uint8Array): string | undefined {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) return r.string() || undefined;
    r.skipType(tag & 7);
  }
  return undefined;
}

type DecodedAny = { typeUrl?: string; type_url?: string; value?: Uint8Array };

function decodeResponse(buf: Buffer): DecodedResponse {
  const m = envoyRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse").decode(buf) as unknown as {
    versionInfo?: string;
    typeUrl?: string;
    nonce?: string;
    resources?: DecodedAny[];
  };
  return {
    versionInfo: m.versionInfo ?? "",
    typeUrl: m.typeUrl ?? "",
    nonce: m.nonce ?? "",
    // protobufjs' built-in google.protobuf.Any keeps the proto field name `type_url`.
    resources: (m.resources ?? []).map((a) => ({ typeUrl: a.typeUrl ?? a.type_url ?? "", value: a.value ?? new Uint8Array() })),
  };
}
