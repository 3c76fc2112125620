// IrListener -> envoy.config.listener.v3.Listener.
//
// Socket listeners: one filter chain per IR chain, matched on transport (tls /
// raw_buffer, so PERMISSIVE mTLS serves both on one port) and SNI; the TLS inspector
// runs whenever a chain matches on either. API listeners (proxyless gRPC) carry only the
// HTTP connection manager.

import type { IrDownstreamTls, IrFilterChain, IrListener, IrSanMatch } from "../../ir/index.js";
import { ANY_TYPES, FILTER_NAMES, sdsSecretConfig, wrap, type Json } from "./common.js";
import { httpConnectionManager } from "./http-connection-manager.js";

export interface ListenerOptions {
  /** Routes of the route table behind this HCM (by table name) carry local rate limits. */
  readonly routesHaveLocalRateLimits: (routeTable: string) => boolean;
}

const DIRECTION = { gateway: undefined, inbound: "INBOUND", outbound: "OUTBOUND" } as const;

export function listenerResource(l: IrListener, options: ListenerOptions): Json {
  if (l.kind === "api") {
    return {
      name: l.name,
      apiListener: { apiListener: httpConnectionManager(l.http, { api: true, routesHaveLocalRateLimits: options.routesHaveLocalRateLimits(l.http.routeTable) }) },
    };
  }
  const out: Json = {
    name: l.name,
    address: { socketAddress: { address: l.address, portValue: l.port } },
    filterChains: l.filterChains.map((c) => filterChain(c, options)),
  };
  const direction = DIRECTION[l.direction];
  if (direction) out.trafficDirection = direction;
  if (l.filterChains.some((c) => c.transport === "tls" || c.serverNames.length > 0)) {
    out.listenerFilters = [{ name: FILTER_NAMES.tlsInspector, typedConfig: { "@type": ANY_TYPES.tlsInspector } }];
  }
  return out;
}

function filterChain(c: IrFilterChain, options: ListenerOptions): Json {
  const match: Json = { transportProtocol: c.transport === "tls" ? "tls" : "raw_buffer" };
  if (c.serverNames.length > 0) match.serverNames = [...c.serverNames];
  const out: Json = {
    name: c.name,
    filterChainMatch: match,
    filters: [
      {
        name: FILTER_NAMES.hcm,
        typedConfig: httpConnectionManager(c.http, { api: false, routesHaveLocalRateLimits: options.routesHaveLocalRateLimits(c.http.routeTable) }),
      },
    ],
  };
  if (c.tls) out.transportSocket = { name: FILTER_NAMES.tlsTransport, typedConfig: downstreamTlsContext(c.tls) };
  return out;
}

function downstreamTlsContext(t: IrDownstreamTls): Json {
  const common: Json = {
    tlsCertificateSdsSecretConfigs: t.certificates.map(sdsSecretConfig),
    tlsParams: { tlsMinimumProtocolVersion: t.minVersion === "1.3" ? "TLSv1_3" : "TLSv1_2" },
  };
  if (t.alpn.length > 0) common.alpnProtocols = [...t.alpn];
  if (t.clientValidation) Object.assign(common, validationContext(t.clientValidation.secret, t.clientValidation.subjectAltNames));
  return { "@type": ANY_TYPES.downstreamTls, commonTlsContext: common, requireClientCertificate: wrap(t.requireClientCertificate) };
}

/** The CA bundle over SDS, plus (when given) the SANs the peer's certificate must carry. */
export function validationContext(secret: string, sans: readonly IrSanMatch[]): Json {
  if (sans.length === 0) return { validationContextSdsSecretConfig: sdsSecretConfig(secret) };
  return {
    combinedValidationContext: {
      defaultValidationContext: { matchTypedSubjectAltNames: sans.map((s) => ({ sanType: s.type, matcher: { exact: s.value } })) },
      validationContextSdsSecretConfig: sdsSecretConfig(secret),
    },
  };
}
