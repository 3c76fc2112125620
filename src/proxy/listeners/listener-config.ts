// Envoy Listener resource -> what a bound socket needs per connection: the plaintext
// filter chain, the TLS chains indexed by server name, each chain's TLS material and
// HTTP limits. Everything is decided here, at configuration time, so that accepting a
// connection is a few map lookups. Fields the proxy cannot honour are rejected (the
// xDS client NACKs), never ignored.

import type * as tls from "node:tls";
import { ListenerInvalidError } from "../../errors.js";
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

const LISTENER_FIELDS = new Set([
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
]);
const CHAIN_FIELDS = new Set(["name", "filterChainMatch", "filters", "transportSocket", "metadata"]);
const MATCH_FIELDS = new Set(["serverNames", "transportProtocol"]);
const DOWNSTREAM_TLS_FIELDS = new Set(["@type", "commonTlsContext", "requireClientCertificate", "requireSni"]);
const COMMON_TLS_FIELDS = new Set(["tlsParams", "tlsCertificates", "tlsCertificateSdsSecretConfigs", "validationContext", "validationContextSdsSecretConfig", "combinedValidationContext", "alpnProtocols"]);
const TLS_PARAMS_FIELDS = new Set(["tlsMinimumProtocolVersion", "tlsMaximumProtocolVersion", "cipherSuites", "ecdhCurves"]);
const VALIDATION_FIELDS = new Set(["trustedCa", "matchTypedSubjectAltNames"]);
const TLS_VERSIONS: Record<string, tls.SecureVersion | undefined> = { TLS_AUTO: undefined, TLSv1_0: "TLSv1", TLSv1_1: "TLSv1.1", TLSv1_2: "TLSv1.2", TLSv1_3: "TLSv1.3" };
const SAN_PREFIX: Record<string, string> = { URI: "URI:", DNS: "DNS:", EMAIL: "email:", IP_ADDRESS: "IP Address:" };
const ALPN = new Set(["h2", "http/1.1"]);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class Ctx {
  constructor(readonly listener: string) {}
  fail(field: string, reason: string): never {
    throw new ListenerInvalidError(this.listener, field, reason);
  }
  onlyFields(o: Obj, allowed: ReadonlySet<string>, where: string): void {
    for (const k of Object.keys(o)) if (!allowed.has(k)) this.fail(`${where}.${k}`, "not supported by the proxy");
  }
}

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
  const c: Ctx = new Ctx(name || "(unnamed)");
  if (!name) c.fail("name", "required");
  c.onlyFields(resource, LISTENER_FIELDS, "listener");
  if (wrapped(resource.bindToPort) === false) c.fail("bindToPort", "listeners that do not bind are not supported");

  const sa = isObj(resource.address) ? resource.address.socketAddress : undefined;
  if (!isObj(sa)) c.fail("address.socketAddress", "required (pipes and internal addresses are not supported)");
  const host = sa.address;
  const port = Number(sa.portValue ?? 0);
  if (typeof host !== "string" || host === "") c.fail("address.socketAddress.address", "required");
  if (!Number.isInteger(port) || port < 0 || port > 65535) c.fail("address.socketAddress.portValue", `invalid port ${String(sa.portValue)}`);
  if (sa.protocol !== undefined && sa.protocol !== "TCP") c.fail("address.socketAddress.protocol", `${String(sa.protocol)} is not supported`);
  if (sa.namedPort !== undefined || sa.resolverName !== undefined) c.fail("address.socketAddress", "named ports and resolvers are not supported");
  if (sa.ipv4Compat !== undefined && sa.ipv4Compat !== false && host !== "::") c.fail("address.socketAddress.ipv4Compat", "only meaningful on ::");

  for (const [i, f] of (Array.isArray(resource.listenerFilters) ? resource.listenerFilters : []).entries()) {
    const fname = isObj(f) ? f.name : undefined;
    if (typeof fname !== "string" || !LISTENER_FILTERS.has(fname)) c.fail(`listenerFilters[${i}].name`, `${String(fname)} is not supported`);
  }
  const filtersTimeout = durationMs(resource.listenerFiltersTimeout);

  const chainResources = Array.isArray(resource.filterChains) ? [...resource.filterChains] : [];
  const chains = new Map<string, CompiledChain>();
  let plaintext: CompiledChain | undefined;
  let tlsDefault: CompiledChain | undefined;
  const tlsByName = new Map<string, CompiledChain>();
  const tlsByWildcard = new Map<string, CompiledChain>();

  const add = (raw: unknown, where: string, isDefault: boolean): void => {
    if (!isObj(raw)) c.fail(where, "must be an object");
    const chain = compileChain(c, name, raw, where, secrets, contexts);
    if (chains.has(chain.name)) c.fail(`${where}.name`, `duplicate filter chain name ${chain.name}`);
    chains.set(chain.name, chain);
    const match = isObj(raw.filterChainMatch) ? raw.filterChainMatch : {};
    const serverNames = Array.isArray(match.serverNames) ? (match.serverNames as unknown[]).map((s) => String(s).toLowerCase()) : [];
    if (chain.tls === undefined) {
      if (serverNames.length > 0) c.fail(`${where}.filterChainMatch.serverNames`, "server names need a TLS transport socket");
      if (plaintext) {
        if (isDefault) return; // the default chain only catches what no chain matched
        c.fail(where, `a second plaintext filter chain (after ${plaintext.name}) has the same match`);
      }
      plaintext = chain;
      return;
    }
    if (serverNames.length === 0) {
      if (tlsDefault) {
        if (isDefault) return;
        c.fail(where, `a second TLS filter chain without server names (after ${tlsDefault.name})`);
      }
      tlsDefault = chain;
      return;
    }
    for (const sn of serverNames) {
      const [map, key] = sn.startsWith("*.") ? [tlsByWildcard, sn.slice(1)] : [tlsByName, sn];
      if (sn.includes("*", sn.startsWith("*.") ? 1 : 0)) c.fail(`${where}.filterChainMatch.serverNames`, `unsupported wildcard ${sn}`);
      const other = map.get(key);
      if (other) c.fail(`${where}.filterChainMatch.serverNames`, `${sn} is also matched by filter chain ${other.name}`);
      map.set(key, chain);
    }
  };
  chainResources.forEach((raw, i) => add(raw, `filterChains[${i}]`, false));
  if (resource.defaultFilterChain !== undefined) add(resource.defaultFilterChain, "defaultFilterChain", true);
  if (chains.size === 0) c.fail("filterChains", "at least one filter chain is required");

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

function compileChain(c: Ctx, listenerName: string, raw: Obj, where: string, secrets: ReadonlyMap<string, EnvoyResource>, contexts: SecureContextCache): CompiledChain {
  c.onlyFields(raw, CHAIN_FIELDS, where);
  const chainName = typeof raw.name === "string" && raw.name !== "" ? raw.name : where;
  const match = raw.filterChainMatch;
  if (match !== undefined) {
    if (!isObj(match)) c.fail(`${where}.filterChainMatch`, "must be an object");
    c.onlyFields(match, MATCH_FIELDS, `${where}.filterChainMatch`);
  }
  const transport = isObj(match) ? match.transportProtocol : undefined;
  if (transport !== undefined && transport !== "" && transport !== "tls" && transport !== "raw_buffer") c.fail(`${where}.filterChainMatch.transportProtocol`, `${String(transport)} is not supported`);

  const filters = Array.isArray(raw.filters) ? raw.filters : [];
  if (filters.length !== 1) c.fail(`${where}.filters`, "exactly one network filter (the HTTP connection manager) is supported");
  const filter = filters[0];
  if (!isObj(filter) || filter.name !== HCM_NAME) c.fail(`${where}.filters[0].name`, `${String(isObj(filter) ? filter.name : filter)} is not supported`);
  const hcm = filter.typedConfig;
  if (!isObj(hcm) || hcm["@type"] !== HCM_TYPE) c.fail(`${where}.filters[0].typedConfig`, "must be an HttpConnectionManager");

  let chainTls: ChainTls | undefined;
  if (raw.transportSocket !== undefined) {
    chainTls = compileTls(c, raw.transportSocket, `${where}.transportSocket`, secrets, contexts);
  } else if (transport === "tls") {
    c.fail(`${where}.transportSocket`, "TLS passthrough is not supported: a tls chain needs a DownstreamTlsContext");
  }
  if (chainTls && transport === "raw_buffer") c.fail(`${where}.filterChainMatch.transportProtocol`, "raw_buffer with a TLS transport socket");

  const codec = hcm.codecType ?? "AUTO";
  if (codec !== "AUTO" && codec !== "HTTP1" && codec !== "HTTP2") c.fail(`${where}.filters[0].typedConfig.codecType`, `${String(codec)} is not supported`);
  return {
    name: chainName,
    ref: { listenerName, chainName, hcm },
    tls: chainTls,
    limits: limitsOf(c, hcm, `${where}.filters[0].typedConfig`),
    codec,
  };
}

function limitsOf(c: Ctx, hcm: Obj, where: string): HttpLimits {
  const common = isObj(hcm.commonHttpProtocolOptions) ? hcm.commonHttpProtocolOptions : {};
  const kb = wrapped(hcm.maxRequestHeadersKb);
  const maxHeaderBytes = kb === undefined ? DEFAULT_LIMITS.maxHeaderBytes : Number(kb) * 1024;
  if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes <= 0) c.fail(`${where}.maxRequestHeadersKb`, `invalid value ${String(kb)}`);
  const count = wrapped(common.maxHeadersCount);
  const maxHeadersCount = count === undefined ? DEFAULT_LIMITS.maxHeadersCount : Number(count);
  if (!Number.isInteger(maxHeadersCount) || maxHeadersCount <= 0) c.fail(`${where}.commonHttpProtocolOptions.maxHeadersCount`, `invalid value ${String(count)}`);
  const requestTimeoutMs = durationMs(hcm.requestTimeout) ?? DEFAULT_LIMITS.requestTimeoutMs;
  let headersTimeoutMs = durationMs(hcm.requestHeadersTimeout) ?? DEFAULT_LIMITS.headersTimeoutMs;
  // Node requires the headers timeout not to exceed the whole-request timeout.
  if (requestTimeoutMs > 0 && (headersTimeoutMs === 0 || headersTimeoutMs > requestTimeoutMs)) headersTimeoutMs = requestTimeoutMs;
  const idleTimeoutMs = durationMs(common.idleTimeout) ?? DEFAULT_LIMITS.idleTimeoutMs;
  const streamIdleTimeoutMs = durationMs(hcm.streamIdleTimeout) ?? DEFAULT_LIMITS.streamIdleTimeoutMs;
  let maxConcurrentStreams = DEFAULT_LIMITS.maxConcurrentStreams;
  if (hcm.http2ProtocolOptions !== undefined) {
    const h2 = isObj(hcm.http2ProtocolOptions) ? hcm.http2ProtocolOptions : {};
    c.onlyFields(h2, H2_OPTION_FIELDS, `${where}.http2ProtocolOptions`);
    const mcs = wrapped(h2.maxConcurrentStreams);
    if (mcs !== undefined) {
      maxConcurrentStreams = Number(mcs);
      if (!Number.isInteger(maxConcurrentStreams) || maxConcurrentStreams < 1 || maxConcurrentStreams > 2 ** 31 - 1) c.fail(`${where}.http2ProtocolOptions.maxConcurrentStreams`, `invalid value ${String(mcs)}`);
    }
  }
  return { maxHeaderBytes, maxHeadersCount, headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, streamIdleTimeoutMs, maxConcurrentStreams, upgradeTypes: upgradeTypesOf(c, hcm.upgradeConfigs, `${where}.upgradeConfigs`) };
}

const H2_OPTION_FIELDS = new Set(["maxConcurrentStreams"]);
const UPGRADE_FIELDS = new Set(["upgradeType", "enabled"]);
/** RFC 9110 §7.8: protocol-name ["/" protocol-version], tokens. */
const PROTOCOL_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+(\/[!#$%&'*+.^_`|~0-9a-z-]+)?$/;

/**
 * The enabled upgrade types, lowercase. Upgraded connections are tunnelled byte for byte
 * after the request went through the chain's HTTP filters; CONNECT (a different
 * mechanism) and per-upgrade filter chains are not supported.
 */
function upgradeTypesOf(c: Ctx, v: unknown, where: string): readonly string[] {
  if (v === undefined) return DEFAULT_LIMITS.upgradeTypes;
  if (!Array.isArray(v)) c.fail(where, "must be a list");
  const out: string[] = [];
  v.forEach((u: unknown, i) => {
    const w = `${where}[${i}]`;
    if (!isObj(u)) c.fail(w, "must be an object");
    if (Array.isArray(u.filters) && u.filters.length > 0) c.fail(`${w}.filters`, "per-upgrade filter chains are not supported (the chain's HTTP filters apply)");
    for (const k of Object.keys(u)) if (k !== "filters" && !UPGRADE_FIELDS.has(k)) c.fail(`${w}.${k}`, "not supported by the proxy");
    const type = typeof u.upgradeType === "string" ? u.upgradeType.toLowerCase() : "";
    if (type === "") c.fail(`${w}.upgradeType`, "required");
    if (type === "connect") c.fail(`${w}.upgradeType`, "CONNECT is not supported");
    if (!PROTOCOL_NAME.test(type)) c.fail(`${w}.upgradeType`, `${String(u.upgradeType)} is not a protocol name`);
    if (wrapped(u.enabled) !== false && !out.includes(type)) out.push(type);
  });
  return out;
}

function compileTls(c: Ctx, ts: unknown, where: string, secrets: ReadonlyMap<string, EnvoyResource>, contexts: SecureContextCache): ChainTls {
  if (!isObj(ts) || ts.name !== TLS_TRANSPORT) c.fail(`${where}.name`, `${String(isObj(ts) ? ts.name : ts)} is not supported`);
  const dtc = ts.typedConfig;
  if (!isObj(dtc) || dtc["@type"] !== DOWNSTREAM_TLS_TYPE) c.fail(`${where}.typedConfig`, "must be a DownstreamTlsContext");
  c.onlyFields(dtc, DOWNSTREAM_TLS_FIELDS, `${where}.typedConfig`);
  const w = `${where}.typedConfig.commonTlsContext`;
  const common = isObj(dtc.commonTlsContext) ? dtc.commonTlsContext : {};
  c.onlyFields(common, COMMON_TLS_FIELDS, w);

  const params = isObj(common.tlsParams) ? common.tlsParams : {};
  c.onlyFields(params, TLS_PARAMS_FIELDS, `${w}.tlsParams`);
  const minName = String(params.tlsMinimumProtocolVersion ?? "TLS_AUTO");
  const maxName = String(params.tlsMaximumProtocolVersion ?? "TLS_AUTO");
  if (!(minName in TLS_VERSIONS)) c.fail(`${w}.tlsParams.tlsMinimumProtocolVersion`, `unknown version ${minName}`);
  if (!(maxName in TLS_VERSIONS)) c.fail(`${w}.tlsParams.tlsMaximumProtocolVersion`, `unknown version ${maxName}`);
  const minVersion = TLS_VERSIONS[minName] ?? "TLSv1.2";
  const maxVersion = TLS_VERSIONS[maxName];
  const ciphers = listParam(c, params.cipherSuites, `${w}.tlsParams.cipherSuites`);
  const ecdhCurve = listParam(c, params.ecdhCurves, `${w}.tlsParams.ecdhCurves`);

  const alpnRaw = Array.isArray(common.alpnProtocols) ? (common.alpnProtocols as unknown[]).map(String) : [];
  for (const p of alpnRaw) if (!ALPN.has(p)) c.fail(`${w}.alpnProtocols`, `${p} is not supported (h2, http/1.1)`);

  // Certificates: SDS references first, then inline ones.
  const materials: { material: CertificateMaterial; where: string }[] = [];
  for (const [i, ref] of (Array.isArray(common.tlsCertificateSdsSecretConfigs) ? common.tlsCertificateSdsSecretConfigs : []).entries()) {
    const f = `${w}.tlsCertificateSdsSecretConfigs[${i}]`;
    const secretName = isObj(ref) ? ref.name : undefined;
    if (typeof secretName !== "string") c.fail(`${f}.name`, "required");
    const secret = secrets.get(secretName);
    if (!secret) c.fail(f, `secret ${secretName} is not known`);
    if (!isObj(secret.tlsCertificate)) c.fail(f, `secret ${secretName} holds no tlsCertificate`);
    materials.push({ material: certificateMaterial(c, secret.tlsCertificate, `secret ${secretName}`), where: `secret ${secretName}` });
  }
  for (const [i, inline] of (Array.isArray(common.tlsCertificates) ? common.tlsCertificates : []).entries()) {
    const f = `${w}.tlsCertificates[${i}]`;
    materials.push({ material: certificateMaterial(c, inline, f), where: f });
  }
  if (materials.length === 0) c.fail(w, "no certificate (tlsCertificateSdsSecretConfigs or tlsCertificates)");

  // Client certificate validation.
  let validation: Obj | undefined;
  let caSecretName: string | undefined;
  if (common.validationContext !== undefined) validation = isObj(common.validationContext) ? common.validationContext : {};
  let sdsRef = common.validationContextSdsSecretConfig;
  if (common.combinedValidationContext !== undefined) {
    const combined = isObj(common.combinedValidationContext) ? common.combinedValidationContext : {};
    c.onlyFields(combined, new Set(["defaultValidationContext", "validationContextSdsSecretConfig"]), `${w}.combinedValidationContext`);
    validation = isObj(combined.defaultValidationContext) ? combined.defaultValidationContext : {};
    sdsRef = combined.validationContextSdsSecretConfig;
  }
  let trustedCaPem: string | undefined;
  if (validation) {
    c.onlyFields(validation, VALIDATION_FIELDS, `${w}.validationContext`);
    if (validation.trustedCa !== undefined) trustedCaPem = dataSource(c, validation.trustedCa, `${w}.validationContext.trustedCa`);
  }
  if (sdsRef !== undefined) {
    caSecretName = isObj(sdsRef) && typeof sdsRef.name === "string" ? sdsRef.name : undefined;
    if (!caSecretName) c.fail(`${w}.validationContextSdsSecretConfig.name`, "required");
    const secret = secrets.get(caSecretName);
    if (!secret) c.fail(`${w}.validationContextSdsSecretConfig`, `secret ${caSecretName} is not known`);
    const vc = secret.validationContext;
    if (!isObj(vc)) c.fail(`${w}.validationContextSdsSecretConfig`, `secret ${caSecretName} holds no validationContext`);
    c.onlyFields(vc, VALIDATION_FIELDS, `secret ${caSecretName}.validationContext`);
    if (vc.trustedCa === undefined) c.fail(`secret ${caSecretName}.validationContext.trustedCa`, "required");
    trustedCaPem = dataSource(c, vc.trustedCa, `secret ${caSecretName}.validationContext.trustedCa`);
    if (vc.matchTypedSubjectAltNames !== undefined && validation?.matchTypedSubjectAltNames === undefined) validation = { ...(validation ?? {}), matchTypedSubjectAltNames: vc.matchTypedSubjectAltNames };
  }
  const sanMatchers = validation?.matchTypedSubjectAltNames !== undefined ? sanMatchersOf(c, validation.matchTypedSubjectAltNames, `${w}.validationContext.matchTypedSubjectAltNames`) : undefined;
  const requireCert = wrapped(dtc.requireClientCertificate) === true;
  if ((requireCert || sanMatchers) && trustedCaPem === undefined) c.fail(`${where}.typedConfig.requireClientCertificate`, "client certificates need a validation context with trusted CAs");

  const certificates = materials.map(({ material, where: mw }) => {
    try {
      return contexts.get({ certificate: material, trustedCaPem, minVersion, maxVersion, ciphers, ecdhCurve });
    } catch (err) {
      return c.fail(mw, `unusable TLS material: ${(err as Error).message}`);
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

function listParam(c: Ctx, v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const items = v.map(String);
  for (const s of items) if (/[[\]|]/.test(s)) c.fail(where, `equal-preference groups (${s}) are not supported`);
  return items.join(":");
}

function certificateMaterial(c: Ctx, tc: unknown, where: string): CertificateMaterial {
  if (!isObj(tc)) c.fail(where, "must be a TlsCertificate");
  c.onlyFields(tc, new Set(["certificateChain", "privateKey"]), where);
  return { chainPem: dataSource(c, tc.certificateChain, `${where}.certificateChain`), keyPem: dataSource(c, tc.privateKey, `${where}.privateKey`) };
}

/** Envoy DataSource: inline only (a proxy reading files named by the control plane would be a hole). */
function dataSource(c: Ctx, ds: unknown, where: string): string {
  if (!isObj(ds)) c.fail(where, "required");
  if (typeof ds.inlineString === "string") return ds.inlineString;
  if (typeof ds.inlineBytes === "string") return Buffer.from(ds.inlineBytes, "base64").toString("utf8");
  if (ds.inlineBytes instanceof Uint8Array) return Buffer.from(ds.inlineBytes).toString("utf8");
  return c.fail(where, "only inlineString and inlineBytes are supported");
}

function sanMatchersOf(c: Ctx, v: unknown, where: string): SanMatcher[] {
  if (!Array.isArray(v)) c.fail(where, "must be a list");
  return v.map((m, i) => {
    const f = `${where}[${i}]`;
    if (!isObj(m)) c.fail(f, "must be an object");
    const prefix = SAN_PREFIX[String(m.sanType)];
    if (!prefix) c.fail(`${f}.sanType`, `${String(m.sanType)} is not supported`);
    if (m.oid !== undefined) c.fail(`${f}.oid`, "not supported");
    const matcher = isObj(m.matcher) ? m.matcher : {};
    const ignoreCase = matcher.ignoreCase === true;
    for (const kind of ["exact", "prefix", "suffix", "contains"] as const) {
      if (typeof matcher[kind] === "string") return { prefix, kind, value: matcher[kind], ignoreCase };
    }
    return c.fail(`${f}.matcher`, "only exact, prefix, suffix and contains matchers are supported");
  });
}
