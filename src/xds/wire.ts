// The ADS messages on the wire. Requests are decoded with the Envoy protos; responses are
// written by hand around the resources' pre-encoded bytes, because a response to 5,000
// proxies must not decode and re-encode the same cluster 5,000 times. Each resource's
// Any (and its Delta `Resource` wrapper) is encoded once and cached on the immutable
// EncodedResource it came from.

import protobuf from "protobufjs";
import { envoyRoot } from "./envoy-protos.js";
import type { EncodedResource } from "./snapshot.js";

/** The fields of a DiscoveryRequest the server reads. */
export interface SotwRequest {
  readonly node?: { readonly id: string };
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail?: { readonly code: number; readonly message: string };
}

/** The fields of a DeltaDiscoveryRequest the server reads. */
export interface DeltaRequest {
  readonly node?: { readonly id: string };
  readonly typeUrl: string;
  readonly resourceNamesSubscribe: readonly string[];
  readonly resourceNamesUnsubscribe: readonly string[];
  readonly initialResourceVersions: Readonly<Record<string, string>>;
  readonly responseNonce: string;
  readonly errorDetail?: { readonly code: number; readonly message: string };
}

let types: { sotwRequest: protobuf.Type; deltaRequest: protobuf.Type } | undefined;

function requestTypes(): { sotwRequest: protobuf.Type; deltaRequest: protobuf.Type } {
  if (types) return types;
  const root = envoyRoot();
  types = {
    sotwRequest: root.lookupType("envoy.service.discovery.v3.DiscoveryRequest"),
    deltaRequest: root.lookupType("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
  };
  return types;
}

/** Loads the protos now rather than on the first request (it takes a few hundred ms). */
export function loadWireTypes(): void {
  requestTypes();
}

// protobufjs messages carry every field with its default; these read them into plain,
// fully populated objects so the server never meets `undefined` for a repeated field.
interface DecodedStatus {
  code?: number;
  message?: string;
}
function status(s: DecodedStatus | null | undefined): { code: number; message: string } | undefined {
  return s ? { code: s.code ?? 0, message: s.message ?? "" } : undefined;
}
function node(n: { id?: string } | null | undefined): { id: string } | undefined {
  return n ? { id: n.id ?? "" } : undefined;
}

export function decodeSotwRequest(buf: Buffer): SotwRequest {
  const m = requestTypes().sotwRequest.decode(buf) as unknown as {
    node?: { id?: string } | null;
    versionInfo?: string;
    resourceNames?: string[];
    typeUrl?: string;
    responseNonce?: string;
    errorDetail?: DecodedStatus | null;
  };
  const n = node(m.node);
  const e = status(m.errorDetail);
  return {
    ...(n ? { node: n } : {}),
    versionInfo: m.versionInfo ?? "",
    resourceNames: m.resourceNames ?? [],
    typeUrl: m.typeUrl ?? "",
    responseNonce: m.responseNonce ?? "",
    ...(e ? { errorDetail: e } : {}),
  };
}

export function decodeDeltaRequest(buf: Buffer): DeltaRequest {
  const m = requestTypes().deltaRequest.decode(buf) as unknown as {
    node?: { id?: string } | null;
    typeUrl?: string;
    resourceNamesSubscribe?: string[];
    resourceNamesUnsubscribe?: string[];
    initialResourceVersions?: Record<string, string>;
    responseNonce?: string;
    errorDetail?: DecodedStatus | null;
  };
  const n = node(m.node);
  const e = status(m.errorDetail);
  return {
    ...(n ? { node: n } : {}),
    typeUrl: m.typeUrl ?? "",
    resourceNamesSubscribe: m.resourceNamesSubscribe ?? [],
    resourceNamesUnsubscribe: m.resourceNamesUnsubscribe ?? [],
    initialResourceVersions: m.initialResourceVersions ?? {},
    responseNonce: m.responseNonce ?? "",
    ...(e ? { errorDetail: e } : {}),
  };
}

// Field numbers from envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto.
const LEN = 2; // wire type: length-delimited
const tag = (field: number) => (field << 3) | LEN;

const anyCache = new WeakMap<EncodedResource, Uint8Array>();
const deltaCache = new WeakMap<EncodedResource, Uint8Array>();

/** google.protobuf.Any { type_url = 1; value = 2 } around the resource's bytes. */
export function anyBytes(r: EncodedResource): Uint8Array {
  let b = anyCache.get(r);
  if (!b) {
    b = protobuf.Writer.create().uint32(tag(1)).string(r.typeUrl).uint32(tag(2)).bytes(r.value).finish();
    anyCache.set(r, b);
  }
  return b;
}

/** envoy.service.discovery.v3.Resource { version = 1; resource = 2; name = 3 }. */
function deltaResourceBytes(r: EncodedResource): Uint8Array {
  let b = deltaCache.get(r);
  if (!b) {
    b = protobuf.Writer.create().uint32(tag(1)).string(r.version).uint32(tag(2)).bytes(anyBytes(r)).uint32(tag(3)).string(r.name).finish();
    deltaCache.set(r, b);
  }
  return b;
}

/** The control plane's identifier, sent in every response (ControlPlane { identifier = 1 }). */
export function controlPlaneBytes(identifier: string): Uint8Array {
  return protobuf.Writer.create().uint32(tag(1)).string(identifier).finish();
}

// A push sends the same resources to every proxy in turn, each with its own nonce: the
// part of the response that does not depend on the proxy is encoded once (the last one is
// kept) and only the nonce is appended per proxy. Field order does not matter in protobuf.
let lastSotw: { versionInfo: string; typeUrl: string; resources: readonly EncodedResource[]; body: Uint8Array } | undefined;
let lastDelta: { systemVersion: string; typeUrl: string; resources: readonly EncodedResource[]; removed: readonly string[]; body: Uint8Array } | undefined;

function same<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function withNonce(body: Uint8Array, nonce: string, controlPlaneField: number, controlPlane: Uint8Array): Buffer {
  const tail = protobuf.Writer.create().uint32(tag(5)).string(nonce);
  if (controlPlane.length) tail.uint32(tag(controlPlaneField)).bytes(controlPlane);
  return Buffer.concat([body, tail.finish()]);
}

/** DiscoveryResponse { version_info = 1; resources = 2; type_url = 4; nonce = 5; control_plane = 6 }. */
export function encodeSotwResponse(versionInfo: string, typeUrl: string, nonce: string, resources: readonly EncodedResource[], controlPlane: Uint8Array): Buffer {
  const hit = lastSotw;
  let body: Uint8Array;
  if (hit && hit.versionInfo === versionInfo && hit.typeUrl === typeUrl && same(hit.resources, resources)) body = hit.body;
  else {
    const w = protobuf.Writer.create();
    w.uint32(tag(1)).string(versionInfo);
    for (const r of resources) w.uint32(tag(2)).bytes(anyBytes(r));
    w.uint32(tag(4)).string(typeUrl);
    body = w.finish();
    lastSotw = { versionInfo, typeUrl, resources: [...resources], body };
  }
  return withNonce(body, nonce, 6, controlPlane);
}

/** DeltaDiscoveryResponse { system_version_info = 1; resources = 2; type_url = 4; nonce = 5; removed_resources = 6; control_plane = 7 }. */
export function encodeDeltaResponse(systemVersion: string, typeUrl: string, nonce: string, resources: readonly EncodedResource[], removed: readonly string[], controlPlane: Uint8Array): Buffer {
  const hit = lastDelta;
  let body: Uint8Array;
  if (hit && hit.systemVersion === systemVersion && hit.typeUrl === typeUrl && same(hit.resources, resources) && same(hit.removed, removed)) body = hit.body;
  else {
    const w = protobuf.Writer.create();
    w.uint32(tag(1)).string(systemVersion);
    for (const r of resources) w.uint32(tag(2)).bytes(deltaResourceBytes(r));
    w.uint32(tag(4)).string(typeUrl);
    for (const name of removed) w.uint32(tag(6)).string(name);
    body = w.finish();
    lastDelta = { systemVersion, typeUrl, resources: [...resources], removed: [...removed], body };
  }
  return withNonce(body, nonce, 7, controlPlane);
}
