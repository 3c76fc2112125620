// envoy.filters.http.jwt_authn: JWT verification as Envoy does it. Each provider looks for
// a token in its locations (default: `Authorization: Bearer` and the `access_token`
// parameter), checks issuer, audiences, times and signature against its JWKS (inline, or
// fetched and cached, refetched when a token names a key it does not know), and on success
// writes the payload to dynamic metadata, claims to headers, and removes the token unless
// `forward`. The first rule matching the path says which providers are required
// (requiresAny / requiresAll / allowMissing / allowMissingOrFailed).
//
// Hot path: requests without a token, and tokens already verified (a bounded cache per
// provider, entries good until the token expires), are answered synchronously; only a
// first sight of a token costs a signature check (asynchronous: WebCrypto).

import { readFileSync } from "node:fs";
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from "jose";
import type { Logger } from "../../telemetry/logger.js";
import type { FilterContext, FilterResult, HttpFilter } from "../contracts.js";
import { bool, ConfigPath, durationMsOr, FILTER_CONFIG, list, num, type Obj, object, str, wrapped } from "../config-reader.js";
import { unwrapFilterConfig } from "./config.js";
import { CONTINUE, localReply } from "./local-reply.js";
import { compileHeaderMatcher, fullMatchRegex, pathOnly } from "./matchers.js";

export const JWT_AUTHN_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
/** Dynamic metadata namespace the payloads are written to. */
export const JWT_AUTHN_METADATA = "envoy.filters.http.jwt_authn";

/** Envoy's status messages (the 401 body). */
export const JWT_MESSAGES = {
  missing: "Jwt is missing",
  badFormat: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
  expired: "Jwt is expired",
  notYetValid: "Jwt not yet valid",
  unknownIssuer: "Jwt issuer is not configured",
  audience: "Audiences in Jwt are not allowed",
  noKey: "Jwks doesn't have key to match kid or alg from Jwt",
  fetchFailed: "Jwks remote fetch is failed",
  verification: "Jwt verification fails",
  expRequired: "Jwt expiration is required",
} as const;

export type JwksFetcher = (uri: string, timeoutMs: number) => Promise<string>;

const DEFAULT_CACHE_DURATION_MS = 600_000;
const DEFAULT_FETCH_TIMEOUT_MS = 1_000;
const DEFAULT_CLOCK_SKEW_S = 60;
const TOKEN_CACHE_SIZE = 1_000;
/** A kid still unknown after a refetch is not refetched for again before this. */
const UNKNOWN_KID_BACKOFF_MS = 30_000;

/** Fetches a JWKS document with undici (loaded on the first fetch: most proxies never fetch one). */
export const fetchJwksWithUndici: JwksFetcher = async (uri, timeoutMs) => {
  const { request } = await import("undici");
  const res = await request(uri, { method: "GET", headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${uri} answered HTTP ${res.statusCode}`);
  }
  return res.body.text();
};

// ---- the JOSE library -------------------------------------------------------------------

// jose costs every worker ~9 MB; only proxies with a jwt_authn filter load it (the filter
// starts loading it when compiled, so it is there by the first request).
type Jose = typeof import("jose");
let jose: Jose | undefined;
let joseLoading: Promise<Jose> | undefined;
function loadJose(): Promise<Jose> {
  joseLoading ??= import("jose").then((m) => (jose = m));
  return joseLoading;
}

// ---- keys -----------------------------------------------------------------------------

/** A parsed JWKS, checked for the shape jose accepts (so a bad one is refused at config time). */
function parseJwks(text: string, where: ConfigPath | undefined): JSONWebKeySet {
  let reason: string;
  try {
    const jwks = JSON.parse(text) as JSONWebKeySet;
    if (jwks && Array.isArray(jwks.keys) && jwks.keys.every((k) => k !== null && typeof k === "object" && !Array.isArray(k))) return jwks;
    reason = "no keys array of objects";
  } catch (e) {
    reason = (e as Error).message;
  }
  if (where) return where.fail(`not a JWKS: ${reason}`);
  throw new Error(`not a JWKS: ${reason}`);
}

async function keySet(jwks: JSONWebKeySet): Promise<JWTVerifyGetKey> {
  return (await loadJose()).createLocalJWKSet(jwks);
}

interface KeySource {
  /** Keys now (sync when known), or a promise while they are fetched. Rejects when they cannot be had. */
  keys(): JWTVerifyGetKey | Promise<JWTVerifyGetKey>;
  /** After a token named an unknown key: fetch again (true when new keys were fetched). */
  refresh(kid: string | undefined): Promise<boolean>;
  /** Bumped whenever the keys change, so verified-token caches can be dropped. */
  readonly generation: number;
}

class LocalKeys implements KeySource {
  readonly generation = 0;
  private set: JWTVerifyGetKey | undefined;
  constructor(private readonly jwks: JSONWebKeySet) {}
  keys(): JWTVerifyGetKey | Promise<JWTVerifyGetKey> {
    return this.set ?? keySet(this.jwks).then((s) => (this.set = s));
  }
  async refresh(): Promise<boolean> {
    return false;
  }
}

class RemoteKeys implements KeySource {
  private set: JWTVerifyGetKey | undefined;
  private fetchedAt = 0;
  private inflight: Promise<JWTVerifyGetKey> | undefined;
  private readonly unknownKids = new Map<string, number>();
  generation = 0;

  constructor(
    private readonly uri: string,
    private readonly timeoutMs: number,
    private readonly cacheMs: number,
    private readonly fetcher: JwksFetcher,
    private readonly log: Logger | undefined,
  ) {}

  keys(): JWTVerifyGetKey | Promise<JWTVerifyGetKey> {
    if (this.set && performance.now() - this.fetchedAt < this.cacheMs) return this.set;
    return this.fetch().catch((e: unknown) => {
      // A stale set beats none while the JWKS endpoint is away.
      if (this.set) return this.set;
      throw e;
    });
  }

  private fetch(): Promise<JWTVerifyGetKey> {
    this.inflight ??= this.fetcher(this.uri, this.timeoutMs)
      .then(async (text) => {
        this.set = await keySet(parseJwks(text, undefined));
        this.fetchedAt = performance.now();
        this.generation++;
        return this.set;
      })
      .catch((e: unknown) => {
        this.log?.warn({ uri: this.uri, err: (e as Error).message }, "JWKS fetch failed");
        throw e;
      })
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  async refresh(kid: string | undefined): Promise<boolean> {
    const key = kid ?? "";
    const last = this.unknownKids.get(key);
    const now = performance.now();
    if (last !== undefined && now - last < UNKNOWN_KID_BACKOFF_MS) return false;
    if (this.unknownKids.size > 100) this.unknownKids.clear();
    this.unknownKids.set(key, now);
    try {
      await this.fetch();
      return true;
    } catch {
      return false;
    }
  }

  prefetch(): void {
    this.fetch().catch(() => undefined);
  }
}

// ---- providers ------------------------------------------------------------------------

type Location = { readonly kind: "header"; readonly name: string; readonly prefix: string } | { readonly kind: "param"; readonly name: string } | { readonly kind: "cookie"; readonly name: string };

interface Found {
  readonly token: string;
  readonly location: Location;
}

type Status =
  | { readonly ok: true; readonly payload: JWTPayload; readonly found: Found }
  | { readonly ok: false; readonly kind: "missing" | "unknownIssuer" | "failed"; readonly message: string };

const MISSING: Status = { ok: false, kind: "missing", message: JWT_MESSAGES.missing };
const UNKNOWN_ISSUER: Status = { ok: false, kind: "unknownIssuer", message: JWT_MESSAGES.unknownIssuer };
type Failure = Extract<Status, { ok: false }>;
const failed = (message: string): Failure => ({ ok: false, kind: "failed", message });

interface CachedToken {
  readonly payload: JWTPayload;
  /** ms since epoch after which the token is expired (skew included); Infinity without exp. */
  readonly expiresAt: number;
}

class Provider {
  readonly index: number;
  readonly issuer: string;
  private readonly audiences: readonly string[];
  readonly locations: readonly Location[];
  private readonly forward: boolean;
  private readonly payloadHeader: string | undefined;
  private readonly padPayloadHeader: boolean;
  private readonly payloadInMetadata: string | undefined;
  private readonly headerInMetadata: string | undefined;
  private readonly claimToHeaders: readonly { readonly header: string; readonly claim: readonly string[] }[];
  private readonly skewS: number;
  private readonly requiresExpiration: boolean;
  private readonly keys: KeySource;
  private readonly cache = new Map<string, CachedToken>();
  private cacheGeneration = 0;
  private readonly cacheSize: number;

  constructor(
    readonly name: string,
    index: number,
    config: unknown,
    where: ConfigPath,
    deps: FilterDepsForJwt,
  ) {
    this.index = index;
    const o = object(config, where, [
      "issuer",
      "audiences",
      "remoteJwks",
      "localJwks",
      "forward",
      "fromHeaders",
      "fromParams",
      "fromCookies",
      "forwardPayloadHeader",
      "padForwardPayloadHeader",
      "payloadInMetadata",
      "headerInMetadata",
      "clockSkewSeconds",
      "jwtCacheConfig",
      "claimToHeaders",
      "requiresExpiration",
    ]);
    this.issuer = str(o.issuer, where.at("issuer"), "");
    this.audiences = list(o.audiences, where.at("audiences")).map((a, i) => str(a, where.at("audiences").at(i)));
    const locations: Location[] = [
      ...list(o.fromHeaders, where.at("fromHeaders")).map((h, i): Location => {
        const w = where.at("fromHeaders").at(i);
        const x = object(h, w, ["name", "valuePrefix"]);
        return { kind: "header", name: str(x.name, w.at("name")).toLowerCase(), prefix: str(x.valuePrefix, w.at("valuePrefix"), "") };
      }),
      ...list(o.fromParams, where.at("fromParams")).map((p, i): Location => ({ kind: "param", name: str(p, where.at("fromParams").at(i)) })),
      ...list(o.fromCookies, where.at("fromCookies")).map((c, i): Location => ({ kind: "cookie", name: str(c, where.at("fromCookies").at(i)) })),
    ];
    // Nothing listed: Envoy's default places.
    this.locations = locations.length > 0 ? locations : [{ kind: "header", name: "authorization", prefix: "Bearer " }, { kind: "param", name: "access_token" }];
    this.forward = bool(o.forward, where.at("forward"));
    this.payloadHeader = o.forwardPayloadHeader === undefined ? undefined : str(o.forwardPayloadHeader, where.at("forwardPayloadHeader")).toLowerCase();
    this.padPayloadHeader = bool(o.padForwardPayloadHeader, where.at("padForwardPayloadHeader"));
    this.payloadInMetadata = o.payloadInMetadata === undefined ? undefined : str(o.payloadInMetadata, where.at("payloadInMetadata"));
    this.headerInMetadata = o.headerInMetadata === undefined ? undefined : str(o.headerInMetadata, where.at("headerInMetadata"));
    this.claimToHeaders = list(o.claimToHeaders, where.at("claimToHeaders")).map((c, i) => {
      const w = where.at("claimToHeaders").at(i);
      const x = object(c, w, ["headerName", "claimName"]);
      return { header: str(x.headerName, w.at("headerName")).toLowerCase(), claim: str(x.claimName, w.at("claimName")).split(".") };
    });
    this.skewS = num(o.clockSkewSeconds, where.at("clockSkewSeconds"), DEFAULT_CLOCK_SKEW_S);
    this.requiresExpiration = bool(o.requiresExpiration, where.at("requiresExpiration"));
    this.cacheSize = o.jwtCacheConfig === undefined ? TOKEN_CACHE_SIZE : num(object(o.jwtCacheConfig, where.at("jwtCacheConfig"), ["jwtCacheSize", "jwtMaxTokenSize"]).jwtCacheSize, where.at("jwtCacheConfig.jwtCacheSize"), TOKEN_CACHE_SIZE);
    if ((o.localJwks === undefined) === (o.remoteJwks === undefined)) where.fail("exactly one of localJwks and remoteJwks is required");
    if (o.localJwks !== undefined) {
      const w = where.at("localJwks");
      const ds = object(o.localJwks, w, ["inlineString", "inlineBytes", "filename"]);
      let text: string;
      if (ds.inlineString !== undefined) text = str(ds.inlineString, w.at("inlineString"));
      else if (ds.inlineBytes !== undefined) text = Buffer.from(str(ds.inlineBytes, w.at("inlineBytes")), "base64").toString("utf8");
      else text = readJwksFile(str(ds.filename, w.at("filename")), w.at("filename"));
      this.keys = new LocalKeys(parseJwks(text, w));
    } else {
      const w = where.at("remoteJwks");
      const r = object(o.remoteJwks, w, ["httpUri", "cacheDuration", "asyncFetch"]);
      const h = object(r.httpUri, w.at("httpUri"), ["uri", "cluster", "timeout"]);
      const uri = str(h.uri, w.at("httpUri.uri"));
      if (!/^https?:\/\//.test(uri)) w.at("httpUri.uri").fail(`${uri} is not an http(s) URL`);
      const remote = new RemoteKeys(uri, durationMsOr(h.timeout, w.at("httpUri.timeout"), DEFAULT_FETCH_TIMEOUT_MS), durationMsOr(r.cacheDuration, w.at("cacheDuration"), DEFAULT_CACHE_DURATION_MS), deps.fetchJwks ?? fetchJwksWithUndici, deps.logger);
      if (r.asyncFetch !== undefined) {
        object(r.asyncFetch, w.at("asyncFetch"), ["fastListener", "failedRefetchDuration"]);
        remote.prefetch();
      }
      this.keys = remote;
    }
  }

  /** The first token in this provider's locations. */
  extract(ctx: FilterContext): Found | undefined {
    for (const l of this.locations) {
      const token = extractFrom(ctx, l);
      if (token) return { token, location: l };
    }
    return undefined;
  }

  verify(found: Found): Status | Promise<Status> {
    if (this.keys.generation !== this.cacheGeneration) {
      this.cache.clear();
      this.cacheGeneration = this.keys.generation;
    }
    const hit = this.cache.get(found.token);
    if (hit) {
      if (Date.now() < hit.expiresAt) return { ok: true, payload: hit.payload, found };
      this.cache.delete(found.token);
      return failed(JWT_MESSAGES.expired);
    }
    const j = jose;
    if (j === undefined) return loadJose().then(() => this.verify(found));
    let claims: JWTPayload;
    let kid: string | undefined;
    try {
      claims = j.decodeJwt(found.token);
      kid = j.decodeProtectedHeader(found.token).kid;
    } catch {
      return failed(JWT_MESSAGES.badFormat);
    }
    if (this.issuer && claims.iss !== this.issuer) return UNKNOWN_ISSUER;
    if (this.requiresExpiration && claims.exp === undefined) return failed(JWT_MESSAGES.expRequired);
    return this.verifySignature(found, kid);
  }

  private async verifySignature(found: Found, kid: string | undefined): Promise<Status> {
    let keys: JWTVerifyGetKey;
    try {
      keys = await this.keys.keys();
    } catch {
      return failed(JWT_MESSAGES.fetchFailed);
    }
    const options = {
      ...(this.issuer ? { issuer: this.issuer } : {}),
      ...(this.audiences.length > 0 ? { audience: [...this.audiences] } : {}),
      clockTolerance: this.skewS,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        const { payload } = await jose!.jwtVerify(found.token, keys, options);
        this.remember(found.token, payload);
        return { ok: true, payload, found };
      } catch (e) {
        if (e instanceof jose!.errors.JWKSNoMatchingKey && attempt === 0 && (await this.keys.refresh(kid))) {
          try {
            keys = await this.keys.keys();
          } catch {
            return failed(JWT_MESSAGES.fetchFailed);
          }
          continue;
        }
        return failed(message(e));
      }
    }
  }

  private remember(token: string, payload: JWTPayload): void {
    if (this.cacheSize <= 0) return;
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, { payload, expiresAt: typeof payload.exp === "number" ? (payload.exp + this.skewS) * 1000 : Infinity });
  }

  /** What a verified token does to the request. */
  apply(ctx: FilterContext, s: Extract<Status, { ok: true }>): void {
    if (this.payloadInMetadata !== undefined || this.headerInMetadata !== undefined) {
      let md = ctx.metadata.get(JWT_AUTHN_METADATA);
      if (!md) ctx.metadata.set(JWT_AUTHN_METADATA, (md = {}));
      if (this.payloadInMetadata !== undefined) md[this.payloadInMetadata] = s.payload;
      // A verified token: jose is loaded.
      if (this.headerInMetadata !== undefined) md[this.headerInMetadata] = jose!.decodeProtectedHeader(s.found.token);
    }
    if (this.payloadHeader !== undefined) {
      const segment = s.found.token.split(".")[1] ?? "";
      ctx.headers[this.payloadHeader] = this.padPayloadHeader ? segment + "=".repeat((4 - (segment.length % 4)) % 4) : segment;
    }
    for (const c of this.claimToHeaders) {
      let v: unknown = s.payload;
      for (const k of c.claim) v = v !== null && typeof v === "object" ? (v as Obj)[k] : undefined;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") ctx.headers[c.header] = String(v);
    }
    if (!this.forward && s.found.location.kind === "header") delete ctx.headers[s.found.location.name];
  }
}

function readJwksFile(file: string, where: ConfigPath): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    return where.fail(`cannot read ${file}: ${(e as Error).message}`);
  }
}

function message(e: unknown): string {
  // Only jose's own errors reach here, so it is loaded.
  const errors = jose!.errors;
  if (e instanceof errors.JWTExpired) return JWT_MESSAGES.expired;
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return JWT_MESSAGES.notYetValid;
    if (e.claim === "aud") return JWT_MESSAGES.audience;
    if (e.claim === "iss") return JWT_MESSAGES.unknownIssuer;
    return JWT_MESSAGES.verification;
  }
  if (e instanceof errors.JWKSNoMatchingKey) return JWT_MESSAGES.noKey;
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return JWT_MESSAGES.badFormat;
  return JWT_MESSAGES.verification;
}

/** Characters a JWT is made of (base64url and the dots), as Envoy scans for them after a prefix. */
function isJwtChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 || c === 46;
}

function extractFrom(ctx: FilterContext, l: Location): string | undefined {
  switch (l.kind) {
    case "header": {
      const raw = ctx.headers[l.name];
      const v = typeof raw === "string" ? raw : raw?.[0];
      if (!v) return undefined;
      if (!l.prefix) return v.trim() || undefined;
      const at = v.indexOf(l.prefix);
      if (at < 0) return undefined;
      let start = at + l.prefix.length;
      while (start < v.length && !isJwtChar(v.charCodeAt(start))) start++;
      let end = start;
      while (end < v.length && isJwtChar(v.charCodeAt(end))) end++;
      return end > start ? v.slice(start, end) : undefined;
    }
    case "param": {
      const raw = ctx.request.rawPath;
      const q = raw.indexOf("?");
      if (q < 0) return undefined;
      return new URLSearchParams(raw.slice(q + 1)).get(l.name) || undefined;
    }
    default: {
      const raw = ctx.headers.cookie;
      const v = typeof raw === "string" ? raw : raw?.join("; ");
      if (!v) return undefined;
      for (const part of v.split(";")) {
        const eq = part.indexOf("=");
        if (eq > 0 && part.slice(0, eq).trim() === l.name) return part.slice(eq + 1).trim() || undefined;
      }
      return undefined;
    }
  }
}

// ---- requirements ---------------------------------------------------------------------

type Requirement =
  | { readonly kind: "provider"; readonly provider: Provider }
  | { readonly kind: "any" | "all"; readonly of: readonly Requirement[] }
  | { readonly kind: "allowMissing" | "allowMissingOrFailed" };

const OK_STATUS: Status = { ok: true, payload: {}, found: { token: "", location: { kind: "param", name: "" } } };

function worstFailure(ss: readonly Status[]): Status {
  let unknown = false;
  for (const s of ss) {
    if (!s.ok && s.kind === "failed") return s;
    if (!s.ok && s.kind === "unknownIssuer") unknown = true;
  }
  return unknown ? UNKNOWN_ISSUER : MISSING;
}

function evaluate(r: Requirement, statuses: readonly Status[]): Status {
  switch (r.kind) {
    case "provider":
      return statuses[r.provider.index]!;
    case "allowMissingOrFailed":
      return OK_STATUS;
    case "allowMissing": {
      // Any token, from any provider's locations, must verify; none at all is fine.
      if (statuses.every((s) => !s.ok && s.kind === "missing") || statuses.some((s) => s.ok)) return OK_STATUS;
      return worstFailure(statuses);
    }
    case "any": {
      const results = r.of.map((x) => evaluate(x, statuses));
      return results.some((s) => s.ok) ? OK_STATUS : worstFailure(results);
    }
    default: {
      for (const x of r.of) {
        const s = evaluate(x, statuses);
        if (!s.ok) return s;
      }
      return OK_STATUS;
    }
  }
}

/** The providers whose tokens a requirement looks at. */
function providersOf(r: Requirement, all: readonly Provider[], into: Set<Provider>): Set<Provider> {
  if (r.kind === "provider") into.add(r.provider);
  else if (r.kind === "any" || r.kind === "all") for (const x of r.of) providersOf(x, all, into);
  else for (const p of all) into.add(p);
  return into;
}

interface CompiledRequirement {
  readonly requirement: Requirement;
  readonly providers: readonly Provider[];
  /** The answer when none of the providers finds a token (the common unauthenticated case). */
  readonly whenAllMissing: Status;
}

function compileRequirement(value: unknown, where: ConfigPath, providers: ReadonlyMap<string, Provider>): Requirement {
  const o = object(value, where, ["providerName", "requiresAny", "requiresAll", "allowMissingOrFailed", "allowMissing"]);
  const kinds = Object.keys(o).filter((k) => k !== "@type");
  if (kinds.length !== 1) where.fail("a requirement needs exactly one kind");
  const kind = kinds[0]!;
  const w = where.at(kind);
  switch (kind) {
    case "providerName": {
      const name = str(o.providerName, w);
      const p = providers.get(name);
      if (!p) return w.fail(`no provider ${JSON.stringify(name)}`);
      return { kind: "provider", provider: p };
    }
    case "requiresAny":
    case "requiresAll": {
      const reqs = list(object(o[kind], w, ["requirements"]).requirements, w.at("requirements")).map((x, i) => compileRequirement(x, w.at("requirements").at(i), providers));
      if (reqs.length < 2) w.at("requirements").fail("needs at least two requirements");
      return { kind: kind === "requiresAny" ? "any" : "all", of: reqs };
    }
    case "allowMissing":
      object(o.allowMissing, w, []);
      return { kind: "allowMissing" };
    default:
      object(o.allowMissingOrFailed, w, []);
      return { kind: "allowMissingOrFailed" };
  }
}

interface Rule {
  readonly matches: (ctx: FilterContext, path: string) => boolean;
  readonly requirement: CompiledRequirement | undefined;
}

function compileRouteMatch(value: unknown, where: ConfigPath): Rule["matches"] {
  const o = object(value, where, ["prefix", "path", "safeRegex", "pathSeparatedPrefix", "caseSensitive", "headers"]);
  const caseSensitive = wrapped(o.caseSensitive, where.at("caseSensitive"), (v, w) => bool(v, w, true), true);
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());
  const headers = list(o.headers, where.at("headers")).map((h, i) => compileHeaderMatcher(h, where.at("headers").at(i)));
  let path: (p: string) => boolean;
  if (o.prefix !== undefined) {
    const prefix = fold(str(o.prefix, where.at("prefix")));
    path = (p) => fold(p).startsWith(prefix);
  } else if (o.path !== undefined) {
    const exact = fold(str(o.path, where.at("path")));
    path = (p) => fold(p) === exact;
  } else if (o.pathSeparatedPrefix !== undefined) {
    const prefix = fold(str(o.pathSeparatedPrefix, where.at("pathSeparatedPrefix")));
    path = (p) => {
      const f = fold(p);
      return f.startsWith(prefix) && (f.length === prefix.length || f.charCodeAt(prefix.length) === 47);
    };
  } else if (o.safeRegex !== undefined) {
    const re = fullMatchRegex(o.safeRegex, where.at("safeRegex"));
    path = (p) => re.test(p);
  } else return where.fail("a rule match needs prefix, path, pathSeparatedPrefix or safeRegex");
  return (ctx, p) => path(p) && headers.every((h) => h(ctx));
}

export interface FilterDepsForJwt {
  readonly fetchJwks?: JwksFetcher;
  readonly logger?: Logger;
}

export function compileJwtAuthn(name: string, config: Obj, deps: FilterDepsForJwt): HttpFilter {
  const where = new ConfigPath(FILTER_CONFIG, name, "");
  const o = object(config, where, ["providers", "rules", "requirementMap", "bypassCorsPreflight"]);
  void loadJose().catch(() => undefined); // a failure shows on the first request
  const providers = new Map<string, Provider>();
  const pw = where.at("providers");
  if (o.providers === null || typeof o.providers !== "object") pw.fail("expected a map of providers");
  for (const [pn, pc] of Object.entries((o.providers ?? {}) as Obj)) providers.set(pn, new Provider(pn, providers.size, pc, pw.at(pn), deps));
  const all = [...providers.values()];
  const compiled = (r: Requirement): CompiledRequirement => {
    const ps = [...providersOf(r, all, new Set())];
    return { requirement: r, providers: ps, whenAllMissing: evaluate(r, all.map(() => MISSING)) };
  };
  const rules: Rule[] = list(o.rules, where.at("rules")).map((r, i) => {
    const w = where.at("rules").at(i);
    const x = object(r, w, ["match", "requires", "requirementName"]);
    if (x.requirementName !== undefined) w.at("requirementName").fail("use requires or a per-route requirementName");
    return { matches: compileRouteMatch(x.match, w.at("match")), requirement: x.requires === undefined ? undefined : compiled(compileRequirement(x.requires, w.at("requires"), providers)) };
  });
  const requirementMap = new Map<string, CompiledRequirement>();
  if (o.requirementMap !== undefined) {
    for (const [rn, rc] of Object.entries(o.requirementMap as Obj)) requirementMap.set(rn, compiled(compileRequirement(rc, where.at("requirementMap").at(rn), providers)));
  }
  const bypassCors = bool(o.bypassCorsPreflight, where.at("bypassCorsPreflight"));

  function requirementFor(ctx: FilterContext): CompiledRequirement | undefined | "unknown" {
    const perRoute = unwrapFilterConfig(ctx.routeFilterConfig?.[name]);
    if (perRoute) {
      if (perRoute.disabled === true) return undefined;
      if (typeof perRoute.requirementName === "string") return requirementMap.get(perRoute.requirementName) ?? "unknown";
    }
    const path = pathOnly(ctx.path);
    for (const r of rules) if (r.matches(ctx, path)) return r.requirement;
    return undefined;
  }

  function finish(ctx: FilterContext, req: CompiledRequirement, statuses: readonly Status[]): FilterResult {
    const result = evaluate(req.requirement, statuses);
    if (!result.ok) return reject(ctx, result);
    for (const p of req.providers) {
      const s = statuses[p.index]!;
      if (s.ok) p.apply(ctx, s);
    }
    return CONTINUE;
  }

  return {
    name,
    decode(ctx): FilterResult | Promise<FilterResult> {
      if (bypassCors && ctx.request.method === "OPTIONS" && ctx.headers.origin !== undefined && ctx.headers["access-control-request-method"] !== undefined) return CONTINUE;
      const req = requirementFor(ctx);
      if (req === undefined) return CONTINUE;
      if (req === "unknown") return reject(ctx, failed(JWT_MESSAGES.verification));
      let statuses: (Status | Promise<Status>)[] | undefined;
      let pending = false;
      for (const p of req.providers) {
        const found = p.extract(ctx);
        if (!found) continue;
        statuses ??= all.map(() => MISSING);
        const s = p.verify(found);
        statuses[p.index] = s;
        if (s instanceof Promise) pending = true;
      }
      if (!statuses) {
        const s = req.whenAllMissing;
        return s.ok ? CONTINUE : reject(ctx, s);
      }
      if (!pending) return finish(ctx, req, statuses as Status[]);
      return Promise.all(statuses).then((done) => finish(ctx, req, done));
    },
  };
}

function reject(ctx: FilterContext, s: Failure): FilterResult {
  const realm = `Bearer realm="${ctx.request.scheme}://${ctx.request.authority}${pathOnly(ctx.path)}"`;
  return localReply(ctx, 401, s.message, { "www-authenticate": s.kind === "missing" ? realm : `${realm}, error="invalid_token"` });
}
