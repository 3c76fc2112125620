// envoy.filters.network.http_connection_manager -> what the connection manager needs per
// request, compiled once per received config: the route table's name, how paths are
// normalised, the HTTP filters, and the request-id / client-certificate header policy.
// Fields the proxy cannot honour are refused here, so the listener is NACKed rather
// than served differently from what the control plane asked for.

import { MeshgateError, ProxyHcmUnsupportedError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { EnvoyResource, HttpFilter } from "./contracts.js";
import { compileHttpFilters, type RateLimitServiceResolver } from "./filters/index.js";

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export type EscapedSlashes = "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD";

export interface CompiledHcm {
  readonly routeConfigName: string;
  readonly pathOptions: { readonly mergeSlashes: boolean; readonly escapedSlashes: EscapedSlashes };
  readonly filters: readonly HttpFilter[];
  readonly generateRequestId: boolean;
  /**
   * x-forwarded-client-cert: always removed from what the client sent (Envoy's SANITIZE);
   * with SANITIZE_SET, set from the verified client certificate instead (see
   * connection-manager.ts `clientCertHeader`), with its URI SANs when `uri`.
   */
  readonly forwardClientCert: { readonly set: boolean; readonly uri: boolean };
}

// Fields the listeners read (timeouts, limits) or that change nothing for this proxy.
const KNOWN = new Set([
  "@type",
  "statPrefix",
  "codecType",
  "rds",
  "httpFilters",
  "normalizePath",
  "mergeSlashes",
  "pathWithEscapedSlashesAction",
  "forwardClientCertDetails",
  "setCurrentClientCertDetails",
  "requestTimeout",
  "requestHeadersTimeout",
  "commonHttpProtocolOptions",
  "maxRequestHeadersKb",
  "generateRequestId",
  "useRemoteAddress",
  "streamIdleTimeout",
  "http2ProtocolOptions",
  "upgradeConfigs",
]);

export function compileHttpConnectionManager(hcm: EnvoyResource, where: string, deps: { logger: Logger; rateLimitService?: RateLimitServiceResolver }): CompiledHcm {
  if (hcm["@type"] !== HCM_TYPE) throw new ProxyHcmUnsupportedError(where, "@type", `${String(hcm["@type"])} is not a network filter meshgate's proxy runs`);
  for (const k of Object.keys(hcm)) if (!KNOWN.has(k)) throw new ProxyHcmUnsupportedError(where, k, "not supported by meshgate's proxy");
  const rds = hcm.rds as { routeConfigName?: string } | undefined;
  if (!rds?.routeConfigName) throw new ProxyHcmUnsupportedError(where, "rds.routeConfigName", "routes must come over RDS");
  if (hcm.codecType !== undefined && hcm.codecType !== "AUTO" && hcm.codecType !== "HTTP1" && hcm.codecType !== "HTTP2") throw new ProxyHcmUnsupportedError(where, "codecType", `${String(hcm.codecType)} is not supported`);
  // Normalisation cannot be turned off: routing and authorization must see one canonical path.
  const normalize = (hcm.normalizePath as { value?: boolean } | undefined)?.value;
  if (normalize === false) throw new ProxyHcmUnsupportedError(where, "normalizePath", "path normalisation is always on in meshgate's proxy");
  const escaped = (hcm.pathWithEscapedSlashesAction as EscapedSlashes | "IMPLEMENTATION_SPECIFIC_DEFAULT" | undefined) ?? "KEEP_UNCHANGED";
  const fcc = hcm.forwardClientCertDetails as string | undefined;
  if (fcc !== undefined && fcc !== "SANITIZE" && fcc !== "SANITIZE_SET") throw new ProxyHcmUnsupportedError(where, "forwardClientCertDetails", `${fcc} is not supported (SANITIZE or SANITIZE_SET)`);
  const details = (hcm.setCurrentClientCertDetails ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(details)) {
    // Only the URI SANs are forwarded; a detail asked for but not written would mislead the application.
    if (k !== "uri" && v !== false && v !== undefined && !(typeof v === "object" && v !== null && (v as { value?: unknown }).value === false)) {
      throw new ProxyHcmUnsupportedError(where, `setCurrentClientCertDetails.${k}`, "not supported (only uri is)");
    }
  }
  let filters: HttpFilter[];
  try {
    filters = compileHttpFilters((hcm.httpFilters as EnvoyResource[] | undefined) ?? [], { logger: deps.logger, ...(deps.rateLimitService ? { rateLimitService: deps.rateLimitService } : {}) });
  } catch (e) {
    if (e instanceof MeshgateError) throw new ProxyHcmUnsupportedError(where, "httpFilters", e.message);
    throw e;
  }
  return {
    routeConfigName: rds.routeConfigName,
    pathOptions: { mergeSlashes: hcm.mergeSlashes === true, escapedSlashes: escaped === "IMPLEMENTATION_SPECIFIC_DEFAULT" ? "KEEP_UNCHANGED" : escaped },
    filters,
    generateRequestId: (hcm.generateRequestId as { value?: boolean } | undefined)?.value !== false,
    forwardClientCert: { set: fcc === "SANITIZE_SET", uri: fcc === "SANITIZE_SET" && details.uri === true },
  };
}
