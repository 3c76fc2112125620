// The route and sidecar translators apply what the policy translators decide: these
// tests go through translate() end to end, so a hook left unwired fails here.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrListener } from "../../src/ir/index.js";
import { GATEWAY_CLASS, irOf, proxy, table } from "./helpers.js";

const CONFIG = `${GATEWAY_CLASS}---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop, edge] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: edge }
spec: { gatewayClassName: meshgate, listeners: [{ name: http, port: 8080, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }] }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart-v1, namespace: shop }
spec: { port: 19080, serviceAccount: cart, labels: { app: cart }, services: [cart] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart, namespace: shop }
spec:
  parentRefs: [{ name: edge, namespace: edge }]
  rules: [{ backendRefs: [{ name: cart, port: 9080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: from-edge, namespace: shop }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop }]
  to: [{ group: "", kind: Service }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: cart, namespace: shop }
spec: { selector: { matchLabels: { app: cart } }, mtls: { mode: DISABLE } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: only-edge, namespace: shop }
spec:
  selector: { matchLabels: { app: cart } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: [cluster.local/ns/edge/sa/edge] } }] }]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: edge }
spec:
  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: edge }
  jwtRules: [{ issuer: https://issuer.test, jwksUri: https://issuer.test/jwks }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: cart-limits, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: cart }]
  rateLimit: { type: Local, local: { rules: [{ limit: { requests: 5, unit: Second } }] } }
  circuitBreaker: { maxConnections: 7 }
`;

const sockets = (ls: readonly IrListener[]) => ls.filter((l): l is Extract<IrListener, { kind: "socket" }> => l.kind === "socket");

test("PeerAuthentication and AuthorizationPolicy reach the sidecar's inbound listener", () => {
  const s = irOf(CONFIG);
  const inbound = sockets(proxy(s, "sidecar~shop~cart-v1").listeners).find((l) => l.direction === "inbound")!;
  assert.deepEqual(inbound.filterChains.map((c) => c.transport), ["raw"], "DISABLE: plaintext only");
  const authz = inbound.filterChains[0]!.http.filters.authorization;
  assert.deepEqual(authz?.policies.map((p) => [p.name, p.action]), [["shop/only-edge", "ALLOW"]]);
  assert.deepEqual(authz?.policies[0]?.rules[0]?.from?.[0]?.principals, ["spiffe://app.local/ns/edge/sa/edge"]);
});

test("RequestAuthentication on a Gateway and BackendTrafficPolicy on its route reach the gateway's listener, route and cluster", () => {
  const s = irOf(CONFIG);
  const gw = proxy(s, "gateway~edge~edge");
  const listener = sockets(gw.listeners)[0]!;
  const http = listener.filterChains[0]!.http;
  assert.deepEqual(http.filters.jwtAuthn?.providers.map((p) => p.issuer), ["https://issuer.test"]);
  const route = table(s, http.routeTable).virtualHosts.flatMap((v) => v.routes)[0]!;
  assert.deepEqual(route.localRateLimit?.rules.map((r) => [r.requests, r.unit]), [[5, "Second"]]);
  assert.equal(route.action.kind, "forward");
  const clusterName = route.action.kind === "forward" ? route.action.backends[0]!.cluster! : "";
  assert.match(clusterName, /policy=btp:shop\/cart-limits/);
  assert.equal(s.clusters.get(clusterName)?.circuitBreakers?.maxConnections, 7);
  assert.ok(gw.clusters.includes(clusterName));
});
