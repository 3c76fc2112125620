import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrHttpConnectionManager, IrListener } from "../../src/ir/index.js";
import { inboundFilterChains } from "../../src/translate/sidecars.js";
import { irOf, proxy, table, vhost } from "./helpers.js";

const MESH = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop, web] }
`;
const svc = (ns: string, name: string, ports: number[]) => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec: { ports: [${ports.map((p) => `{ name: p${p}, port: ${p} }`).join(", ")}] }
`;
const wl = (ns: string, name: string, port: number, sa: string, services: string[], protocol = "HTTP") => `---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: ${name}, namespace: ${ns} }
spec: { port: ${port}, serviceAccount: ${sa}, protocol: ${protocol}, services: [${services.join(", ")}] }
`;
const PRODUCER = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart-canary, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, port: 9080 }]
  rules:
    - backendRefs: [{ name: cart, port: 9080 }]
    - matches: [{ headers: [{ name: x-canary, value: "1" }] }]
      backendRefs: [{ name: cart-v2, port: 9080 }]
`;
const CONSUMER = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart-for-web, namespace: web }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, namespace: shop }]
  rules:
    - backendRefs: [{ name: cart-v2, namespace: shop, port: 9080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: { name: web-routes, namespace: shop }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web }]
  to: [{ group: "", kind: Service }]
`;
const CONFIG =
  MESH +
  svc("shop", "cart", [9080]) +
  svc("shop", "cart-v2", [9080]) +
  svc("shop", "pay", [80, 9090]) +
  wl("shop", "cart-v1", 19080, "cart", ["cart"]) +
  wl("shop", "cart-v2", 19081, "cart", ["cart", "cart-v2"]) +
  wl("shop", "pay-v1", 19090, "pay", ["pay"], "GRPC") +
  wl("web", "frontend", 18000, "frontend", []) +
  PRODUCER +
  CONSUMER;

const CART = "outbound|9080||cart.shop.svc.cluster.local";
const CART_V2 = "outbound|9080||cart-v2.shop.svc.cluster.local";
const sockets = (ls: readonly IrListener[]) => ls.filter((l): l is Extract<IrListener, { kind: "socket" }> => l.kind === "socket");

test("every Workload in a Mesh gets a sidecar with its SPIFFE identity, SVID and trust bundle", () => {
  const s = irOf(CONFIG);
  assert.deepEqual(s.proxies.map((p) => p.id), ["*", "sidecar~shop~cart-v1", "sidecar~shop~cart-v2", "sidecar~shop~pay-v1", "sidecar~web~frontend"]);
  const p = proxy(s, "sidecar~shop~cart-v1");
  assert.equal(p.role, "sidecar");
  assert.equal(p.identity, "spiffe://app.local/ns/shop/sa/cart");
  assert.deepEqual(p.secrets, [
    { name: "ROOTCA", kind: "trust-bundle", trustDomains: ["app.local"] },
    { name: "default", kind: "svid", spiffeId: "spiffe://app.local/ns/shop/sa/cart" },
  ]);
});

const MESH_WIDE_STRICT = `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
`;

test("inbound: STRICT mTLS chain on address:inboundPort, forwarding the peer identity to the local application", () => {
  const s = irOf(CONFIG + MESH_WIDE_STRICT);
  const p = proxy(s, "sidecar~shop~cart-v1");
  const [inbound, outbound] = sockets(p.listeners);
  assert.deepEqual([inbound!.name, inbound!.address, inbound!.port, inbound!.direction], ["inbound|127.0.0.1_29080", "127.0.0.1", 29080, "inbound"]);
  assert.deepEqual(
    inbound!.filterChains.map((c) => [c.name, c.transport, c.tls]),
    [["inbound|tls", "tls", { certificates: ["default"], clientValidation: { secret: "ROOTCA", subjectAltNames: [] }, requireClientCertificate: true, alpn: ["h2", "http/1.1"], minVersion: "1.2" }]],
  );
  const http = inbound!.filterChains[0]!.http;
  assert.equal(http.forwardClientCert, true);
  assert.equal(http.routeTable, "inbound|shop|cart-v1");
  const local = "inbound|19080||shop/cart-v1";
  assert.deepEqual(table(s, "inbound|shop|cart-v1").virtualHosts[0]!.routes[0]!.action, { kind: "forward", backends: [{ cluster: local, weight: 1 }] });
  assert.deepEqual(s.clusters.get(local), {
    name: local,
    endpoints: [{ address: "127.0.0.1", port: 19080, healthy: true }],
    protocol: "http1",
    connectTimeoutMs: 5000,
    loadBalancer: "ROUND_ROBIN",
  });
  assert.deepEqual([outbound!.name, outbound!.port, outbound!.direction, outbound!.filterChains[0]!.transport, outbound!.filterChains[0]!.http.routeTable], [
    "outbound|127.0.0.1_39080",
    39080,
    "outbound",
    "raw",
    "outbound|shop",
  ]);
  assert.ok(p.clusters.includes(local) && p.clusters.includes(CART));
});

test("the inbound chains follow the mTLS mode: STRICT tls, PERMISSIVE tls + raw, DISABLE raw", () => {
  const http = { routeTable: "t" } as IrHttpConnectionManager;
  const shape = (mode: "STRICT" | "PERMISSIVE" | "DISABLE") => inboundFilterChains(mode, http).map((c) => `${c.transport}:${c.tls?.requireClientCertificate ?? "-"}`);
  assert.deepEqual(shape("STRICT"), ["tls:true"]);
  assert.deepEqual(shape("PERMISSIVE"), ["tls:true", "raw:-"]);
  assert.deepEqual(shape("DISABLE"), ["raw:-"]);
});

test("outbound: a virtual host per Service port with its names; the bare host only for the port it means", () => {
  const s = irOf(CONFIG);
  const shop = table(s, "outbound|shop");
  assert.deepEqual(shop.virtualHosts.map((v) => v.name), [
    "cart-v2.shop.svc.cluster.local:9080",
    "cart.shop.svc.cluster.local:9080",
    "pay.shop.svc.cluster.local:80",
    "pay.shop.svc.cluster.local:9090",
  ]);
  assert.deepEqual(vhost(shop, "cart.shop.svc.cluster.local:9080").domains, [
    "cart.shop.svc.cluster.local",
    "cart.shop.svc.cluster.local:9080",
    "cart.shop.svc",
    "cart.shop.svc:9080",
    "cart.shop",
    "cart.shop:9080",
    "cart",
    "cart:9080",
  ]);
  assert.deepEqual(vhost(shop, "pay.shop.svc.cluster.local:9090").domains, ["pay.shop.svc.cluster.local:9090", "pay.shop.svc:9090", "pay.shop:9090", "pay:9090"]);
  assert.ok(vhost(shop, "pay.shop.svc.cluster.local:80").domains.includes("pay"));
  // Another namespace: no short names (they would mean a Service there).
  assert.ok(!vhost(table(s, "outbound|web"), "cart.shop.svc.cluster.local:9080").domains.some((d) => d.startsWith("cart:") || d === "cart"));
  // A Service without routes: one default route to its cluster.
  assert.deepEqual(vhost(shop, "pay.shop.svc.cluster.local:9090").routes, [
    {
      name: "service/shop/pay/9090",
      match: { path: { kind: "PathPrefix", value: "/" }, headers: [], queryParams: [] },
      action: { kind: "forward", backends: [{ cluster: "outbound|9090||pay.shop.svc.cluster.local", weight: 1 }] },
      source: { kind: "Service", namespace: "shop", name: "pay", rule: 0 },
    },
  ]);
});

test("GAMMA: producer routes apply to every client, a consumer route replaces them for its namespace", () => {
  const s = irOf(CONFIG);
  const shopCart = vhost(table(s, "outbound|shop"), "cart.shop.svc.cluster.local:9080");
  assert.deepEqual(shopCart.routes.map((r) => [r.name, r.action.kind === "forward" && r.action.backends[0]!.cluster]), [
    ["httproute/shop/cart-canary/rule/1/match/0", CART_V2],
    ["httproute/shop/cart-canary/rule/0/match/0", CART],
  ]);
  const webCart = vhost(table(s, "outbound|web"), "cart.shop.svc.cluster.local:9080");
  assert.deepEqual(webCart.routes.map((r) => [r.name, r.action.kind === "forward" && r.action.backends[0]!.cluster]), [["httproute/web/cart-for-web/rule/0/match/0", CART_V2]]);
  assert.equal(proxy(s, "sidecar~web~frontend").routeTables.includes("outbound|web"), true);
  assert.equal(proxy(s, "sidecar~shop~cart-v2").routeTables.includes("outbound|shop"), true);
});

test("mesh clusters: the backing sidecars over mTLS, SANs of their identities (unique, sorted), HTTP/2 for gRPC workloads", () => {
  const s = irOf(CONFIG);
  const cart = s.clusters.get(CART)!;
  assert.deepEqual(cart.endpoints, [
    { address: "127.0.0.1", port: 29080, healthy: true },
    { address: "127.0.0.1", port: 29081, healthy: true },
  ]);
  assert.deepEqual(cart.tls, {
    sni: "cart.shop.svc.cluster.local",
    clientCertificate: "default",
    validationSecret: "ROOTCA",
    subjectAltNames: [{ type: "URI", value: "spiffe://app.local/ns/shop/sa/cart" }],
    alpn: ["http/1.1"],
  });
  const pay = s.clusters.get("outbound|80||pay.shop.svc.cluster.local")!;
  assert.equal(pay.protocol, "http2");
  assert.deepEqual(pay.tls!.alpn, ["h2"]);
  assert.equal(s.clusters.get("inbound|19090||shop/pay-v1")!.protocol, "http2");
});

test("a Service backed by Workloads outside every mesh is reached at the applications, in plaintext; they get no sidecar", () => {
  const s = irOf(MESH + svc("old", "legacy", [8000]) + wl("old", "legacy-v1", 18500, "legacy", ["legacy"]) + wl("shop", "client", 18600, "client", []), ["MG_NO_MESH"]);
  assert.deepEqual(s.proxies.map((p) => p.id), ["*", "sidecar~shop~client"]);
  const c = s.clusters.get("outbound|8000||legacy.old.svc.cluster.local")!;
  assert.deepEqual([c.endpoints, c.tls], [[{ address: "127.0.0.1", port: 18500, healthy: true }], undefined]);
});

test("Workloads whose inbound mTLS is DISABLE are called in plaintext; with mixed modes the mTLS cluster leaves them out", () => {
  const disable = (name: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: shop }
spec: { selector: { matchLabels: { app: ${name} } }, mtls: { mode: DISABLE } }
`;
  const labelled = (name: string, port: number, services: string[]) => wl("shop", name, port, name, services).replace("spec: {", `spec: { labels: { app: ${name} },`);
  const s = irOf(
    MESH +
      svc("shop", "legacy", [9080]) +
      svc("shop", "mixed", [9080]) +
      labelled("old", 9081, ["legacy", "mixed"]) +
      labelled("new", 9082, ["mixed"]) +
      wl("web", "client", 9000, "client", []) +
      disable("old"),
  );
  const legacy = "outbound|9080||legacy.shop.svc.cluster.local|plaintext";
  const mixed = "outbound|9080||mixed.shop.svc.cluster.local";
  assert.deepEqual(proxy(s, "sidecar~web~client").clusters, ["inbound|9000||web/client", legacy, mixed]);
  assert.equal(s.clusters.get(legacy)!.tls, undefined);
  assert.deepEqual(s.clusters.get(legacy)!.endpoints, [{ address: "127.0.0.1", port: 19081, healthy: true }]);
  const m = s.clusters.get(mixed)!;
  assert.deepEqual(m.endpoints, [{ address: "127.0.0.1", port: 19082, healthy: true }]);
  assert.deepEqual(m.tls?.subjectAltNames, [{ type: "URI", value: "spiffe://app.local/ns/shop/sa/new" }]);
});

test("upstreams: a plaintext listener per entry on the Workload's address, its table that one Service port for any Host", () => {
  const withUpstreams = (ns: string, name: string, port: number, upstreams: string) => `---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: ${name}, namespace: ${ns} }
spec: { port: ${port}, serviceAccount: ${name}, sidecar: { upstreams: [${upstreams}] } }
`;
  const s = irOf(
    CONFIG +
      withUpstreams("web", "shopper", 18100, "{ service: shop/cart, port: 9080, localPort: 15001 }, { service: shop/pay, port: 9090, localPort: 15002 }") +
      withUpstreams("web", "browser", 18200, "{ service: shop/cart, port: 9080, localPort: 15011 }") +
      withUpstreams("shop", "basket", 18300, "{ service: cart, port: 9080, localPort: 15021 }"),
  );
  const shopper = proxy(s, "sidecar~web~shopper");
  const listeners = sockets(shopper.listeners);
  assert.deepEqual(listeners.map((l) => [l.name, l.address, l.port, l.direction]), [
    ["inbound|127.0.0.1_28100", "127.0.0.1", 28100, "inbound"],
    ["outbound|127.0.0.1_38100", "127.0.0.1", 38100, "outbound"],
    ["upstream|127.0.0.1_15001", "127.0.0.1", 15001, "outbound"],
    ["upstream|127.0.0.1_15002", "127.0.0.1", 15002, "outbound"],
  ]);
  const [, , cartPort] = listeners;
  assert.deepEqual(
    cartPort!.filterChains.map((c) => [c.name, c.transport, c.tls, c.http.routeTable, c.http.forwardClientCert, c.http.statPrefix]),
    [["upstream|raw", "raw", undefined, "upstream|web|cart.shop.svc.cluster.local:9080", false, "upstream_15001"]],
  );

  // Any Host: one virtual host, the routes the outbound table has for that port and
  // namespace (here web's consumer route, to cart-v2).
  const webCart = table(s, "upstream|web|cart.shop.svc.cluster.local:9080");
  assert.deepEqual(webCart.virtualHosts.map((v) => [v.name, v.domains]), [["cart.shop.svc.cluster.local:9080", ["*"]]]);
  assert.deepEqual(webCart.virtualHosts[0]!.routes, vhost(table(s, "outbound|web"), "cart.shop.svc.cluster.local:9080").routes);
  assert.deepEqual(webCart.virtualHosts[0]!.routes.map((r) => r.action.kind === "forward" && r.action.backends[0]!.cluster), [CART_V2]);
  const webPay = table(s, "upstream|web|pay.shop.svc.cluster.local:9090");
  assert.deepEqual(webPay.virtualHosts[0]!.routes, vhost(table(s, "outbound|web"), "pay.shop.svc.cluster.local:9090").routes);

  // A shop client gets the producer routes (header match first, then the default rule).
  const shopCart = table(s, "upstream|shop|cart.shop.svc.cluster.local:9080");
  assert.deepEqual(shopCart.virtualHosts[0]!.routes.map((r) => r.name), ["httproute/shop/cart-canary/rule/1/match/0", "httproute/shop/cart-canary/rule/0/match/0"]);
  assert.deepEqual(shopCart.virtualHosts[0]!.routes, vhost(table(s, "outbound|shop"), "cart.shop.svc.cluster.local:9080").routes);

  // Sidecars of one namespace share the table; the clusters are the mesh's mTLS clusters.
  assert.ok(proxy(s, "sidecar~web~browser").routeTables.includes("upstream|web|cart.shop.svc.cluster.local:9080"));
  assert.deepEqual(shopper.routeTables, ["inbound|web|shopper", "outbound|web", "upstream|web|cart.shop.svc.cluster.local:9080", "upstream|web|pay.shop.svc.cluster.local:9090"]);
  assert.deepEqual(s.clusters.get(CART_V2)!.tls?.subjectAltNames, [{ type: "URI", value: "spiffe://app.local/ns/shop/sa/cart" }]);
  assert.ok(proxy(s, "sidecar~shop~basket").clusters.includes(CART) && proxy(s, "sidecar~shop~basket").clusters.includes(CART_V2));
  // Workloads without upstreams keep their two listeners.
  assert.equal(sockets(proxy(s, "sidecar~web~frontend").listeners).length, 2);
});
