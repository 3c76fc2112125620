// Route tables for router tests, built the way a proxy receives them: configuration YAML
// -> model -> translate -> encoded Envoy resources -> decoded -> compiled.

import assert from "node:assert/strict";
import type { EnvoyResource, HeaderMap } from "../../../src/proxy/contracts.js";
import type { ForwardDecision, RouteDecision, RouteInput } from "../../../src/proxy/router/route-decision.js";
import { compileRouteConfiguration, type RouteTable } from "../../../src/proxy/router/route-table.js";
import { translate } from "../../../src/translate/index.js";
import { decodeResource } from "../../../src/xds/envoy-protos.js";
import { buildSnapshots } from "../../../src/xds/resources/build-snapshots.js";
import { modelOf, problemLines } from "../../helpers/model.js";
import { testCertificateSource } from "../../xds/resources/fixtures.js";

const { source } = await testCertificateSource();

/** The gateway `infra/gw`'s RouteConfiguration `table`, decoded as the proxy gets it. */
export function routeConfigOf(yaml: string, options: { table?: string; node?: string; errors?: string[] } = {}): EnvoyResource {
  const result = modelOf(yaml);
  const errors = [...new Set(result.problems.filter((p) => p.severity === "error").map((p) => p.code))].sort();
  assert.deepEqual(errors, [...new Set(options.errors ?? [])].sort(), problemLines(result, "error").join("\n"));
  const set = buildSnapshots(translate(result.model, 1), source);
  const nodeId = options.node ?? "gateway~infra~gw";
  const node = nodeId === "*" ? set.fallback : set.nodes.get(nodeId);
  assert.ok(node, `no node ${nodeId}`);
  const name = options.table ?? "gateway|infra|gw|80";
  const r = node.resources.route.get(name);
  assert.ok(r, `no route table ${name}; have ${[...node.resources.route.keys()].join(", ")}`);
  return decodeResource(r.typeUrl, r.value);
}

export function tableOf(yaml: string, options: { table?: string; node?: string; errors?: string[]; random?: () => number } = {}): RouteTable {
  return compileRouteConfiguration(routeConfigOf(yaml, options), options.random ? { random: options.random } : {});
}

export interface RequestOptions {
  readonly host?: string;
  readonly method?: string;
  readonly headers?: HeaderMap;
  readonly scheme?: "http" | "https";
}

export function req(path: string, o: RequestOptions = {}): RouteInput {
  return { authority: o.host ?? "example.com", path, method: o.method ?? "GET", headers: o.headers ?? {}, scheme: o.scheme ?? "http" };
}

/** The route name a request lands on ("404" when none). */
export function routeName(t: RouteTable, path: string, o: RequestOptions = {}): string {
  return t.route(req(path, o))?.routeName ?? "404";
}

export function forward(d: RouteDecision | undefined): ForwardDecision {
  assert.ok(d, "expected a route to match");
  assert.equal(d.kind, "forward");
  return d;
}

export { seeded } from "../../helpers/seeded-random.js";

/** `rule/N/match/M` of HTTPRoute infra/<route>. */
export const rn = (route: string, rule: number, match = 0, kind = "httproute"): string => `${kind}/infra/${route}/rule/${rule}/match/${match}`;
