// envoy.config.cluster.v3.Cluster -> a validated, normalised ClusterSpec. Everything the
// request path needs is decided here, once per configuration; anything the proxy cannot
// honour is refused with the field that asks for it.

import { parseLoadAssignment, type EndpointSpec } from "./endpoints.js";
import { ConfigPath, enumValue, int, isObj, list, object, optStr, optionalDurationMs, str, UPSTREAM_RESOURCE, wrappedInt, type Obj } from "../config-reader.js";
import { compileSanMatcher, type SanMatcher } from "./san-matcher.js";

export type LbKind = "round-robin" | "least-request" | "random";

export interface CircuitBreakerLimits {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface OutlierSpec {
  readonly consecutive5xx: number;
  readonly enforcing5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly enforcingGatewayFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
}

export interface HealthCheckSpec {
  readonly path: string;
  /** Host header; the cluster name when the resource gives none (as Envoy does). */
  readonly host: string;
  /** Half-open ranges [start, end). */
  readonly expectedStatuses: ReadonlyArray<readonly [number, number]>;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** Where a certificate or CA comes from: an SDS secret by name, or given inline. */
export type MaterialRef = { readonly sds: string } | { readonly inline: string };

export interface UpstreamTlsSpec {
  readonly sni?: string;
  readonly alpn: readonly string[];
  readonly clientCertificate?: { readonly sds: string } | { readonly chain: string; readonly key: string };
  /** Absent: the server's certificate is not verified (Envoy without a validation context). */
  readonly validation?: { readonly ca: MaterialRef; readonly sans: readonly SanMatcher[] };
}

export type Discovery = "eds" | "static" | "strict-dns" | "logical-dns";

export interface ClusterSpec {
  readonly name: string;
  readonly discovery: Discovery;
  /** The ClusterLoadAssignment name for EDS clusters. */
  readonly edsName: string;
  /** STATIC and DNS clusters: endpoints given in the cluster (addresses are names for DNS). */
  readonly inlineEndpoints: readonly EndpointSpec[];
  readonly connectTimeoutMs: number;
  readonly lb: LbKind;
  /** Candidates sampled by LEAST_REQUEST (power of `choiceCount` choices). */
  readonly choiceCount: number;
  readonly http2: boolean;
  /** Idle keep-alive connections are closed after this long. */
  readonly idleTimeoutMs: number;
  readonly limits: CircuitBreakerLimits;
  readonly outlier?: OutlierSpec;
  readonly healthCheck?: HealthCheckSpec;
  readonly tls?: UpstreamTlsSpec;
  readonly dnsRefreshMs: number;
  readonly dnsFamily: 0 | 4 | 6;
}

const TYPE_URL = {
  upstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  httpProtocolOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  roundRobin: "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  leastRequest: "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  random: "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random",
} as const;

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Envoy's defaults where a resource leaves a setting out. */
export const DEFAULTS = {
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 60 * 60_000,
  limits: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  dnsRefreshMs: 5_000,
  outlier: { consecutive5xx: 5, consecutiveGatewayFailure: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10 },
} as const;

const CLUSTER_FIELDS = [
  "name",
  "type",
  "edsClusterConfig",
  "loadAssignment",
  "connectTimeout",
  "lbPolicy",
  "loadBalancingPolicy",
  "typedExtensionProtocolOptions",
  "circuitBreakers",
  "outlierDetection",
  "healthChecks",
  "transportSocket",
  "dnsRefreshRate",
  "dnsLookupFamily",
  "respectDnsTtl",
  "commonLbConfig",
] as const;

export function parseCluster(resource: Obj): ClusterSpec {
  const name = typeof resource.name === "string" ? resource.name : "";
  const root = new ConfigPath(UPSTREAM_RESOURCE, `cluster ${JSON.stringify(name)}`, "");
  const c = object(resource, root, CLUSTER_FIELDS);
  if (!name) root.at("name").fail("a name is required");

  const type = enumValue(c.type, root.at("type"), ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS"], "STATIC");
  const discovery: Discovery = type === "EDS" ? "eds" : type === "STATIC" ? "static" : type === "STRICT_DNS" ? "strict-dns" : "logical-dns";
  let edsName = name;
  let inlineEndpoints: EndpointSpec[] = [];
  if (discovery === "eds") {
    if (c.loadAssignment !== undefined) root.at("loadAssignment").fail("an EDS cluster takes its endpoints from EDS");
    const eds = object(c.edsClusterConfig ?? {}, root.at("edsClusterConfig"), ["edsConfig", "serviceName"]);
    if (eds.edsConfig !== undefined) configSource(eds.edsConfig, root.at("edsClusterConfig").at("edsConfig"));
    edsName = optStr(eds.serviceName, root.at("edsClusterConfig").at("serviceName")) || name;
  } else {
    if (c.edsClusterConfig !== undefined) root.at("edsClusterConfig").fail(`a ${type} cluster has no EDS configuration`);
    inlineEndpoints = c.loadAssignment === undefined ? [] : parseLoadAssignment(c.loadAssignment, root.at("loadAssignment"));
    if (discovery === "logical-dns" && inlineEndpoints.length > 1) root.at("loadAssignment").fail("a LOGICAL_DNS cluster takes exactly one endpoint");
  }
  if (c.commonLbConfig !== undefined) object(c.commonLbConfig, root.at("commonLbConfig"), []);
  if (c.respectDnsTtl !== undefined && c.respectDnsTtl !== false) root.at("respectDnsTtl").fail("DNS TTLs are not followed; use dnsRefreshRate");

  const { lb, choiceCount } = loadBalancing(c, root);
  const { http2, idleTimeoutMs } = protocolOptions(c.typedExtensionProtocolOptions, root.at("typedExtensionProtocolOptions"));
  const family = enumValue(c.dnsLookupFamily, root.at("dnsLookupFamily"), ["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"], "AUTO");

  return {
    name,
    discovery,
    edsName,
    inlineEndpoints,
    connectTimeoutMs: optionalDurationMs(c.connectTimeout, root.at("connectTimeout")) || DEFAULTS.connectTimeoutMs,
    lb,
    choiceCount,
    http2,
    idleTimeoutMs,
    limits: circuitBreakers(c.circuitBreakers, root.at("circuitBreakers")),
    ...(c.outlierDetection !== undefined ? { outlier: outlierDetection(c.outlierDetection, root.at("outlierDetection")) } : {}),
    ...(c.healthChecks !== undefined ? healthChecks(c.healthChecks, root.at("healthChecks"), name) : {}),
    ...(c.transportSocket !== undefined ? { tls: transportSocket(c.transportSocket, root.at("transportSocket")) } : {}),
    dnsRefreshMs: optionalDurationMs(c.dnsRefreshRate, root.at("dnsRefreshRate")) || DEFAULTS.dnsRefreshMs,
    dnsFamily: family === "V4_ONLY" ? 4 : family === "V6_ONLY" ? 6 : 0,
  };
}

/** Every config source the translator emits is the one ADS stream. */
function configSource(v: unknown, where: ConfigPath): void {
  const o = object(v, where, ["ads", "resourceApiVersion", "initialFetchTimeout"]);
  enumValue(o.resourceApiVersion, where.at("resourceApiVersion"), ["V3"], "V3");
  if (o.ads === undefined) where.fail("only ADS config sources are supported");
}

function loadBalancing(c: Obj, root: ConfigPath): { lb: LbKind; choiceCount: number } {
  if (c.loadBalancingPolicy !== undefined) {
    // Envoy uses the first policy of the list it implements.
    const where = root.at("loadBalancingPolicy");
    const p = object(c.loadBalancingPolicy, where, ["policies"]);
    const policies = list(p.policies, where.at("policies"));
    for (let i = 0; i < policies.length; i++) {
      const pw = where.at("policies").at(i);
      const te = object(object(policies[i], pw, ["typedExtensionConfig"]).typedExtensionConfig, pw.at("typedExtensionConfig"), ["name", "typedConfig"]);
      const tw: ConfigPath = pw.at("typedExtensionConfig").at("typedConfig");
      const tc = te.typedConfig;
      if (!isObj(tc)) tw.fail("a typed config is required");
      switch (tc["@type"]) {
        case TYPE_URL.roundRobin:
          object(tc, tw, ["@type"]);
          return { lb: "round-robin", choiceCount: 2 };
        case TYPE_URL.random:
          object(tc, tw, ["@type"]);
          return { lb: "random", choiceCount: 2 };
        case TYPE_URL.leastRequest: {
          const lr = object(tc, tw, ["@type", "choiceCount"]);
          return { lb: "least-request", choiceCount: wrappedInt(lr.choiceCount, tw.at("choiceCount"), 2, 100) ?? 2 };
        }
      }
    }
    where.at("policies").fail("none of the policies is implemented (supported: round_robin, least_request, random)");
  }
  const lbPolicy = enumValue(c.lbPolicy, root.at("lbPolicy"), ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"], "ROUND_ROBIN");
  return { lb: lbPolicy === "ROUND_ROBIN" ? "round-robin" : lbPolicy === "RANDOM" ? "random" : "least-request", choiceCount: 2 };
}

function protocolOptions(v: unknown, where: ConfigPath): { http2: boolean; idleTimeoutMs: number } {
  if (v === undefined) return { http2: false, idleTimeoutMs: DEFAULTS.idleTimeoutMs };
  const all = object(v, where, [HTTP_PROTOCOL_OPTIONS]);
  const ow = where.at(HTTP_PROTOCOL_OPTIONS);
  const o = object(all[HTTP_PROTOCOL_OPTIONS], ow, ["@type", "explicitHttpConfig", "commonHttpProtocolOptions"]);
  if (o["@type"] !== TYPE_URL.httpProtocolOptions) ow.at("@type").fail(`expected ${TYPE_URL.httpProtocolOptions}`);
  let http2 = false;
  if (o.explicitHttpConfig !== undefined) {
    const ew = ow.at("explicitHttpConfig");
    const e = object(o.explicitHttpConfig, ew, ["httpProtocolOptions", "http2ProtocolOptions"]);
    if (e.http2ProtocolOptions !== undefined) {
      object(e.http2ProtocolOptions, ew.at("http2ProtocolOptions"), []);
      http2 = true;
    } else if (e.httpProtocolOptions !== undefined) {
      object(e.httpProtocolOptions, ew.at("httpProtocolOptions"), []);
    }
  }
  let idleTimeoutMs: number = DEFAULTS.idleTimeoutMs;
  if (o.commonHttpProtocolOptions !== undefined) {
    const cw = ow.at("commonHttpProtocolOptions");
    const common = object(o.commonHttpProtocolOptions, cw, ["idleTimeout"]);
    idleTimeoutMs = optionalDurationMs(common.idleTimeout, cw.at("idleTimeout")) ?? idleTimeoutMs;
  }
  return { http2, idleTimeoutMs };
}

function circuitBreakers(v: unknown, where: ConfigPath): CircuitBreakerLimits {
  if (v === undefined) return DEFAULTS.limits;
  const cb = object(v, where, ["thresholds"]);
  let limits: CircuitBreakerLimits = DEFAULTS.limits;
  list(cb.thresholds, where.at("thresholds")).forEach((t, i) => {
    const tw = where.at("thresholds").at(i);
    const o = object(t, tw, ["priority", "maxConnections", "maxPendingRequests", "maxRequests", "maxRetries"]);
    // Routes carry no priority, so only the DEFAULT thresholds ever apply.
    const priority = enumValue(o.priority, tw.at("priority"), ["DEFAULT", "HIGH"], "DEFAULT");
    if (priority !== "DEFAULT") return;
    limits = {
      maxConnections: wrappedInt(o.maxConnections, tw.at("maxConnections"), 1) ?? DEFAULTS.limits.maxConnections,
      maxPendingRequests: wrappedInt(o.maxPendingRequests, tw.at("maxPendingRequests")) ?? DEFAULTS.limits.maxPendingRequests,
      maxRequests: wrappedInt(o.maxRequests, tw.at("maxRequests")) ?? DEFAULTS.limits.maxRequests,
      maxRetries: wrappedInt(o.maxRetries, tw.at("maxRetries")) ?? DEFAULTS.limits.maxRetries,
    };
  });
  return limits;
}

function outlierDetection(v: unknown, where: ConfigPath): OutlierSpec {
  const o = object(v, where, [
    "consecutive_5xx",
    "consecutive5xx",
    "enforcingConsecutive_5xx",
    "enforcingConsecutive5xx",
    "consecutiveGatewayFailure",
    "enforcingConsecutiveGatewayFailure",
    "interval",
    "baseEjectionTime",
    "maxEjectionTime",
    "maxEjectionPercent",
    "enforcingSuccessRate",
  ]);
  // Success-rate ejection is on in Envoy by default (enforcing 100%); this proxy does not
  // implement it, so a resource must switch it off explicitly or leave it to the default
  // the translator relies on (absent). An explicit non-zero value is refused.
  if (o.enforcingSuccessRate !== undefined && wrappedInt(o.enforcingSuccessRate, where.at("enforcingSuccessRate"), 0, 100) !== 0) where.at("enforcingSuccessRate").fail("success-rate outlier detection is not supported");
  const pct = (f: string, d: number) => wrappedInt(o[f], where.at(f), 0, 100) ?? d;
  return {
    consecutive5xx: wrappedInt(o.consecutive_5xx ?? o.consecutive5xx, where.at("consecutive_5xx")) ?? DEFAULTS.outlier.consecutive5xx,
    enforcing5xx: pct(o.enforcingConsecutive_5xx !== undefined ? "enforcingConsecutive_5xx" : "enforcingConsecutive5xx", 100),
    consecutiveGatewayFailure: wrappedInt(o.consecutiveGatewayFailure, where.at("consecutiveGatewayFailure")) ?? DEFAULTS.outlier.consecutiveGatewayFailure,
    enforcingGatewayFailure: pct("enforcingConsecutiveGatewayFailure", 0),
    intervalMs: optionalDurationMs(o.interval, where.at("interval")) || DEFAULTS.outlier.intervalMs,
    baseEjectionTimeMs: optionalDurationMs(o.baseEjectionTime, where.at("baseEjectionTime")) || DEFAULTS.outlier.baseEjectionTimeMs,
    maxEjectionTimeMs: optionalDurationMs(o.maxEjectionTime, where.at("maxEjectionTime")) || DEFAULTS.outlier.maxEjectionTimeMs,
    maxEjectionPercent: pct("maxEjectionPercent", DEFAULTS.outlier.maxEjectionPercent),
  };
}

function healthChecks(v: unknown, where: ConfigPath, clusterName: string): { healthCheck?: HealthCheckSpec } {
  const checks = list(v, where);
  if (checks.length === 0) return {};
  if (checks.length > 1) where.fail("only one health check per cluster is supported");
  const hw = where.at(0);
  const h = object(checks[0], hw, ["timeout", "interval", "unhealthyThreshold", "healthyThreshold", "httpHealthCheck"]);
  if (h.httpHealthCheck === undefined) hw.fail("only HTTP health checks are supported");
  const httpw = hw.at("httpHealthCheck");
  const http = object(h.httpHealthCheck, httpw, ["path", "host", "expectedStatuses"]);
  const path = str(http.path, httpw.at("path"));
  if (!path.startsWith("/")) httpw.at("path").fail("must start with /");
  const expected = list(http.expectedStatuses, httpw.at("expectedStatuses")).map((r, i): readonly [number, number] => {
    const rw = httpw.at("expectedStatuses").at(i);
    const range = object(r, rw, ["start", "end"]);
    const start = int(range.start, rw.at("start"), 100, 599);
    const end = int(range.end, rw.at("end"), start + 1, 600);
    return [start, end];
  });
  const timeoutMs = optionalDurationMs(h.timeout, hw.at("timeout")) || hw.at("timeout").fail("a timeout is required");
  const intervalMs = optionalDurationMs(h.interval, hw.at("interval")) || hw.at("interval").fail("an interval is required");
  return {
    healthCheck: {
      path,
      host: optStr(http.host, httpw.at("host")) || clusterName,
      expectedStatuses: expected.length > 0 ? expected : [[200, 201]],
      intervalMs,
      timeoutMs,
      unhealthyThreshold: wrappedInt(h.unhealthyThreshold, hw.at("unhealthyThreshold"), 1) ?? hw.at("unhealthyThreshold").fail("is required"),
      healthyThreshold: wrappedInt(h.healthyThreshold, hw.at("healthyThreshold"), 1) ?? hw.at("healthyThreshold").fail("is required"),
    },
  };
}

function transportSocket(v: unknown, where: ConfigPath): UpstreamTlsSpec {
  const ts = object(v, where, ["name", "typedConfig"]);
  const tw = where.at("typedConfig");
  const tc = object(ts.typedConfig, tw, ["@type", "sni", "commonTlsContext", "allowRenegotiation"]);
  if (tc["@type"] !== TYPE_URL.upstreamTls) tw.at("@type").fail(`only ${TYPE_URL.upstreamTls} is supported`);
  if (tc.allowRenegotiation === true) tw.at("allowRenegotiation").fail("TLS renegotiation is not supported");
  const cw = tw.at("commonTlsContext");
  const common = object(tc.commonTlsContext ?? {}, cw, ["tlsCertificateSdsSecretConfigs", "tlsCertificates", "validationContextSdsSecretConfig", "combinedValidationContext", "validationContext", "alpnProtocols"]);

  let clientCertificate: UpstreamTlsSpec["clientCertificate"];
  const sdsCerts = list(common.tlsCertificateSdsSecretConfigs, cw.at("tlsCertificateSdsSecretConfigs"));
  const inlineCerts = list(common.tlsCertificates, cw.at("tlsCertificates"));
  if (sdsCerts.length + inlineCerts.length > 1) cw.fail("at most one client certificate is supported");
  if (sdsCerts.length === 1) clientCertificate = { sds: sdsName(sdsCerts[0], cw.at("tlsCertificateSdsSecretConfigs").at(0)) };
  if (inlineCerts.length === 1) {
    const iw = cw.at("tlsCertificates").at(0);
    const ic = object(inlineCerts[0], iw, ["certificateChain", "privateKey"]);
    clientCertificate = { chain: dataSource(ic.certificateChain, iw.at("certificateChain")), key: dataSource(ic.privateKey, iw.at("privateKey")) };
  }

  let validation: UpstreamTlsSpec["validation"];
  const given = [common.validationContextSdsSecretConfig, common.combinedValidationContext, common.validationContext].filter((x) => x !== undefined).length;
  if (given > 1) cw.fail("give one of validationContext, validationContextSdsSecretConfig and combinedValidationContext");
  if (common.validationContextSdsSecretConfig !== undefined) {
    validation = { ca: { sds: sdsName(common.validationContextSdsSecretConfig, cw.at("validationContextSdsSecretConfig")) }, sans: [] };
  } else if (common.combinedValidationContext !== undefined) {
    const vw = cw.at("combinedValidationContext");
    const cv = object(common.combinedValidationContext, vw, ["defaultValidationContext", "validationContextSdsSecretConfig"]);
    const dv = validationContextFields(cv.defaultValidationContext ?? {}, vw.at("defaultValidationContext"), false);
    validation = { ca: { sds: sdsName(cv.validationContextSdsSecretConfig, vw.at("validationContextSdsSecretConfig")) }, sans: dv.sans };
  } else if (common.validationContext !== undefined) {
    const vc = validationContextFields(common.validationContext, cw.at("validationContext"), true);
    validation = { ca: { inline: vc.ca! }, sans: vc.sans };
  }

  const alpn = list(common.alpnProtocols, cw.at("alpnProtocols")).map((p, i) => str(p, cw.at("alpnProtocols").at(i)));
  for (let i = 0; i < alpn.length; i++) if (alpn[i] !== "h2" && alpn[i] !== "http/1.1") cw.at("alpnProtocols").at(i).fail(`ALPN ${JSON.stringify(alpn[i])} is not supported (h2, http/1.1)`);
  const sni = optStr(tc.sni, tw.at("sni"));
  return { ...(sni ? { sni } : {}), alpn, ...(clientCertificate ? { clientCertificate } : {}), ...(validation ? { validation } : {}) };
}

/** A CertificateValidationContext: trusted CA (required when `needCa`) and SAN matchers. */
export function validationContextFields(v: unknown, where: ConfigPath, needCa: boolean): { ca?: string; sans: SanMatcher[] } {
  const o = object(v, where, ["trustedCa", "matchTypedSubjectAltNames"]);
  const sans = list(o.matchTypedSubjectAltNames, where.at("matchTypedSubjectAltNames")).map((m, i) => compileSanMatcher(m, where.at("matchTypedSubjectAltNames").at(i)));
  if (o.trustedCa === undefined) {
    if (needCa) where.at("trustedCa").fail("a trusted CA is required");
    return { sans };
  }
  return { ca: dataSource(o.trustedCa, where.at("trustedCa")), sans };
}

/**
 * An envoy.config.core.v3.DataSource as text. Files are referenced as `file:<path>` and
 * read when the TLS settings are built (the secret store resolves them).
 */
export function dataSource(v: unknown, where: ConfigPath): string {
  const o = object(v, where, ["inlineString", "inlineBytes", "filename"]);
  if (o.inlineString !== undefined) return str(o.inlineString, where.at("inlineString"));
  if (o.inlineBytes !== undefined) return Buffer.from(str(o.inlineBytes, where.at("inlineBytes")), "base64").toString("utf8");
  if (o.filename !== undefined) return `file:${str(o.filename, where.at("filename"))}`;
  where.fail("one of inlineString, inlineBytes or filename is required");
}

function sdsName(v: unknown, where: ConfigPath): string {
  const o = object(v, where, ["name", "sdsConfig"]);
  if (o.sdsConfig !== undefined) configSource(o.sdsConfig, where.at("sdsConfig"));
  const name = str(o.name, where.at("name"));
  if (!name) where.at("name").fail("a secret name is required");
  return name;
}
