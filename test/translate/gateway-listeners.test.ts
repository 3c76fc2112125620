import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrListener } from "../../src/ir/index.js";
import { GATEWAY_CLASS, gateway, httpRoute, irOf, order, proxy, service, table, vhost } from "./helpers.js";

const be = service("infra", "v1");
const GW = "gateway~infra~gw";

function tlsSecret(name: string, marker: string): string {
  return `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: infra }
type: kubernetes.io/tls
stringData:
  tls.crt: "-----BEGIN CERTIFICATE-----\\n${marker}\\n-----END CERTIFICATE-----\\n"
  tls.key: "-----BEGIN PRIVATE KEY-----\\n${marker}\\n-----END PRIVATE KEY-----\\n"
`;
}

const sockets = (ls: readonly IrListener[]) => ls.filter((l): l is Extract<IrListener, { kind: "socket" }> => l.kind === "socket");

test("one socket listener per port on the Gateway's first address; HTTP listeners on a port share a chain and a route table", () => {
  const s = irOf(
    gateway(
      `    - { name: a, port: 80, protocol: HTTP, hostname: a.example.com }
    - { name: b, port: 80, protocol: HTTP, hostname: b.example.com }
    - { name: c, port: 8080, protocol: HTTP }
`,
      "  addresses: [{ type: IPAddress, value: 10.1.2.3 }, { type: IPAddress, value: 10.1.2.4 }]\n",
    ) + be,
  );
  const p = proxy(s, GW);
  assert.equal(p.role, "gateway");
  assert.equal(p.identity, undefined, "outside a mesh: no identity");
  assert.deepEqual(p.secrets, []);
  assert.deepEqual(
    sockets(p.listeners).map((l) => [l.name, l.address, l.port, l.direction, l.filterChains.map((c) => `${c.name}:${c.transport}:${c.http.routeTable}`)]),
    [
      ["10.1.2.3_80", "10.1.2.3", 80, "gateway", ["http|80:raw:gateway|infra|gw|80"]],
      ["10.1.2.3_8080", "10.1.2.3", 8080, "gateway", ["http|8080:raw:gateway|infra|gw|8080"]],
    ],
  );
  assert.deepEqual(p.routeTables, ["gateway|infra|gw|80", "gateway|infra|gw|8080"]);
  // Listener hostnames get their virtual hosts even without routes.
  assert.deepEqual(table(s, "gateway|infra|gw|80").virtualHosts.map((v) => [v.name, v.domains, v.routes.length]), [
    ["a.example.com:80", ["a.example.com", "a.example.com:80"], 0],
    ["b.example.com:80", ["b.example.com", "b.example.com:80"], 0],
  ]);
  const http = sockets(p.listeners)[0]!.filterChains[0]!.http;
  assert.deepEqual(
    { normalizePath: http.normalizePath, mergeSlashes: http.mergeSlashes, escapedSlashes: http.escapedSlashes, forwardClientCert: http.forwardClientCert, upgradeTypes: http.upgradeTypes },
    { normalizePath: true, mergeSlashes: true, escapedSlashes: "UnescapeAndRedirect", forwardClientCert: false, upgradeTypes: ["websocket"] },
  );
});

test("virtual hosts: intersected hostnames, the most specific listener owns a name, exact-hostname routes before wildcard ones", () => {
  const rule = (path: string) => `    - matches: [{ path: { type: Exact, value: ${path} } }]
      backendRefs: [{ name: v1, port: 8080 }]
`;
  const s = irOf(
    gateway(`    - { name: any, port: 80, protocol: HTTP }
    - { name: wild, port: 80, protocol: HTTP, hostname: "*.example.com" }
    - { name: foo, port: 80, protocol: HTTP, hostname: foo.example.com }
`) +
      be +
      httpRoute("r1-any", rule("/r1"), { parent: "{ name: gw, sectionName: any }" }) +
      httpRoute("r2-wild", rule("/r2/with/a/long/path"), { parent: "{ name: gw, sectionName: wild }", hostnames: ["*.example.com"] }) +
      httpRoute("r3-bar", rule("/r3"), { parent: "{ name: gw, sectionName: wild }", hostnames: ["bar.example.com"] }) +
      httpRoute("r4-foo", rule("/r4"), { parent: "{ name: gw, sectionName: foo }" }) +
      httpRoute("r5-all", rule("/r5"), { hostnames: ["foo.example.com", "other.org"] }),
  );
  const t = table(s, "gateway|infra|gw|80");
  const routes = (name: string) => order(vhost(t, name)).map((n) => n.split("/")[2]);
  assert.deepEqual(
    t.virtualHosts.map((v) => v.name),
    ["bar.example.com:80", "foo.example.com:80", "other.org:80", "*.example.com:80", "*:80"],
  );
  // foo.example.com belongs to listener foo: r5 (attached there too) and r4; not r2 (listener wild).
  assert.deepEqual(routes("foo.example.com:80"), ["r4-foo", "r5-all"]);
  // The exact hostname's route goes first even though r2's match is longer.
  assert.deepEqual(routes("bar.example.com:80"), ["r3-bar", "r2-wild"]);
  assert.deepEqual(routes("other.org:80"), ["r5-all", "r1-any"]);
  assert.deepEqual(routes("*.example.com:80"), ["r2-wild"]);
  assert.deepEqual(routes("*:80"), ["r1-any"]);
  assert.deepEqual(vhost(t, "*.example.com:80").domains, ["*.example.com", "*.example.com:80"]);
  assert.deepEqual(vhost(t, "*:80").domains, ["*"]);
});

test("HTTPS: a TLS filter chain per listener, chosen by SNI, with its certificates and its own route table", () => {
  const s = irOf(
    gateway(`    - name: a
      port: 443
      protocol: HTTPS
      hostname: a.example.com
      tls: { certificateRefs: [{ name: a-cert }] }
    - name: fallback
      port: 443
      protocol: HTTPS
      tls: { certificateRefs: [{ name: default-cert }] }
`) +
      be +
      tlsSecret("a-cert", "AAAA") +
      tlsSecret("default-cert", "DDDD") +
      httpRoute("r", "    - backendRefs: [{ name: v1, port: 8080 }]\n", { parent: "{ name: gw, sectionName: a }" }),
  );
  const p = proxy(s, GW);
  const [listener] = sockets(p.listeners);
  assert.deepEqual(
    listener!.filterChains.map((c) => ({ name: c.name, serverNames: c.serverNames, transport: c.transport, tls: c.tls, table: c.http.routeTable })),
    [
      {
        name: "https|443|a",
        serverNames: ["a.example.com"],
        transport: "tls",
        tls: { certificates: ["infra/a-cert"], requireClientCertificate: false, alpn: ["h2", "http/1.1"], minVersion: "1.2" },
        table: "gateway|infra|gw|443|a",
      },
      {
        name: "https|443|fallback",
        serverNames: [],
        transport: "tls",
        tls: { certificates: ["infra/default-cert"], requireClientCertificate: false, alpn: ["h2", "http/1.1"], minVersion: "1.2" },
        table: "gateway|infra|gw|443|fallback",
      },
    ],
  );
  assert.deepEqual(
    p.secrets.map((x) => [x.name, x.kind, x.kind === "certificate" && x.certPem.includes("AAAA")]),
    [
      ["infra/a-cert", "certificate", true],
      ["infra/default-cert", "certificate", false],
    ],
  );
  assert.deepEqual(order(vhost(table(s, "gateway|infra|gw|443|a"), "a.example.com:443")), ["httproute/infra/r/rule/0/match/0"]);
  assert.deepEqual(table(s, "gateway|infra|gw|443|fallback").virtualHosts.map((v) => [v.name, v.routes.length]), [["*:443", 0]]);
});

test("only ready listeners are programmed; a Gateway whose class is not accepted gets no proxy", () => {
  const s = irOf(
    gateway(`    - { name: ok, port: 80, protocol: HTTP }
    - { name: dup1, port: 81, protocol: HTTP, hostname: x.example }
    - { name: dup2, port: 81, protocol: HTTP, hostname: x.example }
`) + be,
    ["MG_LISTENER_CONFLICT"],
  );
  assert.deepEqual(sockets(proxy(s, GW).listeners).map((l) => l.port), [80]);

  const rejected = irOf(
    GATEWAY_CLASS.replace("spec: {", "spec: { parametersRef: { group: example.com, kind: Config, name: c },") +
      `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`,
    ["MG_UNSUPPORTED"],
  );
  assert.deepEqual(rejected.proxies.map((p) => p.id), ["*"]);
});

const MESH = `---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec: { trustDomain: edge.local, namespaces: [infra] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop], ca: { rootName: app } }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart-v1, namespace: shop }
spec: { port: 19080, serviceAccount: cart, services: [cart] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: { name: from-infra, namespace: shop }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra }]
  to: [{ group: "", kind: Service }]
`;
const toCart = httpRoute("r", "    - backendRefs: [{ name: cart, namespace: shop, port: 9080 }]\n");
const CART = "outbound|9080||cart.shop.svc.cluster.local";

test("a Gateway in a Mesh has an identity, its SVID and trust bundle, and reaches mesh Services over mTLS", () => {
  const s = irOf(gateway("    - { name: http, port: 80, protocol: HTTP }\n") + MESH + toCart);
  const p = proxy(s, GW);
  assert.equal(p.identity, "spiffe://edge.local/ns/infra/sa/gw");
  assert.deepEqual(p.clusters, [CART]);
  // The bundle holds its own trust domain only: trusting the root of the mesh it calls
  // into is configured (Mesh trustedRoots, or a BackendTLSPolicy on the Service), never implied.
  assert.deepEqual(p.secrets, [
    { name: "ROOTCA", kind: "trust-bundle", trustDomains: ["edge.local"] },
    { name: "default", kind: "svid", spiffeId: "spiffe://edge.local/ns/infra/sa/gw" },
  ]);
  assert.deepEqual(s.clusters.get(CART)!.tls, {
    sni: "cart.shop.svc.cluster.local",
    clientCertificate: "default",
    validationSecret: "ROOTCA",
    subjectAltNames: [{ type: "URI", value: "spiffe://app.local/ns/shop/sa/cart" }],
    alpn: ["http/1.1"],
  });
  assert.deepEqual(s.clusters.get(CART)!.endpoints, [{ address: "127.0.0.1", port: 29080, healthy: true }]);
});

test("a Gateway outside every mesh reaches mesh Services' sidecars in plaintext (their policy decides)", () => {
  const s = irOf(gateway("    - { name: http, port: 80, protocol: HTTP }\n") + MESH.replace("namespaces: [infra]", "namespaces: [edge]") + toCart);
  const p = proxy(s, GW);
  assert.equal(p.identity, undefined);
  assert.deepEqual(p.clusters, [`${CART}|plaintext`]);
  assert.deepEqual(p.secrets, []);
  const c = s.clusters.get(`${CART}|plaintext`)!;
  assert.equal(c.tls, undefined);
  assert.deepEqual(c.endpoints, [{ address: "127.0.0.1", port: 29080, healthy: true }]);
});
