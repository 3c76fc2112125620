import { test } from "node:test";
import assert from "node:assert/strict";
import type { IrSnapshot } from "../../src/ir/index.js";
import { loadSources } from "../../src/config/index.js";
import { buildModel } from "../../src/model/index.js";
import { translate } from "../../src/translate/index.js";
import { conformanceDocuments, conformanceTests } from "../helpers/conformance.js";
import { HTTP_GW, httpRoute, irOf, proxy, table, vhost } from "./helpers.js";

/** Every proxy lists exactly the tables and clusters its listeners lead to, and the snapshot holds them all. */
function assertConsistent(s: IrSnapshot) {
  const ids = s.proxies.map((p) => p.id);
  assert.deepEqual(ids, [...ids].sort(), "proxies sorted by id");
  assert.equal(new Set(ids).size, ids.length, "proxy ids unique");
  const usedTables = new Set<string>();
  const usedClusters = new Set<string>();
  for (const p of s.proxies) {
    const tables = [...new Set(p.listeners.flatMap((l) => (l.kind === "api" ? [l.http.routeTable] : l.filterChains.map((c) => c.http.routeTable))))].sort();
    assert.deepEqual(p.routeTables, tables, `${p.id}: route tables`);
    const clusters = new Set<string>();
    for (const t of tables) {
      const rt = s.routeTables.get(t);
      assert.ok(rt, `${p.id}: route table ${t} missing`);
      for (const vh of rt.virtualHosts) {
        assert.equal(new Set(vh.routes.map((r) => r.name)).size, vh.routes.length, `${t}/${vh.name}: route names unique`);
        for (const r of vh.routes) {
          assert.ok(r.source.name, "every route has a source");
          if (r.action.kind !== "forward") continue;
          for (const b of r.action.backends) if (b.cluster) clusters.add(b.cluster);
          for (const m of r.action.mirrors ?? []) clusters.add(m.cluster);
        }
      }
      usedTables.add(t);
    }
    assert.deepEqual(p.clusters, [...clusters].sort(), `${p.id}: clusters`);
    for (const c of clusters) {
      const cluster = s.clusters.get(c);
      assert.ok(cluster, `${p.id}: cluster ${c} missing`);
      for (const secret of [cluster.tls?.clientCertificate, cluster.tls?.validationSecret]) {
        if (secret) assert.ok(p.secrets.some((x) => x.name === secret), `${p.id}: secret ${secret} of ${c} missing`);
      }
      usedClusters.add(c);
    }
    if (p.role === "client") assert.deepEqual(p.secrets, [], "the client view never holds secrets");
  }
  assert.deepEqual([...s.routeTables.keys()], [...usedTables].sort(), "exactly the used route tables, sorted");
  assert.deepEqual([...s.clusters.keys()], [...usedClusters].sort(), "exactly the used clusters, sorted");
}

async function bookinfo() {
  const sources = await loadSources(["examples/bookinfo"]);
  return buildModel(sources.documents, sources.problems).model;
}

test("Bookinfo: one gateway, six sidecars and the client view; the gateway reaches productpage over mTLS", async () => {
  const s = translate(await bookinfo(), 7);
  assert.equal(s.version, 7);
  assertConsistent(s);
  assert.deepEqual(s.proxies.map((p) => p.id), [
    "*",
    "gateway~ingress~bookinfo-gateway",
    "sidecar~bookinfo~details-v1",
    "sidecar~bookinfo~productpage-v1",
    "sidecar~bookinfo~ratings-v1",
    "sidecar~bookinfo~reviews-v1",
    "sidecar~bookinfo~reviews-v2",
    "sidecar~bookinfo~reviews-v3",
  ]);
  const gw = proxy(s, "gateway~ingress~bookinfo-gateway");
  assert.equal(gw.identity, "spiffe://bookinfo.local/ns/ingress/sa/bookinfo-gateway");
  assert.deepEqual(gw.clusters, ["outbound|9080||productpage.bookinfo.svc.cluster.local"]);
  assert.deepEqual(s.clusters.get("outbound|9080||productpage.bookinfo.svc.cluster.local")!.tls!.subjectAltNames, [{ type: "URI", value: "spiffe://bookinfo.local/ns/bookinfo/sa/bookinfo-productpage" }]);
  assert.deepEqual(vhost(table(s, "gateway|ingress|bookinfo-gateway|8080"), "*:8080").routes.map((r) => `${r.match.path.kind} ${r.match.path.value}`), [
    "Exact /productpage",
    "Exact /logout",
    "Exact /login",
    "PathPrefix /api/v1/products",
    "PathPrefix /static",
  ]);
  const reviews = vhost(table(s, "outbound|bookinfo"), "reviews.bookinfo.svc.cluster.local:9080").routes[0]!.action;
  assert.deepEqual(reviews.kind === "forward" && reviews.backends.map((b) => `${b.cluster} ${b.weight}`), [
    "outbound|9080||reviews-v1.bookinfo.svc.cluster.local 50",
    "outbound|9080||reviews-v2.bookinfo.svc.cluster.local 25",
    "outbound|9080||reviews-v3.bookinfo.svc.cluster.local 25",
  ]);
});

test("deterministic: translating twice, or from a reordered configuration, gives the same IR", async () => {
  const model = await bookinfo();
  assert.deepEqual(translate(model, 1), translate(model, 1));
  const sources = await loadSources(["examples/bookinfo"]);
  const reversed = buildModel([...sources.documents].reverse(), sources.problems).model;
  assert.deepEqual(translate(reversed, 1), translate(model, 1));
});

test("a Gateway routing to a Service with GAMMA routes uses the Service's cluster (GAMMA is east-west only)", () => {
  const s = irOf(
    HTTP_GW +
      `---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: infra }
spec: { ports: [{ name: http, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api-v2, namespace: infra }
spec: { ports: [{ name: http, port: 8080 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api-split, namespace: infra }
spec:
  parentRefs: [{ group: "", kind: Service, name: api }]
  rules: [{ backendRefs: [{ name: api-v2, port: 8080 }] }]
` +
      httpRoute("edge", "    - backendRefs: [{ name: api, port: 8080 }]\n"),
  );
  assertConsistent(s);
  assert.deepEqual(proxy(s, "gateway~infra~gw").clusters, ["outbound|8080||api.infra.svc.cluster.local"]);
});

test("EndpointSlice endpoints: sorted, readiness kept as health, zone kept", () => {
  const s = irOf(`apiVersion: v1
kind: Service
metadata: { name: web, namespace: apps }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: apps, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - { addresses: [10.0.0.9], conditions: { ready: false }, zone: z2 }
  - { addresses: [10.0.0.3], zone: z1 }
`);
  assert.deepEqual(s.clusters.get("outbound|80||web.apps.svc.cluster.local")!.endpoints, [
    { address: "10.0.0.3", port: 8080, healthy: true, zone: "z1" },
    { address: "10.0.0.9", port: 8080, healthy: false, zone: "z2" },
  ]);
});

for (const file of conformanceTests()) {
  test(`conformance ${file}: translates, consistently, with every attached route programmed`, () => {
    const model = buildModel(conformanceDocuments(file)).model;
    const s = translate(model, 1);
    assertConsistent(s);
    const programmed = new Set(s.proxies.flatMap((p) => p.routeTables).flatMap((t) => s.routeTables.get(t)!.virtualHosts.flatMap((v) => v.routes.map((r) => `${r.source.namespace}/${r.source.name}`))));
    for (const route of model.routes) {
      const attached = route.parents.some((p) => p.kind === "Gateway" && p.listeners.length > 0);
      if (attached) assert.ok(programmed.has(`${route.resource.namespace}/${route.resource.name}`), `${route.resource.name} not programmed`);
    }
  });
}
