import { test } from "node:test";
import assert from "node:assert/strict";
import { rootCertificates } from "node:tls";
import { HTTP_GW, httpRoute, irOf, proxy, service, table, vhost } from "./helpers.js";

const V1 = "outbound|8080||v1.infra.svc.cluster.local";
const CA_PEM = "-----BEGIN CERTIFICATE-----\\nCA\\n-----END CERTIFICATE-----\\n";
const toV1 = httpRoute("r", "    - backendRefs: [{ name: v1, port: 8080 }]\n");

function policy(validation: string, target = "{ group: \"\", kind: Service, name: v1 }", name = "tls"): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: ${name}, namespace: infra }
spec:
  targetRefs: [${target}]
  validation:
${validation}`;
}
const CONFIGMAP = `---
apiVersion: v1
kind: ConfigMap
metadata: { name: ca, namespace: infra }
data:
  ca.crt: "${CA_PEM}"
`;
const CA_REF = "    caCertificateRefs: [{ group: \"\", kind: ConfigMap, name: ca }]\n";

test("a CA bundle from the ConfigMap, the hostname as SNI and as the name to verify", () => {
  const s = irOf(HTTP_GW + service("infra", "v1") + toV1 + CONFIGMAP + policy(CA_REF + "    hostname: v1.example.com\n"));
  assert.deepEqual(s.clusters.get(V1)!.tls, { sni: "v1.example.com", validationSecret: "ca/infra/tls", subjectAltNames: [{ type: "DNS", value: "v1.example.com" }] });
  const gw = proxy(s, "gateway~infra~gw");
  assert.deepEqual(gw.clusters, [V1]);
  assert.deepEqual(gw.secrets, [{ name: "ca/infra/tls", kind: "ca-bundle", caPem: CA_PEM.replaceAll("\\n", "\n") }]);
});

test("subjectAltNames (Hostname and SPIFFE URI) replace the hostname check; System uses the well-known roots", () => {
  const s = irOf(
    HTTP_GW +
      service("infra", "v1") +
      toV1 +
      policy(`    wellKnownCACertificates: System
    hostname: v1.example.com
    subjectAltNames:
      - { type: Hostname, hostname: backend.example.com }
      - { type: URI, uri: "spiffe://partner.example/ns/pay/sa/api" }
`),
  );
  assert.deepEqual(s.clusters.get(V1)!.tls, {
    sni: "v1.example.com",
    validationSecret: "system-ca",
    subjectAltNames: [
      { type: "DNS", value: "backend.example.com" },
      { type: "URI", value: "spiffe://partner.example/ns/pay/sa/api" },
    ],
  });
  const ca = proxy(s, "gateway~infra~gw").secrets.find((x) => x.name === "system-ca");
  assert.equal(ca?.kind, "ca-bundle");
  assert.equal(ca?.kind === "ca-bundle" && ca.caPem.split("-----BEGIN CERTIFICATE-----").length - 1, rootCertificates.length);
});

test("client certificate: the Gateway's backend clientCertificateRef, else its SVID in a mesh; clusters differ per certificate", () => {
  const second = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: meshed, namespace: edge }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 81, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }]
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec: { trustDomain: edge.local, namespaces: [edge] }
---
apiVersion: v1
kind: Secret
metadata: { name: client, namespace: infra }
type: kubernetes.io/tls
stringData:
  tls.crt: "-----BEGIN CERTIFICATE-----\\nCLIENT\\n-----END CERTIFICATE-----\\n"
  tls.key: "-----BEGIN PRIVATE KEY-----\\nCLIENT\\n-----END PRIVATE KEY-----\\n"
`;
  const gwWithCert = HTTP_GW.replace("  listeners:", "  tls: { backend: { clientCertificateRef: { name: client } } }\n  listeners:");
  const route = httpRoute("r", "    - backendRefs: [{ name: v1, port: 8080 }]\n", { parent: "{ name: gw, namespace: infra }, { name: meshed, namespace: edge }" });
  const s = irOf(gwWithCert + second + service("infra", "v1") + route + CONFIGMAP + policy(CA_REF + "    hostname: v1.example.com\n"));

  const own = proxy(s, "gateway~infra~gw");
  assert.deepEqual(own.clusters, [`${V1}|client-cert=infra/client`]);
  assert.equal(s.clusters.get(`${V1}|client-cert=infra/client`)!.tls!.clientCertificate, "infra/client");
  assert.deepEqual(own.secrets.map((x) => `${x.name}:${x.kind}`), ["ca/infra/tls:ca-bundle", "infra/client:certificate"]);

  const meshed = proxy(s, "gateway~edge~meshed");
  assert.deepEqual(meshed.clusters, [`${V1}|client-cert=default`]);
  assert.equal(s.clusters.get(`${V1}|client-cert=default`)!.tls!.clientCertificate, "default");
  assert.deepEqual(meshed.secrets.map((x) => `${x.name}:${x.kind}`), ["ROOTCA:trust-bundle", "ca/infra/tls:ca-bundle", "default:svid"]);
});

test("a policy that cannot be used makes the Service unreachable (500), never plaintext; the client view cannot use TLS either", () => {
  const s = irOf(HTTP_GW + service("infra", "v1") + toV1 + policy(CA_REF + "    hostname: v1.example.com\n"), ["MG_TARGET_NOT_FOUND"]);
  assert.deepEqual(vhost(table(s, "gateway|infra|gw|80"), "*:80").routes[0]!.action, { kind: "direct", status: 500 });
  assert.deepEqual(s.clusters.size, 0);

  const ok = irOf(HTTP_GW + service("infra", "v1") + CONFIGMAP + policy(CA_REF + "    hostname: v1.example.com\n"));
  const client = table(ok, "v1.infra.svc.cluster.local:8080").virtualHosts[0]!;
  assert.deepEqual(client.routes[0]!.action, { kind: "direct", status: 500 });
});

test("sectionName limits the policy to that Service port", () => {
  const twoPorts = `---
apiVersion: v1
kind: Service
metadata: { name: v1, namespace: infra }
spec: { ports: [{ name: http, port: 8080 }, { name: https, port: 8443 }] }
`;
  const s = irOf(
    HTTP_GW +
      twoPorts +
      httpRoute("r", "    - backendRefs: [{ name: v1, port: 8080, weight: 1 }, { name: v1, port: 8443, weight: 1 }]\n") +
      CONFIGMAP +
      policy(CA_REF + "    hostname: v1.example.com\n", '{ group: "", kind: Service, name: v1, sectionName: https }'),
  );
  assert.equal(s.clusters.get("outbound|8080||v1.infra.svc.cluster.local")!.tls, undefined);
  assert.equal(s.clusters.get("outbound|8443||v1.infra.svc.cluster.local")!.tls!.sni, "v1.example.com");
});

// A gateway in mesh "edge" calling a Service whose Workload is in mesh "shop" (another root).
const TWO_MESHES = `---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: edge }
spec: { trustDomain: edge.example, namespaces: [infra], ca: { rootName: edge } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec: { trustDomain: shop.example, namespaces: [shop], ca: { rootName: shop } }
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
const CART = "outbound|9080||cart.shop.svc.cluster.local";
const CART_ID = "spiffe://shop.example/ns/shop/sa/cart";
const toCart = httpRoute("r", "    - backendRefs: [{ name: cart, namespace: shop, port: 9080 }]\n");
const SHOP_CA = CONFIGMAP.replace("namespace: infra", "namespace: shop").replace("name: ca,", "name: shop-root,");
const cartPolicy = (validation: string) => policy(validation, '{ group: "", kind: Service, name: cart }', "shop-root").replace("namespace: infra", "namespace: shop");

test("mesh Services: without a policy the caller verifies with its own mesh bundle; a policy's CA replaces it, keeping mTLS and the SPIFFE IDs", () => {
  const plain = irOf(HTTP_GW + TWO_MESHES + toCart);
  assert.equal(plain.clusters.get(CART)!.tls!.validationSecret, "ROOTCA");
  assert.deepEqual(proxy(plain, "gateway~infra~gw").secrets.find((x) => x.name === "ROOTCA"), { name: "ROOTCA", kind: "trust-bundle", trustDomains: ["edge.example"] });

  const s = irOf(HTTP_GW + TWO_MESHES + toCart + SHOP_CA + cartPolicy('    caCertificateRefs: [{ group: "", kind: ConfigMap, name: shop-root }]\n    hostname: cart.shop.svc.cluster.local\n'));
  assert.deepEqual(s.clusters.get(CART)!.tls, {
    sni: "cart.shop.svc.cluster.local",
    clientCertificate: "default",
    validationSecret: "ca/shop/shop-root",
    subjectAltNames: [{ type: "URI", value: CART_ID }],
    alpn: ["http/1.1"],
  });
  assert.deepEqual(s.clusters.get(CART)!.endpoints, [{ address: "127.0.0.1", port: 29080, healthy: true }]);
  const gw = proxy(s, "gateway~infra~gw");
  assert.deepEqual(gw.secrets.map((x) => `${x.name}:${x.kind}`), ["ROOTCA:trust-bundle", "ca/shop/shop-root:ca-bundle", "default:svid"]);
  // The cart sidecar calls its own Service the same way (the policy is the Service owner's).
  assert.ok(proxy(s, "sidecar~shop~cart-v1").secrets.some((x) => x.name === "ca/shop/shop-root"));

  // subjectAltNames in the policy replace the SPIFFE IDs.
  const named = irOf(HTTP_GW + TWO_MESHES + toCart + SHOP_CA + cartPolicy('    caCertificateRefs: [{ group: "", kind: ConfigMap, name: shop-root }]\n    hostname: cart\n    subjectAltNames: [{ type: URI, uri: "spiffe://shop.example/ns/shop/sa/other" }]\n'));
  assert.deepEqual(named.clusters.get(CART)!.tls!.subjectAltNames, [{ type: "URI", value: "spiffe://shop.example/ns/shop/sa/other" }]);
  assert.equal(named.clusters.get(CART)!.tls!.sni, "cart");
});

test("mesh Services: a policy that cannot be used makes the Service unreachable for mTLS callers; callers without identity stay plaintext", () => {
  const broken = cartPolicy('    caCertificateRefs: [{ group: "", kind: ConfigMap, name: missing }]\n    hostname: cart\n');
  const s = irOf(HTTP_GW + TWO_MESHES + toCart + broken, ["MG_TARGET_NOT_FOUND"]);
  assert.deepEqual(vhost(table(s, "gateway|infra|gw|80"), "*:80").routes[0]!.action, { kind: "direct", status: 500 });
  // A gateway outside every mesh has no certificate to present: plaintext, the sidecar's policy decides.
  const outside = irOf(HTTP_GW + TWO_MESHES.replace("namespaces: [infra]", "namespaces: [edge]") + toCart + broken, ["MG_TARGET_NOT_FOUND"]);
  assert.deepEqual(proxy(outside, "gateway~infra~gw").clusters, [`${CART}|plaintext`]);
});
