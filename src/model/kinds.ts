// The kinds meshgate reads, each with the schema it is validated against. Standard kinds
// use the upstream CRD / OpenAPI schemas (via @kubernetes-models); only meshgate's own
// kinds have schemas written here (meshgate/schemas.ts).

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { GatewayClass } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass";
import { Gateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { GRPCRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute";
import { ReferenceGrant } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant";
import { ReferenceGrant as ReferenceGrantV1beta1 } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant";
import { BackendTLSPolicy } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/BackendTLSPolicy";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { Secret } from "kubernetes-models/v1/Secret";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { EndpointSlice } from "kubernetes-models/discovery.k8s.io/v1/EndpointSlice";
import { PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication";
import { RequestAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/RequestAuthentication";
import { AuthorizationPolicy } from "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy";
import { BackendTrafficPolicy } from "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy";
import { MeshSpec, resourceSchema, TokenExchangeSpec, WorkloadSpec } from "./meshgate/schemas.js";

export type KindName =
  | "GatewayClass"
  | "Gateway"
  | "HTTPRoute"
  | "GRPCRoute"
  | "ReferenceGrant"
  | "BackendTLSPolicy"
  | "Namespace"
  | "Service"
  | "Secret"
  | "ConfigMap"
  | "EndpointSlice"
  | "PeerAuthentication"
  | "RequestAuthentication"
  | "AuthorizationPolicy"
  | "BackendTrafficPolicy"
  | "Mesh"
  | "Workload"
  | "TokenExchange";

export interface KindDefinition {
  readonly apiVersion: string;
  readonly kind: KindName;
  readonly group: string;
  readonly namespaced: boolean;
  /** Schema violations as ajv reports them; empty when valid. */
  validate(object: Record<string, unknown>): Partial<ErrorObject>[];
}

type ModelClass = new (data: Record<string, unknown>) => { validate(): void };

function upstream(apiVersion: string, kind: KindName, namespaced: boolean, Model: unknown): KindDefinition {
  return {
    apiVersion,
    kind,
    group: groupOf(apiVersion),
    namespaced,
    validate(object) {
      try {
        new (Model as ModelClass)(object).validate();
        return [];
      } catch (e) {
        const errors = (e as { errors?: Partial<ErrorObject>[] }).errors;
        return errors && errors.length > 0 ? errors : [{ instancePath: "", message: (e as Error).message }];
      }
    },
  };
}

const ajv = new Ajv({ allErrors: true, strict: false });

function own(kind: KindName, namespaced: boolean, spec: Parameters<typeof resourceSchema>[1]): KindDefinition {
  let compiled: ValidateFunction | undefined; // compiled on first use: most configs have few of our kinds
  return {
    apiVersion: "meshgate.dev/v1alpha1",
    kind,
    group: "meshgate.dev",
    namespaced,
    validate(object) {
      compiled ??= ajv.compile(resourceSchema(kind, spec));
      return compiled(object) ? [] : [...(compiled.errors ?? [])];
    },
  };
}

export function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

const GW = "gateway.networking.k8s.io";

export const KINDS: readonly KindDefinition[] = [
  upstream(`${GW}/v1`, "GatewayClass", false, GatewayClass),
  upstream(`${GW}/v1`, "Gateway", true, Gateway),
  upstream(`${GW}/v1`, "HTTPRoute", true, HTTPRoute),
  upstream(`${GW}/v1`, "GRPCRoute", true, GRPCRoute),
  upstream(`${GW}/v1`, "ReferenceGrant", true, ReferenceGrant),
  upstream(`${GW}/v1beta1`, "ReferenceGrant", true, ReferenceGrantV1beta1),
  upstream(`${GW}/v1`, "BackendTLSPolicy", true, BackendTLSPolicy),
  upstream("v1", "Namespace", false, Namespace),
  upstream("v1", "Service", true, Service),
  upstream("v1", "Secret", true, Secret),
  upstream("v1", "ConfigMap", true, ConfigMap),
  upstream("discovery.k8s.io/v1", "EndpointSlice", true, EndpointSlice),
  upstream("security.istio.io/v1", "PeerAuthentication", true, PeerAuthentication),
  upstream("security.istio.io/v1", "RequestAuthentication", true, RequestAuthentication),
  upstream("security.istio.io/v1", "AuthorizationPolicy", true, AuthorizationPolicy),
  upstream("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy", true, BackendTrafficPolicy),
  own("Mesh", false, MeshSpec),
  own("Workload", true, WorkloadSpec),
  own("TokenExchange", true, TokenExchangeSpec),
];

const BY_TYPE = new Map(KINDS.map((k) => [`${k.apiVersion}|${k.kind}`, k]));

export function findKind(apiVersion: string, kind: string): KindDefinition | undefined {
  return BY_TYPE.get(`${apiVersion}|${kind}`);
}

/** `gateway.networking.k8s.io/v1 (GatewayClass, Gateway, ...); v1 (Namespace, ...)`, for "unknown kind" messages. */
export function supportedKindsList(): string {
  const byVersion = new Map<string, string[]>();
  for (const k of KINDS) byVersion.set(k.apiVersion, [...(byVersion.get(k.apiVersion) ?? []), k.kind]);
  return [...byVersion].map(([v, kinds]) => `${v} (${kinds.join(", ")})`).join("; ");
}
