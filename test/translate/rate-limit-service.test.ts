// Global rate limits end to end in the IR: the ratelimit filter on exactly the connection
// managers whose routes carry them, the rate limit service's cluster in those proxies,
// the service address option, and the limits the service is configured with.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrHttpConnectionManager, IrProxy, IrSnapshot } from "../../src/ir/index.js";
import { translate, RATE_LIMIT_CLUSTER } from "../../src/translate/index.js";
import { rateLimitServiceConfig } from "../../src/xds/rate-limit-service-config.js";
import { GATEWAY_CLASS, modelOf, problemLines } from "../helpers/model.js";
import { cluster, irOf, proxy } from "./helpers.js";

const btp = (name: string, target: string, rateLimit: string) => `---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: ${name}, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }]
  rateLimit:
${rateLimit.replace(/^/gm, "    ")}
`;

const GLOBAL = `type: Global
global:
  rules:
    - clientSelectors: [{ headers: [{ name: x-user, type: Distinct }] }]
      limit: { requests: 100, unit: Minute }`;

const LOCAL = `type: Local
local:
  rules:
    - limit: { requests: 5, unit: Second }`;

const GATEWAY = `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners:
    - { name: limited, port: 80, protocol: HTTP }
    - { name: free, port: 8080, protocol: HTTP }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: infra }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: limited, namespace: infra }
spec: { parentRefs: [{ name: gw, sectionName: limited }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: free, namespace: infra }
spec: { parentRefs: [{ name: gw, sectionName: free }], rules: [{ backendRefs: [{ name: web, port: 80 }] }] }
`;

function hcms(p: IrProxy): IrHttpConnectionManager[] {
  return p.listeners.flatMap((l) => (l.kind === "api" ? [l.http] : l.filterChains.map((c) => c.http)));
}

function tableHasGlobal(s: IrSnapshot, name: string): boolean {
  return s.routeTables.get(name)!.virtualHosts.some((vh) => vh.routes.some((r) => (r.globalRateLimit?.rules.length ?? 0) > 0));
}

function translated(yaml: string, options?: Parameters<typeof translate>[2]): IrSnapshot {
  const r = modelOf(yaml);
  assert.deepEqual(problemLines(r, "error"), []);
  return translate(r.model, 1, options);
}

test("a route with a global limit: its listener gets the ratelimit filter, the proxy the service's cluster (default 127.0.0.1:18081)", () => {
  const s = irOf(GATEWAY + btp("limits", "limited", GLOBAL));
  const gw = proxy(s, "gateway~infra~gw");
  const withFilter = hcms(gw).filter((h) => h.filters.globalRateLimit);
  assert.equal(withFilter.length, 1);
  assert.ok(tableHasGlobal(s, withFilter[0]!.routeTable));
  assert.deepEqual(withFilter[0]!.filters.globalRateLimit, { domain: "meshgate", rules: [], serviceCluster: RATE_LIMIT_CLUSTER });
  // The other listener's routes have no global limit: no filter, no call to the service.
  for (const h of hcms(gw).filter((x) => !x.filters.globalRateLimit)) assert.equal(tableHasGlobal(s, h.routeTable), false);
  assert.ok(gw.clusters.includes(RATE_LIMIT_CLUSTER));
  assert.deepEqual([...gw.clusters], [...gw.clusters].sort());
  assert.deepEqual(cluster(s, RATE_LIMIT_CLUSTER), {
    name: RATE_LIMIT_CLUSTER,
    endpoints: [{ address: "127.0.0.1", port: 18081, healthy: true }],
    discovery: "static",
    protocol: "http2",
    connectTimeoutMs: 1000,
    loadBalancer: "ROUND_ROBIN",
  });
  // The limited route keeps naming its policy's domain.
  const limited = [...s.routeTables.values()].flatMap((t) => t.virtualHosts.flatMap((vh) => vh.routes)).find((r) => r.globalRateLimit);
  assert.equal(limited?.globalRateLimit?.domain, "infra/limits");
});

test("the service's limits: one domain per policy, the rule's descriptors", () => {
  const config = rateLimitServiceConfig(irOf(GATEWAY + btp("limits", "limited", GLOBAL)));
  assert.deepEqual(config, [
    {
      domain: "infra/limits",
      descriptors: [{ key: "rule", value: "infra/limits/rule/0/httproute/infra/limited", descriptors: [{ key: "header.x-user", rate_limit: { unit: "minute", requests_per_unit: 100 } }] }],
    },
  ]);
});

test("the rate limit service address: a host name is resolved by the proxies, an IP is static", () => {
  const dns = translated(GATEWAY + btp("limits", "limited", GLOBAL), { rateLimitService: { host: "ratelimit.infra.svc.cluster.local", port: 8081 } });
  const c = cluster(dns, RATE_LIMIT_CLUSTER);
  assert.equal(c.discovery, "dns");
  assert.deepEqual(c.endpoints, [{ address: "ratelimit.infra.svc.cluster.local", port: 8081, healthy: true }]);
  const v6 = cluster(translated(GATEWAY + btp("limits", "limited", GLOBAL), { rateLimitService: { host: "[fd00::7]", port: 8081 } }), RATE_LIMIT_CLUSTER);
  assert.equal(v6.discovery, "static");
  assert.equal(v6.endpoints[0]!.address, "fd00::7");
});

test("an unusable rate limit service address is refused", () => {
  const model = modelOf(GATEWAY).model;
  for (const bad of [{ host: "", port: 8081 }, { host: "rl", port: 0 }, { host: "rl", port: 70_000 }, { host: "rl", port: 1.5 }, { host: "a b", port: 1 }]) {
    assert.throws(() => translate(model, 1, { rateLimitService: bad }), (e: { code?: string }) => e.code === "ERR_TRANSLATE_OPTION_INVALID", JSON.stringify(bad));
  }
});

test("no global limits (none, or local only): no filter, no cluster", () => {
  for (const extra of ["", btp("limits", "limited", LOCAL)]) {
    const s = irOf(GATEWAY + extra);
    const gw = proxy(s, "gateway~infra~gw");
    assert.deepEqual(hcms(gw).filter((h) => h.filters.globalRateLimit), []);
    assert.equal(gw.clusters.includes(RATE_LIMIT_CLUSTER), false);
    assert.equal(s.clusters.has(RATE_LIMIT_CLUSTER), false);
    assert.deepEqual(rateLimitServiceConfig(s), []);
  }
});

const MESH = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [infra] }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: infra }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart-v1, namespace: infra }
spec: { port: 19080, serviceAccount: cart, protocol: HTTP, services: [cart] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: shop, namespace: infra }
spec: { port: 18000, serviceAccount: shop, protocol: HTTP, services: [] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart-route, namespace: infra }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, port: 9080 }]
  rules: [{ backendRefs: [{ name: cart, port: 9080 }] }]
`;

test("mesh routes: sidecars call the service; the proxyless client view gets neither filter nor cluster", () => {
  const s = irOf(MESH + btp("cart-limits", "cart-route", GLOBAL));
  const shop = proxy(s, "sidecar~infra~shop");
  const limitedHcms = hcms(shop).filter((h) => tableHasGlobal(s, h.routeTable));
  assert.ok(limitedHcms.length > 0, "the sidecar's outbound routes carry the limit");
  for (const h of hcms(shop)) assert.equal(h.filters.globalRateLimit !== undefined, tableHasGlobal(s, h.routeTable), h.routeTable);
  assert.ok(shop.clusters.includes(RATE_LIMIT_CLUSTER));
  // gRPC clients run no ratelimit filter and refuse static clusters.
  const client = proxy(s, "*");
  assert.ok(hcms(client).some((h) => tableHasGlobal(s, h.routeTable)), "the client view's routes carry the limit too");
  assert.deepEqual(hcms(client).filter((h) => h.filters.globalRateLimit), []);
  assert.equal(client.clusters.includes(RATE_LIMIT_CLUSTER), false);
});
