// Route rate limit actions (RouteAction.rateLimits) -> the descriptors a request produces,
// evaluated as Envoy does: a rate limit yields one descriptor, with one entry per action,
// unless an action produces nothing (header absent, header match failed), which drops the
// whole descriptor. Compiled once per route (cached on the decoded route's own array).

import { ProxyFilterUnsupportedError } from "../../errors.js";
import type { EnvoyResource, FilterContext } from "../contracts.js";
import { bool, ConfigPath, FILTER_CONFIG, list, num, object, str, wrapped } from "../config-reader.js";
import { parseIp, maskedAddress } from "./ip.js";
import { clientAddress } from "./local-reply.js";
import { compileHeaderMatcher, headerGetter } from "./matchers.js";

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}
export type Descriptor = readonly DescriptorEntry[];

/** One action: an entry, SKIP (contributes nothing, descriptor kept) or undefined (descriptor dropped). */
type Action = (ctx: FilterContext) => DescriptorEntry | typeof SKIP | undefined;
const SKIP = Symbol("skip");

interface CompiledRateLimit {
  readonly stage: number;
  readonly actions: readonly Action[];
}

function action(value: unknown, where: ConfigPath): Action {
  const o = object(value, where, ["sourceCluster", "destinationCluster", "requestHeaders", "remoteAddress", "genericKey", "headerValueMatch", "maskedRemoteAddress", "metadata", "dynamicMetadata", "queryParameterValueMatch", "queryParameters", "extension"]);
  const kinds = Object.keys(o).filter((k) => k !== "@type");
  if (kinds.length !== 1) where.fail("an action needs exactly one kind");
  const kind = kinds[0]!;
  const w = where.at(kind);
  switch (kind) {
    case "genericKey": {
      const g = object(o.genericKey, w, ["descriptorValue", "descriptorKey"]);
      const entry = { key: str(g.descriptorKey, w.at("descriptorKey"), "generic_key"), value: str(g.descriptorValue, w.at("descriptorValue")) };
      return () => entry;
    }
    case "requestHeaders": {
      const h = object(o.requestHeaders, w, ["headerName", "descriptorKey", "skipIfAbsent"]);
      const get = headerGetter(str(h.headerName, w.at("headerName")).toLowerCase());
      const key = str(h.descriptorKey, w.at("descriptorKey"));
      const skip = bool(h.skipIfAbsent, w.at("skipIfAbsent"));
      return (ctx) => {
        const v = get(ctx);
        return v === undefined ? (skip ? SKIP : undefined) : { key, value: v };
      };
    }
    case "remoteAddress":
      object(o.remoteAddress, w, []);
      return (ctx) => ({ key: "remote_address", value: clientAddress(ctx) });
    case "maskedRemoteAddress": {
      const m = object(o.maskedRemoteAddress, w, ["v4PrefixMaskLen", "v6PrefixMaskLen"]);
      const v4 = wrapped(m.v4PrefixMaskLen, w.at("v4PrefixMaskLen"), (v, x) => num(v, x, 0), 32);
      const v6 = wrapped(m.v6PrefixMaskLen, w.at("v6PrefixMaskLen"), (v, x) => num(v, x, 0), 128);
      if (v4 > 32) w.at("v4PrefixMaskLen").fail(`${v4} is more than 32 bits`);
      if (v6 > 128) w.at("v6PrefixMaskLen").fail(`${v6} is more than 128 bits`);
      return (ctx) => {
        const ip = parseIp(clientAddress(ctx));
        return ip ? { key: "masked_remote_address", value: maskedAddress(ip, v4, v6) } : undefined;
      };
    }
    case "headerValueMatch": {
      const m = object(o.headerValueMatch, w, ["descriptorKey", "descriptorValue", "expectMatch", "headers"]);
      const entry = { key: str(m.descriptorKey, w.at("descriptorKey"), "header_match"), value: str(m.descriptorValue, w.at("descriptorValue")) };
      const expect = wrapped(m.expectMatch, w.at("expectMatch"), (v, x) => bool(v, x), true);
      const headers = list(m.headers, w.at("headers")).map((h, i) => compileHeaderMatcher(h, w.at("headers").at(i)));
      return (ctx) => {
        let matched = true;
        for (let i = 0; i < headers.length && matched; i++) matched = headers[i]!(ctx);
        return matched === expect ? entry : undefined;
      };
    }
    default:
      return w.fail("this rate limit action is not supported by meshgate's proxy");
  }
}

function compileRateLimit(value: unknown, where: ConfigPath): CompiledRateLimit {
  const o = object(value, where, ["stage", "disableKey", "actions"]);
  if (o.disableKey !== undefined && o.disableKey !== "") where.at("disableKey").fail("runtime keys are not supported");
  const stage = wrapped(o.stage, where.at("stage"), (v, w) => num(v, w, 0), 0);
  return { stage, actions: list(o.actions, where.at("actions")).map((a, i) => action(a, where.at("actions").at(i))) };
}

const compiled = new WeakMap<readonly EnvoyResource[], readonly CompiledRateLimit[]>();

/**
 * Compiles (and caches) a route's rate limits; throws ProxyFilterUnsupportedError for
 * actions the proxy cannot evaluate. Route compilers may call it to NACK early.
 */
export function compileRouteRateLimits(rateLimits: readonly EnvoyResource[], where = "route"): readonly CompiledRateLimit[] {
  let c = compiled.get(rateLimits);
  if (!c) {
    const w = new ConfigPath(FILTER_CONFIG, where, "rateLimits");
    try {
      c = rateLimits.map((r, i) => compileRateLimit(r, w.at(i)));
    } catch (e) {
      if (e instanceof ProxyFilterUnsupportedError) throw e;
      throw new ProxyFilterUnsupportedError(where, "rateLimits", (e as Error).message);
    }
    compiled.set(rateLimits, c);
  }
  return c;
}

/** The descriptors a request produces for the rate limits of one stage. */
export function descriptorsFor(ctx: FilterContext, stage: number): readonly Descriptor[] {
  const rateLimits = ctx.routeRateLimits;
  if (!rateLimits || rateLimits.length === 0) return NONE;
  let out: Descriptor[] | undefined;
  for (const rl of compileRouteRateLimits(rateLimits)) {
    if (rl.stage !== stage) continue;
    const entries: DescriptorEntry[] = [];
    let dropped = false;
    for (let i = 0; i < rl.actions.length; i++) {
      const e = rl.actions[i]!(ctx);
      if (e === undefined) {
        dropped = true;
        break;
      }
      if (e !== SKIP) entries.push(e);
    }
    if (!dropped && entries.length > 0) (out ??= []).push(entries);
  }
  return out ?? NONE;
}

const NONE: readonly Descriptor[] = Object.freeze([]);
