// A small ADS client for tests: opens a real gRPC stream to the ADS server (SotW or
// Delta), sends requests built with the Envoy protos and decodes every response,
// including each resource's name, so tests can assert on what a proxy would receive.

import * as grpc from "@grpc/grpc-js";
import { decodeResource, envoyRoot } from "../../src/xds/envoy-protos.js";

export interface ReceivedResource {
  name: string;
  typeUrl: string;
  /** Delta only: the per-resource version. */
  version?: string;
  value: Uint8Array;
}

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: ReceivedResource[];
  controlPlane?: string;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: ReceivedResource[];
  removedResources: string[];
}

export interface SotwRequestInit {
  typeUrl: string;
  resourceNames?: string[];
  versionInfo?: string;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
  node?: boolean;
}

export interface DeltaRequestInit {
  typeUrl: string;
  subscribe?: string[];
  unsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
  node?: boolean;
}

const SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

// protobufjs' built-in google.protobuf.Any keeps the proto field name `type_url`.
type DecodedAny = { typeUrl?: string; type_url?: string; value: Uint8Array };
const anyUrl = (a: DecodedAny) => a.typeUrl ?? a.type_url ?? "";

function resourceName(typeUrl: string, bytes: Uint8Array): string {
  const o = decodeResource(typeUrl, bytes) as { name?: string; clusterName?: string };
  return o.name ?? o.clusterName ?? "";
}

class ResponseQueue<T> {
  private readonly items: T[] = [];
  private waiters: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  next(timeoutMs: number, what: string): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (x: T) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(done);
    });
  }
  get size(): number {
    return this.items.length;
  }
  drain(): T[] {
    return this.items.splice(0);
  }
}

abstract class AdsTestStream<Req, Res> {
  readonly closed: Promise<grpc.StatusObject>;
  protected readonly responses = new ResponseQueue<Res>();
  protected readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private sentNode = false;

  constructor(
    protected readonly client: grpc.Client,
    readonly nodeId: string,
    method: string,
    decode: (b: Buffer) => Res,
  ) {
    this.call = client.makeBidiStreamRequest(`${SERVICE}/${method}`, (b: Buffer) => b, (b: Buffer) => b);
    this.call.on("data", (b: Buffer) => this.responses.push(decode(b)));
    this.closed = new Promise((resolve) => {
      this.call.on("status", (s: grpc.StatusObject) => resolve(s));
      this.call.on("error", () => {});
    });
  }

  protected nodeField(node: boolean | undefined): { node?: { id: string; cluster: string } } {
    const send = node ?? !this.sentNode;
    this.sentNode = true;
    return send ? { node: { id: this.nodeId, cluster: "test" } } : {};
  }

  abstract send(req: Req): void;

  next(timeoutMs = 3000): Promise<Res> {
    return this.responses.next(timeoutMs, `response for ${this.nodeId}`);
  }

  /** Resolves with every response that arrives within `ms` (tests that nothing is sent). */
  async collect(ms: number): Promise<Res[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.responses.drain();
  }

  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

export class SotwClient extends AdsTestStream<SotwRequestInit, SotwResponse> {
  private static readonly req = () => envoyRoot().lookupType("envoy.service.discovery.v3.DiscoveryRequest");
  private static readonly res = () => envoyRoot().lookupType("envoy.service.discovery.v3.DiscoveryResponse");

  constructor(client: grpc.Client, nodeId: string) {
    super(client, nodeId, "StreamAggregatedResources", (b) => {
      const m = SotwClient.res().decode(b) as unknown as {
        versionInfo: string;
        typeUrl: string;
        nonce: string;
        resources: DecodedAny[];
        controlPlane?: { identifier: string };
      };
      return {
        versionInfo: m.versionInfo,
        typeUrl: m.typeUrl,
        nonce: m.nonce,
        resources: m.resources.map((a) => ({ name: resourceName(anyUrl(a), a.value), typeUrl: anyUrl(a), value: a.value })),
        ...(m.controlPlane ? { controlPlane: m.controlPlane.identifier } : {}),
      };
    });
  }

  /** The names last requested per type: an ACK repeats them, as Envoy does. */
  private readonly subscribed = new Map<string, string[]>();

  send(r: SotwRequestInit): void {
    const T = SotwClient.req();
    if (r.resourceNames) this.subscribed.set(r.typeUrl, r.resourceNames);
    const msg = T.fromObject({
      ...this.nodeField(r.node),
      typeUrl: r.typeUrl,
      resourceNames: r.resourceNames ?? this.subscribed.get(r.typeUrl) ?? [],
      versionInfo: r.versionInfo ?? "",
      responseNonce: r.responseNonce ?? "",
      ...(r.errorDetail ? { errorDetail: r.errorDetail } : {}),
    });
    this.call.write(Buffer.from(T.encode(msg).finish()));
  }

  /** ACKs a response (same names as before unless given). */
  ack(res: SotwResponse, resourceNames?: string[]): void {
    this.send({ typeUrl: res.typeUrl, versionInfo: res.versionInfo, responseNonce: res.nonce, ...(resourceNames ? { resourceNames } : {}) });
  }
}

export class DeltaClient extends AdsTestStream<DeltaRequestInit, DeltaResponse> {
  private static readonly req = () => envoyRoot().lookupType("envoy.service.discovery.v3.DeltaDiscoveryRequest");
  private static readonly res = () => envoyRoot().lookupType("envoy.service.discovery.v3.DeltaDiscoveryResponse");

  constructor(client: grpc.Client, nodeId: string) {
    super(client, nodeId, "DeltaAggregatedResources", (b) => {
      const m = DeltaClient.res().decode(b) as unknown as {
        systemVersionInfo: string;
        typeUrl: string;
        nonce: string;
        resources: { name: string; version: string; resource: DecodedAny }[];
        removedResources: string[];
      };
      return {
        systemVersionInfo: m.systemVersionInfo,
        typeUrl: m.typeUrl,
        nonce: m.nonce,
        resources: m.resources.map((r) => ({ name: r.name, version: r.version, typeUrl: anyUrl(r.resource), value: r.resource.value })),
        removedResources: m.removedResources,
      };
    });
  }

  send(r: DeltaRequestInit): void {
    const T = DeltaClient.req();
    const msg = T.fromObject({
      ...this.nodeField(r.node),
      typeUrl: r.typeUrl,
      resourceNamesSubscribe: r.subscribe ?? [],
      resourceNamesUnsubscribe: r.unsubscribe ?? [],
      initialResourceVersions: r.initialResourceVersions ?? {},
      responseNonce: r.responseNonce ?? "",
      ...(r.errorDetail ? { errorDetail: r.errorDetail } : {}),
    });
    this.call.write(Buffer.from(T.encode(msg).finish()));
  }

  ack(res: DeltaResponse): void {
    this.send({ typeUrl: res.typeUrl, responseNonce: res.nonce });
  }
}

/** One gRPC channel (HTTP/2 connection) to the server; open several streams on it. */
export function adsChannel(port: number, creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, creds, { "grpc.max_receive_message_length": 64 * 1024 * 1024, ...options });
}

export const names = (r: { resources: ReceivedResource[] }) => r.resources.map((x) => x.name).sort();
