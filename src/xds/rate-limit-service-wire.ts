// The Rate Limit Service protocol (envoy.service.ratelimit.v3.RateLimitService), shared by
// the proxy's ratelimit filter (client) and meshgate's rate limit service (server), so both
// speak exactly what Envoy and envoyproxy/ratelimit speak.

import type * as grpc from "@grpc/grpc-js";
import type protobuf from "protobufjs";
import { envoyRoot } from "./envoy-protos.js";

export interface RlsDescriptorEntry {
  readonly key: string;
  readonly value: string;
}

export interface RlsRequest {
  readonly domain: string;
  readonly descriptors: readonly { readonly entries: readonly RlsDescriptorEntry[] }[];
  /** 0 means 1 (the protocol's default). */
  readonly hitsAddend: number;
}

export type RlsCode = "UNKNOWN" | "OK" | "OVER_LIMIT";
export type RlsUnit = "UNKNOWN" | "SECOND" | "MINUTE" | "HOUR" | "DAY" | "MONTH" | "YEAR";

export interface RlsDescriptorStatus {
  readonly code: RlsCode;
  readonly currentLimit?: { readonly requestsPerUnit: number; readonly unit: RlsUnit; readonly name?: string };
  readonly limitRemaining: number;
  /** Milliseconds until the window resets. */
  readonly durationUntilResetMs?: number;
}

export interface RlsResponse {
  readonly overallCode: RlsCode;
  readonly statuses: readonly RlsDescriptorStatus[];
  readonly responseHeadersToAdd?: readonly { readonly key: string; readonly value: string }[];
  readonly requestHeadersToAdd?: readonly { readonly key: string; readonly value: string }[];
}

export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const SHOULD_RATE_LIMIT_PATH = `/${RLS_SERVICE}/ShouldRateLimit`;

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;
function rlsTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (types) return types;
  const root = envoyRoot();
  types = { request: root.lookupType("envoy.service.ratelimit.v3.RateLimitRequest"), response: root.lookupType("envoy.service.ratelimit.v3.RateLimitResponse") };
  return types;
}

/** Loads the protos now rather than on the first call (it takes a few hundred ms). */
export function loadRlsTypes(): void {
  rlsTypes();
}

export function encodeRlsRequest(r: RlsRequest): Buffer {
  const t = rlsTypes().request;
  return Buffer.from(t.encode(t.fromObject({ domain: r.domain, descriptors: r.descriptors.map((d) => ({ entries: d.entries })), hitsAddend: r.hitsAddend })).finish());
}

interface Obj {
  [k: string]: unknown;
}
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export function decodeRlsRequest(buf: Uint8Array): RlsRequest {
  const t = rlsTypes().request;
  const o = t.toObject(t.decode(buf), { enums: String, longs: Number, defaults: false }) as Obj;
  return {
    domain: str(o.domain),
    descriptors: arr(o.descriptors).map((d) => ({ entries: arr(d.entries).map((e) => ({ key: str(e.key), value: str(e.value) })) })),
    hitsAddend: num(o.hitsAddend),
  };
}

function durationMs(d: RlsDescriptorStatus["durationUntilResetMs"]): Obj | undefined {
  if (d === undefined) return undefined;
  const seconds = Math.floor(d / 1000);
  return { seconds, nanos: Math.round((d - seconds * 1000) * 1e6) };
}

export function encodeRlsResponse(r: RlsResponse): Buffer {
  const t = rlsTypes().response;
  const value = {
    overallCode: r.overallCode,
    statuses: r.statuses.map((s) => ({
      code: s.code,
      ...(s.currentLimit ? { currentLimit: s.currentLimit } : {}),
      limitRemaining: s.limitRemaining,
      ...(s.durationUntilResetMs !== undefined ? { durationUntilReset: durationMs(s.durationUntilResetMs) } : {}),
    })),
    ...(r.responseHeadersToAdd ? { responseHeadersToAdd: r.responseHeadersToAdd } : {}),
    ...(r.requestHeadersToAdd ? { requestHeadersToAdd: r.requestHeadersToAdd } : {}),
  };
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

export function decodeRlsResponse(buf: Uint8Array): RlsResponse {
  const t = rlsTypes().response;
  const o = t.toObject(t.decode(buf), { enums: String, longs: Number, defaults: false }) as Obj;
  const headers = (v: unknown) => arr(v).map((h) => ({ key: str(h.key), value: str(h.value) }));
  return {
    overallCode: (str(o.overallCode) || "UNKNOWN") as RlsCode,
    statuses: arr(o.statuses).map((s) => {
      const limit = s.currentLimit as Obj | undefined;
      const reset = s.durationUntilReset as Obj | undefined;
      return {
        code: (str(s.code) || "UNKNOWN") as RlsCode,
        ...(limit ? { currentLimit: { requestsPerUnit: num(limit.requestsPerUnit), unit: (str(limit.unit) || "UNKNOWN") as RlsUnit, ...(limit.name ? { name: str(limit.name) } : {}) } } : {}),
        limitRemaining: num(s.limitRemaining),
        ...(reset ? { durationUntilResetMs: num(reset.seconds) * 1000 + Math.round(num(reset.nanos) / 1e6) } : {}),
      };
    }),
    ...(o.responseHeadersToAdd ? { responseHeadersToAdd: headers(o.responseHeadersToAdd) } : {}),
    ...(o.requestHeadersToAdd ? { requestHeadersToAdd: headers(o.requestHeadersToAdd) } : {}),
  };
}

/** The service as grpc-js wants it: messages cross as raw bytes, coded by the functions above. */
export function rlsServiceDefinition(): grpc.ServiceDefinition {
  const raw = (b: Buffer) => b;
  return {
    ShouldRateLimit: {
      path: SHOULD_RATE_LIMIT_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
      originalName: "shouldRateLimit",
    },
  };
}
