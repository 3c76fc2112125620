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
