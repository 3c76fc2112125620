// The proxy's ADS client against the real control plane (configuration -> translator ->
// snapshots -> ADS server): initial sync of an HTTPS gateway over the local socket, changes,
// NACKs, losing and regaining the control plane, which endpoints serve secrets, and mTLS
// with a workload SVID.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AdsClient, type AdsClientOptions, type AdsClientStatus } from "../../../src/proxy/xds/ads-client.js";
import type { XdsResourceSet } from "../../../src/proxy/xds/resource-set.js";
import { ControlPlane } from "../../../src/runtime/control-plane.js";
import type { AppliedConfig } from "../../../src/runtime/config-watcher.js";
import { createLogger } from "../../../src/telemetry/logger.js";
import { spiffeIdsOf } from "../../../src/xds/ads-server.js";
import type { ResourceKind } from "../../../src/xds/envoy-protos.js";
import { waitFor } from "../../helpers/ads-server.js";
import { ROOT } from "../../helpers/cli.js";
import { modelOf } from "../../helpers/model.js";
import { tempDir } from "../../pki/helpers.js";

const GW = "gateway~infra~gw";

// The GatewayClass and the shop certificate of the HTTPS golden case.
const docs = readFileSync(join(ROOT, "test/golden/xds/https-listeners.in.yaml"), "utf8").split(/^---$/m);
const GATEWAY_CLASS_AND_CERT = docs.filter((d) => /kind: GatewayClass|name: shop-cert, namespace/.test(d)).join("---");

/** An HTTPS and an HTTP listener, each with its own route, one backend Service. */
const gatewayConfig = (opts: { endpoint?: string; plainPrefix?: string } = {}) => `${GATEWAY_CLASS_AND_CERT}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners:
    - { name: shop, port: 8443, protocol: HTTPS, hostname: shop.example, tls: { mode: Terminate, certificateRefs: [{ name: shop-cert }] } }
    - { name: plain, port: 8080, protocol: HTTP }
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: infra }
spec: { ports: [{ name: http, port: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: app-1, namespace: infra, labels: { kubernetes.io/service-name: app } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: [${opts.endpoint ?? "10.0.0.1"}] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: shop }]
  rules: [{ backendRefs: [{ name: app, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: plain, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: plain }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: ${opts.plainPrefix ?? "/"} } }], backendRefs: [{ name: app, port: 8080 }] }]
`;

const applied = (version: number, yaml: string): AppliedConfig => {
  const result = modelOf(yaml);
  assert.ok(result.model, JSON.stringify(result.problems));
  assert.deepEqual(result.problems.filter((p) => p.severity === "error"), []);
  return { version, result: result as AppliedConfig["result"], files: [], appliedAt: new Date() };
};

async function startControlPlane(t: TestContext, stateDir = tempDir(t), withTls = false): Promise<ControlPlane> {
  const cp = await ControlPlane.start({
    stateDir,
    xds: { host: "127.0.0.1", port: 0 },
    ...(withTls ? { xdsTls: { host: "127.0.0.1", port: 0 } } : {}),
    xdsLocal: join(stateDir, "xds.sock"),
    debounceMs: 5,
    logger: createLogger({ level: "silent" }),
  });
  t.after(() => cp.close());
  return cp;
}

interface Recorder {
  client: AdsClient;
  applies: { kind: ResourceKind; candidate: XdsResourceSet }[];
  statuses: AdsClientStatus[];
  /** Replace to refuse candidates. */
  check: (candidate: XdsResourceSet, kind: ResourceKind) => void;
  maxConcurrent: number;
}

function startClient(t: TestContext, target: string, credentials = grpc.credentials.createInsecure(), nodeId = GW, extra: Partial<AdsClientOptions> = {}): Recorder {
  let inFlight = 0;
  const rec: Recorder = {
    applies: [],
    statuses: [],
    check: () => {},
    maxConcurrent: 0,
    client: undefined as unknown as AdsClient,
  };
  rec.client = new AdsClient({
    target,
    credentials,
    nodeId,
    backoff: { initialMs: 20, maxMs: 100 },
    // Asynchronous on purpose: the client must not hand over the next response before this one settles.
    apply: async (candidate, kind) => {
      inFlight++;
      rec.maxConcurrent = Math.max(rec.maxConcurrent, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 2));
        rec.check(candidate, kind);
        rec.applies.push({ kind, candidate });
      } finally {
        inFlight--;
      }
    },
    ...extra,
  });
  rec.client.onStatus((s) => rec.statuses.push(s));
  t.after(() => rec.client.close());
  rec.client.start();
  return rec;
}

const proxyReport = (cp: ControlPlane, node = GW) => cp.syncz().proxies.find((p) => p.id === node);
const endpointAddress = (set: XdsResourceSet) =>
  ((set.endpoints.values().next().value as { endpoints: { lbEndpoints: { endpoint: { address: { socketAddress: { address: string } } } }[] }[] } | undefined)?.endpoints[0]?.lbEndpoints[0]?.endpoint.address.socketAddress.address);

test("initial sync of an HTTPS gateway over the local socket: every type arrives, nothing is missing, the control plane sees it SYNCED; a change is applied and ACKed", async (t) => {
  const cp = await startControlPlane(t);
  assert.ok(await cp.apply(applied(1, gatewayConfig())));
  const rec = startClient(t, `unix://${cp.ports.xdsLocal}`);
  assert.equal(rec.client.ready, false);
  await waitFor(() => rec.client.ready && proxyReport(cp)?.status === "SYNCED", 5000);
  const s = rec.client.state;
  assert.deepEqual([...s.listeners.keys()].sort(), ["0.0.0.0_8080", "0.0.0.0_8443"]);
  assert.equal(s.routes.size, 2);
  assert.deepEqual([...s.clusters.keys()], ["outbound|8080||app.infra.svc.cluster.local"]);
  assert.deepEqual([...s.endpoints.keys()], ["outbound|8080||app.infra.svc.cluster.local"]);
  assert.deepEqual([...s.secrets.keys()], ["infra/shop-cert"]);
  const secret = s.secrets.get("infra/shop-cert") as { tlsCertificate: { certificateChain: { inlineString: string }; privateKey: { inlineString: string } } };
  assert.match(secret.tlsCertificate.certificateChain.inlineString, /BEGIN CERTIFICATE/);
  assert.match(secret.tlsCertificate.privateKey.inlineString, /BEGIN PRIVATE KEY/);
  assert.deepEqual(s.versions, { listener: "1", route: "1", cluster: "1", endpoint: "1", secret: "1" });
  assert.deepEqual(rec.client.missing(), []);
  assert.deepEqual(rec.statuses, [{ connected: true }]);
  const report = proxyReport(cp)!;
  assert.equal(report.version, "1");
  assert.deepEqual(Object.keys(report.types).sort(), ["CDS", "EDS", "LDS", "RDS", "SDS"]);
  assert.ok(Object.values(report.types).every((x) => x!.status === "SYNCED" && x!.acked?.version === "1"), JSON.stringify(report.types));
  assert.equal(rec.client.counters.nacks, 0);
  assert.equal(rec.client.counters.acks, rec.client.counters.responses);

  // A change to one route and to the endpoints: only those arrive, each as its own apply, and are ACKed.
  const before = rec.client.state;
  const httpsRoute = [...before.routes.entries()].find(([n]) => n.includes("8443"))!;
  const appliesBefore = rec.applies.length;
  assert.ok(await cp.apply(applied(2, gatewayConfig({ endpoint: "10.0.0.2", plainPrefix: "/v2" }))));
  await waitFor(() => proxyReport(cp)?.status === "SYNCED" && proxyReport(cp)?.version === "2", 5000);
  assert.equal(proxyReport(cp)!.status, "SYNCED");
  const after = rec.client.state;
  assert.deepEqual(rec.applies.slice(appliesBefore).map((a) => a.kind).sort(), ["endpoint", "route"]);
  assert.equal(endpointAddress(after), "10.0.0.2");
  assert.equal(after.routes.size, 2, "an RDS response naming one route leaves the other in place");
  assert.equal(after.routes.get(httpsRoute[0]), httpsRoute[1], "the unchanged route is the same object");
  assert.match(JSON.stringify([...after.routes.values()]), /"pathSeparatedPrefix":"\/v2"/);
  assert.equal(after.listeners, before.listeners, "types that did not change keep their map");
  assert.equal(after.secrets, before.secrets);
  assert.equal(after.versions.endpoint, "2");
  assert.equal(after.versions.route, "2");
  assert.equal(rec.maxConcurrent, 1, "responses are applied one at a time");
});

test("a candidate the proxy refuses is NACKed with its message and changes nothing; the next good version clears it", async (t) => {
  const cp = await startControlPlane(t);
  assert.ok(await cp.apply(applied(1, gatewayConfig())));
  const rec = startClient(t, `unix://${cp.ports.xdsLocal}`);
  await waitFor(() => rec.client.ready && proxyReport(cp)?.status === "SYNCED", 5000);
  const good = rec.client.state;

  rec.check = (candidate) => {
    if (endpointAddress(candidate) === "10.0.0.66") throw new Error("ClusterLoadAssignment outbound|8080||app.infra.svc.cluster.local: endpoint 10.0.0.66 is refused");
  };
  assert.ok(await cp.apply(applied(2, gatewayConfig({ endpoint: "10.0.0.66" }))));
  await waitFor(() => proxyReport(cp)?.status === "NACKED", 5000);
  const eds = proxyReport(cp)!.types.EDS!;
  assert.equal(eds.status, "NACKED");
  assert.equal(eds.nacked?.version, "2");
  assert.equal(eds.nacked?.detail, "ClusterLoadAssignment outbound|8080||app.infra.svc.cluster.local: endpoint 10.0.0.66 is refused");
  assert.equal(rec.client.state, good, "the state is the one last applied");
  assert.equal(endpointAddress(rec.client.state), "10.0.0.1");
  assert.equal(rec.client.state.versions.endpoint, "1");
  assert.equal(rec.client.counters.nacks, 1);

  assert.ok(await cp.apply(applied(3, gatewayConfig({ endpoint: "10.0.0.3" }))));
  await waitFor(() => proxyReport(cp)?.status === "SYNCED" && proxyReport(cp)?.version === "3", 5000);
  assert.equal(proxyReport(cp)!.types.EDS!.status, "SYNCED");
  assert.equal(endpointAddress(rec.client.state), "10.0.0.3");
  assert.equal(rec.client.state.versions.endpoint, "3");
});

test("without its control plane the proxy keeps its configuration, reports the loss, and reconnects to a new one without re-applying what did not change", async (t) => {
  const stateDir = tempDir(t);
  const cp1 = await startControlPlane(t, stateDir);
  assert.ok(await cp1.apply(applied(1, gatewayConfig())));
  const target = `unix://${cp1.ports.xdsLocal}`;
  const rec = startClient(t, target);
  await waitFor(() => rec.client.ready && proxyReport(cp1)?.status === "SYNCED", 5000);
  const kept = rec.client.state;
  const appliesBefore = rec.client.counters.applies;

  await cp1.close();
  await waitFor(() => !rec.client.status.connected, 5000);
  assert.equal(rec.client.status.connected, false);
  assert.ok(rec.client.status.error, "the status says why");
  assert.equal(rec.client.state, kept, "the last configuration keeps serving");
  assert.equal(rec.client.ready, true);
  // Several attempts fail while nothing listens (backoff 20..100 ms).
  await new Promise((r) => setTimeout(r, 300));
  const attempts = rec.client.counters.reconnects;
  assert.ok(attempts >= 2, `reconnect attempts: ${attempts}`);
  assert.ok(attempts <= 20, `backoff keeps attempts few: ${attempts}`);

  // A new control plane on the same socket, serving the same configuration (as version 7) but for one endpoint.
  const cp2 = await startControlPlane(t, stateDir);
  assert.equal(`unix://${cp2.ports.xdsLocal}`, target);
  assert.ok(await cp2.apply(applied(7, gatewayConfig({ endpoint: "10.0.0.9" }))));
  await waitFor(() => proxyReport(cp2)?.status === "SYNCED" && proxyReport(cp2)?.version === "7", 5000);
  assert.equal(proxyReport(cp2)!.status, "SYNCED");
  assert.equal(rec.client.status.connected, true);
  // Each failed attempt may report a new reason; the connection itself went up, down, up.
  assert.deepEqual(rec.statuses.map((s) => s.connected).filter((c, i, all) => i === 0 || c !== all[i - 1]), [true, false, true]);
  assert.ok(rec.statuses.filter((s) => !s.connected).every((s) => s.error));
  assert.equal(rec.client.counters.applies, appliesBefore + 1, "only the changed endpoints were applied");
  assert.equal(rec.applies.at(-1)!.kind, "endpoint");
  const now = rec.client.state;
  assert.equal(now.listeners, kept.listeners);
  assert.equal(now.routes, kept.routes);
  assert.equal(now.clusters, kept.clusters);
  assert.equal(now.secrets, kept.secrets);
  assert.equal(endpointAddress(now), "10.0.0.9");
  assert.deepEqual(now.versions, { listener: "7", route: "7", cluster: "7", endpoint: "7", secret: "7" });
});

test("secrets are served over the local socket, never over plaintext TCP: there the gateway's certificate stays missing", async (t) => {
  const cp = await startControlPlane(t);
  assert.ok(await cp.apply(applied(1, gatewayConfig())));
  const plain = startClient(t, `127.0.0.1:${cp.ports.xds}`);
  await waitFor(() => proxyReport(cp)?.status === "SYNCED", 5000);
  assert.equal(plain.client.state.listeners.size, 2);
  assert.equal(plain.client.state.routes.size, 2);
  assert.equal(plain.client.state.endpoints.size, 1);
  assert.equal(plain.client.state.secrets.size, 0);
  assert.deepEqual(plain.client.missing(), ["infra/shop-cert"]);
  assert.deepEqual(plain.client.missingByKind(), { route: [], endpoint: [], secret: ["infra/shop-cert"] });
  assert.equal(plain.client.ready, false);
});

const MESH_CONFIG = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: shop.local, namespaces: [shop] }
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
`;

test("over mTLS with a workload SVID, a sidecar receives its certificate and trust bundle", async (t) => {
  const cp = await startControlPlane(t, tempDir(t), true);
  assert.ok(await cp.apply(applied(1, MESH_CONFIG)));
  const svid = cp.certificates.svid("spiffe://shop.local/ns/shop/sa/cart");
  const creds = grpc.credentials.createSsl(Buffer.from(cp.certificates.trustBundle(["shop.local"])), Buffer.from(svid.keyPem), Buffer.from(svid.certChainPem), {
    checkServerIdentity: (_h, cert) => (spiffeIdsOf(cert.subjectaltname).includes("spiffe://shop.local/meshgate/control-plane") ? undefined : new Error(`unexpected server ${cert.subjectaltname}`)),
  });
  const node = "sidecar~shop~cart-v1";
  const rec = startClient(t, `127.0.0.1:${cp.ports.xdsTls}`, creds, node);
  await waitFor(() => rec.client.ready && proxyReport(cp, node)?.status === "SYNCED", 5000);
  assert.equal(rec.client.ready, true, JSON.stringify(rec.client.missing()));
  assert.deepEqual([...rec.client.state.secrets.keys()].sort(), ["ROOTCA", "default"]);
  assert.equal(proxyReport(cp, node)!.identity, "spiffe://shop.local/ns/shop/sa/cart");
  assert.ok(rec.client.state.listeners.size > 0);
});

test("when a listener goes, its route table leaves the state in the same apply", async (t) => {
  const cp = await startControlPlane(t);
  assert.ok(await cp.apply(applied(1, gatewayConfig())));
  const rec = startClient(t, `unix://${cp.ports.xdsLocal}`);
  await waitFor(() => rec.client.ready && proxyReport(cp)?.status === "SYNCED", 5000);
  assert.equal(rec.client.state.routes.size, 2);
  const withoutPlain = gatewayConfig()
    .replace("    - { name: plain, port: 8080, protocol: HTTP }\n", "")
    .replace(/---\napiVersion: gateway.networking.k8s.io\/v1\nkind: HTTPRoute\nmetadata: \{ name: plain[\s\S]*$/, "");
  assert.ok(await cp.apply(applied(2, withoutPlain)));
  await waitFor(() => proxyReport(cp)?.status === "SYNCED" && proxyReport(cp)?.version === "2", 5000);
  const s = rec.client.state;
  assert.deepEqual([...s.listeners.keys()], ["0.0.0.0_8443"]);
  assert.deepEqual([...s.routes.keys()], ["gateway|infra|gw|8443|shop"]);
  assert.equal(rec.applies.at(-1)!.kind, "listener", "the route table went with the listener, in the same apply");
  assert.equal(rec.applies.at(-1)!.candidate.routes.size, 1);
  assert.deepEqual(rec.client.missing(), []);
  assert.equal(rec.client.counters.nacks, 0);
});

test("a response the client cannot take as it is (a resource of another type, bytes that do not decode) is NACKed without bothering the proxy", async (t) => {
  const { AdsServer } = await import("../../../src/xds/ads-server.js");
  const { node, res, snapshotSet } = await import("../../helpers/xds-snapshots.js");
  const listener = res.listener("l", "r");
  const wrongType = { ...res.cluster("c"), name: "l2", typeUrl: listener.typeUrl };
  // name "c", then a field whose length runs past the end.
  const garbage = { ...res.cluster("c"), value: Uint8Array.from([0x0a, 0x01, 0x63, 0x12, 0x7f, 0x00]) };
  const server = new AdsServer({ security: { mode: "plaintext" }, debounceMs: 5, snapshot: snapshotSet("1", { [GW]: node("1", { listener: [listener], cluster: [garbage] }) }) });
  const port = await server.listen("127.0.0.1:0");
  t.after(() => server.close());
  const rec = startClient(t, `127.0.0.1:${port}`);
  await waitFor(() => rec.client.counters.nacks >= 1 && server.syncz().proxies[0]?.types.CDS?.status === "NACKED", 5000);
  const cds = server.syncz().proxies[0]!.types.CDS!;
  assert.equal(cds.status, "NACKED");
  assert.match(cds.nacked!.detail, /^CDS response: c cannot be decoded: /);
  assert.equal(rec.client.state.clusters.size, 0);
  assert.ok(rec.applies.every((a) => a.kind !== "cluster"), "apply never saw the cluster");

  // The listener set now carries a resource typed as a Listener inside a CDS response.
  server.update(snapshotSet("2", { [GW]: node("2", { listener: [listener], cluster: [wrongType as typeof listener] }) }));
  await waitFor(() => server.syncz().proxies[0]?.types.CDS?.nacked?.version === "2", 5000);
  assert.match(server.syncz().proxies[0]!.types.CDS!.nacked!.detail, /^CDS response: holds a resource of type type\.googleapis\.com\/envoy\.config\.listener\.v3\.Listener/);

  server.update(snapshotSet("3", { [GW]: node("3", { listener: [listener], cluster: [res.cluster("c")] }) }));
  await waitFor(() => server.syncz().proxies[0]?.types.CDS?.status === "SYNCED", 5000);
  assert.deepEqual([...rec.client.state.clusters.keys()], ["c"]);
  assert.equal(rec.client.state.versions.cluster, "3");
  assert.deepEqual(rec.client.missing(), ["c", "r"], "the route table and endpoints the listener and cluster name are not served");
});
