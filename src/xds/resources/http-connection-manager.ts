// IrHttpConnectionManager -> envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.
// Routes always come over RDS (shared route tables are encoded once, not inlined into
// every listener).

import type { IrHttpConnectionManager } from "../../ir/index.js";
import { ADS_CONFIG_SOURCE, ANY_TYPES, duration, wrap, type Json } from "./common.js";
import { httpFilters } from "./http-filters.js";

export interface HcmOptions {
  readonly api: boolean;
  readonly routesHaveLocalRateLimits: boolean;
}

const ESCAPED_SLASHES = {
  KeepUnchanged: "KEEP_UNCHANGED",
  RejectRequest: "REJECT_REQUEST",
  UnescapeAndRedirect: "UNESCAPE_AND_REDIRECT",
  UnescapeAndForward: "UNESCAPE_AND_FORWARD",
} as const;

/** The HCM as an Any (what a network filter or an API listener carries). */
export function httpConnectionManager(h: IrHttpConnectionManager, options: HcmOptions): Json {
  const hcm: Json = {
    "@type": ANY_TYPES.hcm,
    statPrefix: h.statPrefix,
    codecType: "AUTO",
    rds: { routeConfigName: h.routeTable, configSource: ADS_CONFIG_SOURCE },
    httpFilters: httpFilters(h.filters, { routesHaveLocalRateLimits: options.routesHaveLocalRateLimits, optionalExceptRouter: options.api }),
    normalizePath: wrap(h.normalizePath),
    mergeSlashes: h.mergeSlashes,
    pathWithEscapedSlashesAction: ESCAPED_SLASHES[h.escapedSlashes],
  };
  if (h.forwardClientCert) {
    // Replace whatever the client sent with the identity this proxy verified.
    hcm.forwardClientCertDetails = "SANITIZE_SET";
    hcm.setCurrentClientCertDetails = { uri: true };
  }
  if (h.requestTimeoutMs !== undefined) hcm.requestTimeout = duration(h.requestTimeoutMs);
  // gRPC clients read commonHttpProtocolOptions.idleTimeout as a default call deadline,
  // not as a connection idle timeout: API listeners leave it out.
  if (h.idleTimeoutMs !== undefined && !options.api) hcm.commonHttpProtocolOptions = { idleTimeout: duration(h.idleTimeoutMs) };
  // Upgrades concern proxies that terminate client connections; proxyless gRPC has none.
  if (h.upgradeTypes !== undefined && h.upgradeTypes.length > 0 && !options.api) hcm.upgradeConfigs = h.upgradeTypes.map((upgradeType) => ({ upgradeType }));
  return hcm;
}
