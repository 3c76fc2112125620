// Envoy Listener resource -> what a bound socket needs per connection: the plaintext
// filter chain, the TLS chains indexed by server name, each chain's TLS material and
// HTTP limits. Everything is decided here, at configuration time, so that accepting a
// connection is a few map lookups. Fields the proxy cannot honour are rejected (the
// xDS client NACKs), never ignored.

import type * as tls from "node:tls";
import { ConfigPath, isObj, LISTENER, onlyFields, type Obj } from "../config-reader.js";
import type { EnvoyResource, FilterChainRef } from "../contracts.js";
import { type CertificateMaterial, type SanMatcher, type SecureContextCache, type ServingCertificate } from "./tls-contexts.js";

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const HCM_NAME = "envoy.filters.network.http_connection_manager";
const TLS_TRANSPORT = "envoy.transport_sockets.tls";
const DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const LISTENER_FILTERS = new Set(["envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"]);

/** HTTP limits and timeouts of one filter chain (from its HttpConnectionManager). */
export interface HttpLimits {
  readonly maxHeaderBytes: number;
  readonly maxHeadersCount: number;
  readonly headersTimeoutMs: number;
  /** 0 = none. */
  readonly requestTimeoutMs: number;
  /** 0 = none. */
  readonly idleTimeoutMs: number;
  /** HTTP/2: a stream with no frames either way for this long is ended (408, or reset once answering); 0 = none. */
  readonly streamIdleTimeoutMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it are refused (REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** HTTP/1.1 Upgrade protocols (lowercase) the chain forwards (upgradeConfigs); others are plain requests. */
  readonly upgradeTypes: readonly string[];
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderBytes: 60 * 1024,
  maxHeadersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 0,
  idleTimeoutMs: 300_000,
  // Envoy's default stream_idle_timeout.
  streamIdleTimeoutMs: 300_000,
  // Envoy's recommendation for edge proxies (its own default is unbounded).
  maxConcurrentStreams: 100,
  upgradeTypes: [],
};

/**
 * How often a server's one timer checks its timeouts: `fraction` of the shortest one that
 * is set (1 s when none is), between `minMs` and 1 s. A timeout then fires at most that
 * much late, and no request or stream pays for a timer of its own.
 */
export function timeoutCheckEveryMs(timeoutsMs: readonly number[], fraction: number, minMs: number): number {
  let shortest = 0;
  for (const ms of timeoutsMs) if (ms > 0 && (shortest === 0 || ms < shortest)) shortest = ms;
  return shortest === 0 ? 1000 : Math.max(minMs, Math.min(1000, Math.floor(shortest * fraction)));
}

export interface ChainTls {
  /** One per certificate the chain serves; the first is the default. */
  readonly certificates: readonly ServingCertificate[];
  readonly alpn: string[] | undefined;
  /** Ask the client for a certificate (a validation context is configured). */
  readonly requestCert: boolean;
  /** Refuse clients without a valid certificate. */
  readonly requireCert: boolean;
  readonly sanMatchers: readonly SanMatcher[] | undefined;
  readonly requireSni: boolean;
}

export interface CompiledChain {
  readonly name: string;
  readonly ref: FilterChainRef;
  readonly tls: ChainTls | undefined;
  readonly limits: HttpLimits;
  readonly codec: "AUTO" | "HTTP1" | "HTTP2";
}

export interface CompiledListener {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** What makes two listeners "the same socket": host and port (or the name for port 0). */
  readonly addressKey: string;
  readonly plaintext: CompiledChain | undefined;
  readonly tlsByName: ReadonlyMap<string, CompiledChain>;
  /** Wildcard chains keyed by suffix (".example.com" for "*.example.com"). */
  readonly tlsByWildcard: ReadonlyMap<string, CompiledChain>;
  readonly tlsDefault: CompiledChain | undefined;
  readonly hasTls: boolean;
  /** Time allowed to sniff the first bytes and finish a TLS handshake. */
  readonly handshakeTimeoutMs: number;
  readonly chains: ReadonlyMap<string, CompiledChain>;
}

const LISTENER_FIELDS: readonly string[] = [
  "name",
  "address",
  "filterChains",
  "defaultFilterChain",
  "listenerFilters",
  "listenerFiltersTimeout",
  "continueOnListenerFiltersTimeout",
  "trafficDirection",
  "statPrefix",
  "perConnectionBufferLimitBytes",
  "metadata",
  "drainType",
  "enableReusePort",
  "bindToPort",
];
const CHAIN_FIELDS: readonly string[] = ["name", "filterChainMatch", "filters", "transportSocket", "metadata"];
const MATCH_FIELDS: readonly string[] = ["serverNames", "transportProtocol"];
const DOWNSTREAM_TLS_FIELDS: readonly string[] = ["@type", "commonTlsContext", "requireClientCertificate", "requireSni"];
const COMMON_TLS_FIELDS: readonly string[] = ["tlsParams", "tlsCertificates", "tlsCertificateSdsSecretConfigs", "validationContext", "validationContextSdsSecretConfig", "combinedValidationContext", "alpnProtocols"];
const TLS_PARAMS_FIELDS: readonly string[] = ["tlsMinimumProtocolVersion", "tlsMaximumProtocolVersion", "cipherSuites", "ecdhCurves"];
const VALIDATION_FIELDS: readonly string[] = ["trustedCa", "matchTypedSubjectAltNames"];
const TLS_VERSIONS: Record<string, tls.SecureVersion | undefined> = { TLS_AUTO: undefined, TLSv1_0: "TLSv1", TLSv1_1: "TLSv1.1", TLSv1_2: "TLSv1.2", TLSv1_3: "TLSv1.3" };
const SAN_PREFIX: Record<string, string> = { URI: "URI:", DNS: "DNS:", EMAIL: "email:", IP_ADDRESS: "IP Address:" };
const ALPN = new Set(["h2", "http/1.1"]);


/** Envoy Duration ({ seconds, nanos }, seconds possibly a string) -> milliseconds. */
export function durationMs(d: unknown): number | undefined {
  if (!isObj(d)) return undefined;
  const s = Number(d.seconds ?? 0);
  const n = Number(d.nanos ?? 0);
  if (!Number.isFinite(s) || !Number.isFinite(n)) return undefined;
  return Math.round(s * 1000 + n / 1e6);
}

function wrapped(v: unknown): unknown {
  return isObj(v) && "value" in v ? v.value : v;
}

/** True for listeners served by proxyless gRPC clients, not bound by the proxy. */
export function isApiListener(resource: EnvoyResource): boolean {
  return resource.apiListener !== undefined;
}

export function compileListener(resource: EnvoyResource, secrets: ReadonlyMap<string, EnvoyResource>, contexts: SecureContextCache): CompiledListener {
  const name = typeof resource.name === "string" ? resource.name : "";
  const c = new ConfigPath(LISTENER, name || "(unnamed)");
  if (!name) return c.at("name").fail("required");
  onlyFields(resource, c.at("listener"), LISTENER_FIELDS);
  if (wrapped(resource.bindToPort) === false) return c.at("bindToPort").fail("listeners that do not bind are not supported");

  const sa = isObj(resource.address) ? resource.address.socketAddress : undefined;
  if (!isObj(sa)) return c.at("address.socketAddress").fail("required (pipes and internal addresses are not supported)");
  const host = sa.address;
  const port = Number(sa.portValue ?? 0);
  if (typeof host !== "string" || host === "") return c.at("address.socketAddress.address").fail("required");
  if (!Number.isInteger(port) || port < 0 || port > 65535) return c.at("address.socketAddress.portValue").fail(`invalid port ${String(sa.portValue)}`);
  if (sa.protocol !== undefined && sa.protocol !== "TCP") return c.at("address.socketAddress.protocol").fail(`${String(sa.protocol)} is not supported`);
  if (sa.namedPort !== undefined || sa.resolverName !== undefined) return c.at("address.socketAddress").fail("named ports and resolvers are not supported");
  if (sa.ipv4Compat !== undefined && sa.ipv4Compat !== false && host !== "::") return c.at("address.socketAddress.ipv4Compat").fail("only meaningful on ::");

  for (const [i, f] of (Array.isArray(resource.listenerFilters) ? resource.listenerFilters : []).entries()) {
    const fname = isObj(f) ? f.name : undefined;
    if (typeof fname !== "string" || !LISTENER_FILTERS.has(fname)) return c.at("listenerFilters").at(i).at("name").fail(`${String(fname)} is not supported`);
  }
  const filtersTimeout = durationMs(resource.listenerFiltersTimeout);

  const chainResources = Array.isArray(resource.filterChains) ? [...resource.filterChains] : [];
  const chains = new Map<string, CompiledChain>();
  let plaintext: CompiledChain | undefined;
  let tlsDefault: CompiledChain | undefined;
  const tlsByName = new Map<string, CompiledChain>();
  const tlsByWildcard = new Map<string, CompiledChain>();

  const add = (raw: unknown, where: ConfigPath, isDefault: boolean): void => {
    if (!isObj(raw)) return where.fail("must be an object");
    const chain = compileChain(c, name, raw, where, secrets, contexts);
    if (chains.has(chain.name)) return where.at("name").fail(`duplicate filter chain name ${chain.name}`);
    chains.set(chain.name, chain);
    const match = isObj(raw.filterChainMatch) ? raw.filterChainMatch : {};
    const serverNames = Array.isArray(match.serverNames) ? (match.serverNames as unknown[]).map((s) => String(s).toLowerCase()) : [];
    if (chain.tls === undefined) {
      if (serverNames.length > 0) return where.at("filterChainMatch.serverNames").fail("server names need a TLS transport socket");
      if (plaintext) {
        if (isDefault) return; // the default chain only catches what no chain matched
        where.fail(`a second plaintext filter chain (after ${plaintext.name}) has the same match`);
      }
      plaintext = chain;
      return;
    }
    if (serverNames.length === 0) {
      if (tlsDefault) {
        if (isDefault) return;
        where.fail(`a second TLS filter chain without server names (after ${tlsDefault.name})`);
      }
      tlsDefault = chain;
      return;
    }
    for (const sn of serverNames) {
      const [map, key] = sn.startsWith("*.") ? [tlsByWildcard, sn.slice(1)] : [tlsByName, sn];
      if (sn.includes("*", sn.startsWith("*.") ? 1 : 0)) return where.at("filterChainMatch.serverNames").fail(`unsupported wildcard ${sn}`);
      const other = map.get(key);
      if (other) return where.at("filterChainMatch.serverNames").fail(`${sn} is also matched by filter chain ${other.name}`);
      map.set(key, chain);
    }
  };
  chainResources.forEach((raw, i) => add(raw, c.at("filterChains").at(i), false));
  if (resource.defaultFilterChain !== undefined) add(resource.defaultFilterChain, c.at("defaultFilterChain"), true);
  if (chains.size === 0) return c.at("filterChains").fail("at least one filter chain is required");

  return {
    name,
    host: host as string,
    port,
    addressKey: port === 0 ? `name:${name}` : `${host as string}:${port}`,
    plaintext,
    tlsByName,
    tlsByWildcard,
    tlsDefault,
    hasTls: tlsDefault !== undefined || tlsByName.size > 0 || tlsByWildcard.size > 0,
    handshakeTimeoutMs: filtersTimeout && filtersTimeout > 0 ? filtersTimeout : shortestHeadersTimeout(chains.values()),
    chains,
  };
}

/**
 * Without a listenerFiltersTimeout, the first bytes (and the TLS handshake) must arrive
 * within the chains' headers timeout: they are the start of the request headers.
 */
function shortestHeadersTimeout(chains: Iterable<CompiledChain>): number {
  let ms = 0;
  for (const c of chains) if (c.limits.headersTimeoutMs > 0 && (ms === 0 || c.limits.headersTimeoutMs < ms)) ms = c.limits.headersTimeoutMs;
  return ms > 0 ? ms : DEFAULT_LIMITS.headersTimeoutMs;
}

function compileChain(c: ConfigPath, listenerName: string, raw: Obj, where: ConfigPath, secrets: ReadonlyMap<string, EnvoyResource>, contexts: SecureContextCache): CompiledChain {
  onlyFields(raw, where, CHAIN_FIELDS);
  const chainName = typeof raw.name === "string" && raw.name !== "" ? raw.name : where.path;
  const match = raw.filterChainMatch;
  if (match !== undefined) {
    if (!isObj(match)) return where.at("filterChainMatch").fail("must be an object");
    onlyFields(match, where.at("filterChainMatch"), MATCH_FIELDS);
  }
  const transport = isObj(match) ? match.transportProtocol : undefined;
  if (transport !== undefined && transport !== "" && transport !== "tls" && transport !== "raw_buffer") return where.at("filterChainMatch.transportProtocol").fail(`${String(transport)} is not supported`);

  const filters = Array.isArray(raw.filters) ? raw.filters : [];
  if (filters.length !== 1) return where.at("filters").fail("exactly one network filter (the HTTP connection manager) is supported");
  const filter = filters[0];
  if (!isObj(filter) || filter.name !== HCM_NAME) return where.at("filters").at(0).at("name").fail(`${String(isObj(filter) ? filter.name : filter)} is not supported`);
  const hcm = filter.typedConfig;
  if (!isObj(hcm) || hcm["@type"] !== HCM_TYPE) return where.at("filters").at(0).at("typedConfig").fail("must be an HttpConnectionManager");

  let chainTls: ChainTls | undefined;
  if (raw.transportSocket !== undefined) {
    chainTls = compileTls(c, raw.transportSocket, where.at("transportSocket"), secrets, contexts);
  } else if (transport === "tls") {
    where.at("transportSocket").fail("TLS passthrough is not supported: a tls chain needs a DownstreamTlsContext");
  }
  if (chainTls && transport === "raw_buffer") return where.at("filterChainMatch.transportProtocol").fail("raw_buffer with a TLS transport socket");

  const codec = hcm.codecType ?? "AUTO";
  if (codec !== "AUTO" && codec !== "HTTP1" && codec !== "HTTP2") return where.at("filters").at(0).at("typedConfig.codecType").fail(`${String(codec)} is not supported`);
  return {
    name: chainName,
    ref: { listenerName, chainName, hcm },
    tls: chainTls,
    limits: limitsOf(hcm, where.at("filters").at(0).at("typedConfig")),
    codec,
  };
}

function limitsOf(hcm: Obj, where: ConfigPath): HttpLimits {
  const common = isObj(hcm.commonHttpProtocolOptions) ? hcm.commonHttpProtocolOptions : {};
  const kb = wrapped(hcm.maxRequestHeadersKb);
  const maxHeaderBytes = kb === undefined ? DEFAULT_LIMITS.maxHeaderBytes : Number(kb) * 1024;
  if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes <= 0) return where.at("maxRequestHeadersKb").fail(`invalid value ${String(kb)}`);
  const count = wrapped(common.maxHeadersCount);
  const maxHeadersCount = count === undefined ? DEFAULT_LIMITS.maxHeadersCount : Number(count);
  if (!Number.isInteger(maxHeadersCount) || maxHeadersCount <= 0) return where.at("commonHttpProtocolOptions.maxHeadersCount").fail(`invalid value ${String(count)}`);
  const requestTimeoutMs = durationMs(hcm.requestTimeout) ?? DEFAULT_LIMITS.requestTimeoutMs;
  let headersTimeoutMs = durationMs(hcm.requestHeadersTimeout) ?? DEFAULT_LIMITS.headersTimeoutMs;
  // Node requires the headers timeout not to exceed the whole-request timeout.
  if (requestTimeoutMs > 0 && (headersTimeoutMs === 0 || headersTimeoutMs > requestTimeoutMs)) headersTimeoutMs = requestTimeoutMs;
  const idleTimeoutMs = durationMs(common.idleTimeout) ?? DEFAULT_LIMITS.idleTimeoutMs;
  const streamIdleTimeoutMs = durationMs(hcm.streamIdleTimeout) ?? DEFAULT_LIMITS.streamIdleTimeoutMs;
  let maxConcurrentStreams = DEFAULT_LIMITS.maxConcurrentStreams;
  if (hcm.http2ProtocolOptions !== undefined) {
    const h2 = isObj(hcm.http2ProtocolOptions) ? hcm.http2ProtocolOptions : {};
    onlyFields(h2, where.at("http2ProtocolOptions"), H2_OPTION_FIELDS);
    const mcs = wrapped(h2.maxConcurrentStreams);
    if (mcs !== undefined) {
      maxConcurrentStreams = Number(mcs);
      if (!Number.isInteger(maxConcurrentStreams) || maxConcurrentStreams < 1 || maxConcurrentStreams > 2 ** 31 - 1) return where.at("http2ProtocolOptions.maxConcurrentStreams").fail(`invalid value ${String(mcs)}`);
    }
  }
  return { maxHeaderBytes, maxHeadersCount, headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, streamIdleTimeoutMs, maxConcurrentStreams, upgradeTypes: upgradeTypesOf(hcm.upgradeConfigs, where.at("upgradeConfigs")) };
}

const H2_OPTION_FIELDS: readonly string[] = ["maxConcurrentStreams"];
const UPGRADE_FIELDS: readonly string[] = ["upgradeType", "enabled"];
/** RFC 9110 §7.8: protocol-name ["/" protocol-version], tokens. */
const PROTOCOL_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+(\/[!#$%&'*+.^_`|~0-9a-z-]+)?$/;

/**
 * The enabled upgrade types, lowercase. Upgraded connections are tunnelled byte for byte
 * after the request went through the chain's HTTP filters; CONNECT (a different
 * mechanism) and per-upgrade filter chains are not supported.
 */
function upgradeTypesOf(v: unknown, where: ConfigPath): readonly string[] {
  if (v === undefined) return DEFAULT_LIMITS.upgradeTypes;
  if (!Array.isArray(v)) return where.fail("must be a list");
  const out: string[] = [];
  v.forEach((u: unknown, i) => {
    const w = where.at(i);
    if (!isObj(u)) return w.fail("must be an object");
    if (Array.isArray(u.filters) && u.filters.length > 0) return w.at("filters").fail("per-upgrade filter chains are not supported (the chain's HTTP filters apply)");
    for (const k of Object.keys(u)) if (k !== "filters" && !UPGRADE_FIELDS.includes(k)) return w.at(k).fail("not supported by the proxy");
    const type = typeof u.upgradeType === "string" ? u.upgradeType.toLowerCase() : "";
    if (type === "") return w.at("upgradeType").fail("required");
    if (type === "connect") return w.at("upgradeType").fail("CONNECT is not supported");
    if (!PROTOCOL_NAME.test(type)) return w.at("upgradeType").fail(`${String(u.upgradeType)} is not a protocol name`);
    if (wrapped(u.enabled) !== false && !out.includes(type)) out.push(type);
  });
  return out;
}

function compileTls(c: ConfigPath, ts: unknown, where: ConfigPath, secrets: ReadonlyMap<string, EnvoyResource>, contexts: SecureContextCache): ChainTls {
  if (!isObj(ts) || ts.name !== TLS_TRANSPORT) return where.at("name").fail(`${String(isObj(ts) ? ts.name : ts)} is not supported`);
  const dtc = ts.typedConfig;
  if (!isObj(dtc) || dtc["@type"] !== DOWNSTREAM_TLS_TYPE) return where.at("typedConfig").fail("must be a DownstreamTlsContext");
  onlyFields(dtc, where.at("typedConfig"), DOWNSTREAM_TLS_FIELDS);
  const w = where.at("typedConfig.commonTlsContext");
  const common = isObj(dtc.commonTlsContext) ? dtc.commonTlsContext : {};
  onlyFields(common, w, COMMON_TLS_FIELDS);

  const params = isObj(common.tlsParams) ? common.tlsParams : {};
  onlyFields(params, w.at("tlsParams"), TLS_PARAMS_FIELDS);
  const minName = String(params.tlsMinimumProtocolVersion ?? "TLS_AUTO");
  const maxName = String(params.tlsMaximumProtocolVersion ?? "TLS_AUTO");
  if (!(minName in TLS_VERSIONS)) return w.at("tlsParams.tlsMinimumProtocolVersion").fail(`unknown version ${minName}`);
  if (!(maxName in TLS_VERSIONS)) return w.at("tlsParams.tlsMaximumProtocolVersion").fail(`unknown version ${maxName}`);
  const minVersion = TLS_VERSIONS[minName] ?? "TLSv1.2";
  const maxVersion = TLS_VERSIONS[maxName];
  const ciphers = listParam(params.cipherSuites, w.at("tlsParams.cipherSuites"));
  const ecdhCurve = listParam(params.ecdhCurves, w.at("tlsParams.ecdhCurves"));

  const alpnRaw = Array.isArray(common.alpnProtocols) ? (common.alpnProtocols as unknown[]).map(String) : [];
  for (const p of alpnRaw) if (!ALPN.has(p)) return w.at("alpnProtocols").fail(`${p} is not supported (h2, http/1.1)`);

  // Certificates: SDS references first, then inline ones.
  const materials: { material: CertificateMaterial; where: ConfigPath }[] = [];
  for (const [i, ref] of (Array.isArray(common.tlsCertificateSdsSecretConfigs) ? common.tlsCertificateSdsSecretConfigs : []).entries()) {
    const f = w.at("tlsCertificateSdsSecretConfigs").at(i);
    const secretName = isObj(ref) ? ref.name : undefined;
    if (typeof secretName !== "string") return f.at("name").fail("required");
    const secret = secrets.get(secretName);
    if (!secret) return f.fail(`secret ${secretName} is not known`);
    if (!isObj(secret.tlsCertificate)) return f.fail(`secret ${secretName} holds no tlsCertificate`);
    materials.push({ material: certificateMaterial(secret.tlsCertificate, c.at(`secret ${secretName}`)), where: c.at(`secret ${secretName}`) });
  }
  for (const [i, inline] of (Array.isArray(common.tlsCertificates) ? common.tlsCertificates : []).entries()) {
    const f = w.at("tlsCertificates").at(i);
    materials.push({ material: certificateMaterial(inline, f), where: f });
  }
  if (materials.length === 0) return w.fail("no certificate (tlsCertificateSdsSecretConfigs or tlsCertificates)");

  // Client certificate validation.
  let validation: Obj | undefined;
  let caSecretName: string | undefined;
  if (common.validationContext !== undefined) validation = isObj(common.validationContext) ? common.validationContext : {};
  let sdsRef = common.validationContextSdsSecretConfig;
  if (common.combinedValidationContext !== undefined) {
    const combined = isObj(common.combinedValidationContext) ? common.combinedValidationContext : {};
    onlyFields(combined, w.at("combinedValidationContext"), ["defaultValidationContext", "validationContextSdsSecretConfig"]);
    validation = isObj(combined.defaultValidationContext) ? combined.defaultValidationContext : {};
    sdsRef = combined.validationContextSdsSecretConfig;
  }
  let trustedCaPem: string | undefined;
  if (validation) {
    onlyFields(validation, w.at("validationContext"), VALIDATION_FIELDS);
    if (validation.trustedCa !== undefined) trustedCaPem = dataSource(validation.trustedCa, w.at("validationContext.trustedCa"));
  }
  if (sdsRef !== undefined) {
    caSecretName = isObj(sdsRef) && typeof sdsRef.name === "string" ? sdsRef.name : undefined;
    if (!caSecretName) return w.at("validationContextSdsSecretConfig.name").fail("required");
    const secret = secrets.get(caSecretName);
    if (!secret) return w.at("validationContextSdsSecretConfig").fail(`secret ${caSecretName} is not known`);
    const vc = secret.validationContext;
    if (!isObj(vc)) return w.at("validationContextSdsSecretConfig").fail(`secret ${caSecretName} holds no validationContext`);
    onlyFields(vc, c.at(`secret ${caSecretName}`).at("validationContext"), VALIDATION_FIELDS);
    if (vc.trustedCa === undefined) return c.at(`secret ${caSecretName}`).at("validationContext.trustedCa").fail("required");
    trustedCaPem = dataSource(vc.trustedCa, c.at(`secret ${caSecretName}`).at("validationContext.trustedCa"));
    if (vc.matchTypedSubjectAltNames !== undefined && validation?.matchTypedSubjectAltNames === undefined) validation = { ...(validation ?? {}), matchTypedSubjectAltNames: vc.matchTypedSubjectAltNames };
  }
  const sanMatchers = validation?.matchTypedSubjectAltNames !== undefined ? sanMatchersOf(validation.matchTypedSubjectAltNames, w.at("validationContext.matchTypedSubjectAltNames")) : undefined;
  const requireCert = wrapped(dtc.requireClientCertificate) === true;
  if ((requireCert || sanMatchers) && trustedCaPem === undefined) return where.at("typedConfig.requireClientCertificate").fail("client certificates need a validation context with trusted CAs");

  const certificates = materials.map(({ material, where: mw }) => {
    try {
      return contexts.get({ certificate: material, trustedCaPem, minVersion, maxVersion, ciphers, ecdhCurve });
    } catch (err) {
      return mw.fail(`unusable TLS material: ${(err as Error).message}`);
    }
  });
  return {
    certificates,
    alpn: alpnRaw.length > 0 ? alpnRaw : undefined,
    requestCert: trustedCaPem !== undefined,
    requireCert,
    sanMatchers,
    requireSni: wrapped(dtc.requireSni) === true,
  };
}

function listParam(v: unknown, where: ConfigPath): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const items = v.map(String);
  for (const s of items) if (/[[\]|]/.test(s)) return where.fail(`equal-preference groups (${s}) are not supported`);
  return items.join(":");
}

function certificateMaterial(tc: unknown, where: ConfigPath): CertificateMaterial {
  if (!isObj(tc)) return where.fail("must be a TlsCertificate");
  onlyFields(tc, where, ["certificateChain", "privateKey"]);
  return { chainPem: dataSource(tc.certificateChain, where.at("certificateChain")), keyPem: dataSource(tc.privateKey, where.at("privateKey")) };
}

/** Envoy DataSource: inline only (a proxy reading files named by the control plane would be a hole). */
function dataSource(ds: unknown, where: ConfigPath): string {
  if (!isObj(ds)) return where.fail("required");
  if (typeof ds.inlineString === "string") return ds.inlineString;
  if (typeof ds.inlineBytes === "string") return Buffer.from(ds.inlineBytes, "base64").toString("utf8");
  if (ds.inlineBytes instanceof Uint8Array) return Buffer.from(ds.inlineBytes).toString("utf8");
  return where.fail("only inlineString and inlineBytes are supported");
}

function sanMatchersOf(v: unknown, where: ConfigPath): SanMatcher[] {
  if (!Array.isArray(v)) return where.fail("must be a list");
  return v.map((m, i) => {
    const f = where.at(i);
    if (!isObj(m)) return f.fail("must be an object");
    const prefix = SAN_PREFIX[String(m.sanType)];
    if (!prefix) return f.at("sanType").fail(`${String(m.sanType)} is not supported`);
    if (m.oid !== undefined) return f.at("oid").fail("not supported");
    const matcher = isObj(m.matcher) ? m.matcher : {};
    const ignoreCase = matcher.ignoreCase === true;
    for (const kind of ["exact", "prefix", "suffix", "contains"] as const) {
      if (typeof matcher[kind] === "string") return { prefix, kind, value: matcher[kind], ignoreCase };
    }
    return f.at("matcher").fail("only exact, prefix, suffix and contains matchers are supported");
  });
}
