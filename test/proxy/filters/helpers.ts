// Builds filter chains and request contexts for the filter tests: from configuration YAML
// through the real translator and xDS encoding (decoded as the proxy receives them), or
// from hand-written decoded configs.

import { Readable } from "node:stream";
import assert from "node:assert/strict";
import type { DownstreamTls, EnvoyResource, FilterContext, FilterResult, HeaderMap, HttpFilter } from "../../../src/proxy/contracts.js";
import { translate } from "../../../src/translate/index.js";
import { buildSnapshots } from "../../../src/xds/resources/build-snapshots.js";
import { decodeResource } from "../../../src/xds/envoy-protos.js";
import { compileHttpFilters, type FilterDeps } from "../../../src/proxy/filters/index.js";
import { goldenCertificateSource } from "../../golden/xds-certificates.js";
import { modelOf, problemLines } from "../../helpers/model.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Xds {
  /** The httpFilters of a listener's filter chain, decoded. */
  httpFilters(node: string, listener: string, chain?: string): EnvoyResource[];
  /** A route of a route configuration, decoded. */
  route(node: string, table: string, routeName: string): Obj;
}

export async function xdsOf(yaml: string): Promise<Xds> {
  const result = modelOf(yaml);
  const errors = result.problems.filter((p) => p.severity === "error");
  assert.deepEqual(errors, [], problemLines(result, "error").join("\n"));
  const certs = await goldenCertificateSource(result.model.meshes.map((m) => m.trustDomain));
  const set = buildSnapshots(translate(result.model, 1), certs);
  const node = (id: string) => {
    const n = set.nodes.get(id);
    assert.ok(n, `no node ${id}; have ${[...set.nodes.keys()].join(", ")}`);
    return n;
  };
  const decoded = (id: string, kind: "listener" | "route", name: string): Obj => {
    const r = node(id).resources[kind].get(name);
    assert.ok(r, `no ${kind} ${name} for ${id}; have ${[...node(id).resources[kind].keys()].join(", ")}`);
    return decodeResource(r.typeUrl, r.value);
  };
  return {
    httpFilters(id, listener, chain) {
      const l = decoded(id, "listener", listener);
      const c = chain ? l.filterChains.find((x: Obj) => x.name === chain) : l.filterChains[0];
      assert.ok(c, `no chain ${chain} in ${listener}`);
      return c.filters[0].typedConfig.httpFilters;
    },
    route(id, table, routeName) {
      const t = decoded(id, "route", table);
      for (const vh of t.virtualHosts) for (const r of vh.routes) if (r.name === routeName) return r;
      assert.fail(`no route ${routeName} in ${table}`);
    },
  };
}

export interface RequestSpec {
  method?: string;
  path?: string;
  authority?: string;
  scheme?: "http" | "https";
  headers?: HeaderMap;
  remoteAddress?: string;
  localAddress?: string;
  localPort?: number;
  tls?: DownstreamTls;
  metadata?: Map<string, Record<string, unknown>>;
  route?: Obj;
}

export function ctxOf(r: RequestSpec = {}): FilterContext {
  const path = r.path ?? "/";
  const headers: HeaderMap = { ...(r.headers ?? {}) };
  return {
    request: {
      protocol: "http/1.1",
      method: r.method ?? "GET",
      scheme: r.scheme ?? "http",
      authority: r.authority ?? "example.com",
      rawPath: path,
      headers: { ...headers },
      body: Readable.from([]),
      remoteAddress: r.remoteAddress ?? "127.0.0.1",
      remotePort: 40000,
      localAddress: r.localAddress ?? "127.0.0.1",
      localPort: r.localPort ?? 8080,
      ...(r.tls ? { tls: r.tls } : {}),
    },
    path,
    headers,
    metadata: r.metadata ?? new Map(),
    routeFilterConfig: r.route?.typedPerFilterConfig,
    routeRateLimits: r.route?.route?.rateLimits,
  };
}

/** Runs the chain as the connection manager does: in order, stopping at the first local reply. */
export async function run(filters: readonly HttpFilter[], ctx: FilterContext): Promise<FilterResult> {
  for (const f of filters) {
    const r = await f.decode(ctx);
    if (r.action === "respond") return r;
  }
  return { action: "continue" };
}

/** The status a request ends with: 200 when every filter let it through. */
export async function statusOf(filters: readonly HttpFilter[], r: RequestSpec): Promise<number> {
  const res = await run(filters, ctxOf(r));
  return res.action === "respond" ? res.status : 200;
}

export function chain(httpFilters: readonly EnvoyResource[], deps: FilterDeps = {}): HttpFilter[] {
  return compileHttpFilters(httpFilters, deps);
}
