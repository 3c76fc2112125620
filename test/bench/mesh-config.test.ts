// The mesh benchmark (bench/mesh/) generates meshgate's configuration at run time. These
// tests push it through the real pipeline, so the harness cannot drift from the schema or
// benchmark a mesh with its mTLS, authorization or routing switched off.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadSources } from "../../src/config/index.js";
import { buildModel, type ModelResult } from "../../src/model/index.js";
import { translate } from "../../src/translate/index.js";
import { decodeResource } from "../../src/xds/envoy-protos.js";
import { buildSnapshots } from "../../src/xds/resources/build-snapshots.js";
import type { NodeSnapshot } from "../../src/xds/snapshot.js";
import { A_IDENTITY, APP_NAMESPACE, B_AUTHORITY, EDGE_NAMESPACE, GATEWAY_IDENTITY, GATEWAY_NAME, writeMeshBenchConfig } from "../../bench/mesh/mesh-config.js";
import { runCli, ROOT } from "../helpers/cli.js";
import { problemLines } from "../helpers/model.js";
import { MeshCertificates } from "../../src/runtime/mesh-ca.js";

const PORTS = { gateway: 28030, appA: 28003, appAInbound: 28011, appAOutbound: 28012, appB: 28001, appBInbound: 28021, appBOutbound: 28022 };
let work: string;
let result: ModelResult;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "meshgate-bench-mesh-test-"));
  writeMeshBenchConfig(join(work, "config"), PORTS);
  const sources = await loadSources([join(work, "config")]);
  result = buildModel(sources.documents, sources.problems);
});

after(() => rmSync(work, { recursive: true, force: true }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const decoded = (node: NodeSnapshot, kind: keyof NodeSnapshot["resources"]) => new Map([...node.resources[kind]].map(([name, r]) => [name, decodeResource(r.typeUrl, r.value) as any]));

test("the generated mesh configuration has no problems; the gateway and both sidecars get the path the benchmark measures", async () => {
  assert.deepEqual(problemLines(result), []);
  const certs = new MeshCertificates(join(work, "pki"));
  await certs.prepare(result.model.meshes);
  const snapshots = buildSnapshots(translate(result.model, 1), certs);
  const gateway = snapshots.nodes.get(`gateway~${EDGE_NAMESPACE}~${GATEWAY_NAME}`);
  const a = snapshots.nodes.get(`sidecar~${APP_NAMESPACE}~app-a`);
  const b = snapshots.nodes.get(`sidecar~${APP_NAMESPACE}~app-b`);
  assert.ok(gateway && a && b, [...snapshots.nodes.keys()].join(", "));

  // gateway -> A's sidecar inbound, over mTLS with the gateway's SVID, checking A's identity
  const toA = [...decoded(gateway, "cluster").values()].find((c) => c.transportSocket);
  assert.ok(toA, "the gateway reaches app-a over TLS");
  assert.equal(toA.transportSocket.typedConfig.commonTlsContext.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames[0].matcher.exact, A_IDENTITY);
  assert.deepEqual(decoded(gateway, "endpoint").get(toA.name).endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "127.0.0.1", portValue: PORTS.appAInbound });

  for (const [node, inbound, app, caller] of [[a, PORTS.appAInbound, PORTS.appA, GATEWAY_IDENTITY], [b, PORTS.appBInbound, PORTS.appB, A_IDENTITY]] as const) {
    const listener = decoded(node, "listener").get(`inbound|127.0.0.1_${inbound}`);
    assert.ok(listener, `inbound listener on ${inbound}`);
    assert.deepEqual(listener.filterChains.map((c: { filterChainMatch: { transportProtocol: string } }) => c.filterChainMatch.transportProtocol), ["tls"], "STRICT: TLS only");
    assert.equal(listener.filterChains[0].transportSocket.typedConfig.requireClientCertificate.value, true);
    const rbac = listener.filterChains[0].filters[0].typedConfig.httpFilters.find((f: { name: string }) => f.name.startsWith("envoy.filters.http.rbac"));
    assert.ok(rbac, "an AuthorizationPolicy is enforced on the inbound");
    assert.match(JSON.stringify(rbac.typedConfig.rules.policies), new RegExp(caller.replace(/[./]/g, "\\$&")));
    const local = [...decoded(node, "endpoint").values()].find((e) => e.clusterName.startsWith("inbound|"));
    assert.equal(local.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue, app);
  }

  // A's outbound port routes B's authority (the Host the benchmark's app A sends) to B's sidecar over mTLS.
  const outbound = decoded(a, "listener").get(`outbound|127.0.0.1_${PORTS.appAOutbound}`);
  assert.ok(outbound, "A's sidecar outbound listener");
  const table = [...decoded(a, "route").values()].find((t) => t.name.startsWith("outbound|"));
  const vhost = table.virtualHosts.find((v: { domains: string[] }) => v.domains.includes(B_AUTHORITY));
  assert.ok(vhost, `a virtual host for ${B_AUTHORITY}`);
  const toB = decoded(a, "cluster").get(vhost.routes[0].route.cluster);
  assert.ok(toB.transportSocket, "A's sidecar reaches B's over TLS");
  assert.deepEqual(decoded(a, "endpoint").get(toB.name).endpoints[0].lbEndpoints[0].endpoint.address.socketAddress, { address: "127.0.0.1", portValue: PORTS.appBInbound });
});

test("the generator's command line writes what `meshgate validate` accepts", async () => {
  const out = join(work, "cli-config");
  const args = ["--gateway-port", "28030", "--app-a-port", "28003", "--app-a-inbound", "28011", "--app-a-outbound", "28012", "--app-b-port", "28001", "--app-b-inbound", "28021", "--app-b-outbound", "28022"];
  const gen = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/mesh/mesh-config.ts"), "--out", out, ...args], { cwd: ROOT, encoding: "utf8" });
  assert.equal(gen.status, 0, gen.stderr);
  assert.deepEqual(readdirSync(out).sort(), ["apps.yaml", "gateway.yaml", "mesh.yaml"]);
  const v = await runCli(["validate", "--config", out]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /valid/);
});
