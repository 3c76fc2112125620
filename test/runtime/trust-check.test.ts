// The control plane's trust check on the two-cas example: real CAs (MeshCertificates in a
// temporary state directory), the real translator, and the example's own files.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTrustBundle } from "../../src/pki/index.js";
import { MeshCertificates } from "../../src/runtime/mesh-ca.js";
import { checkMeshTrust } from "../../src/runtime/trust-check.js";
import { translate } from "../../src/translate/index.js";
import { ROOT } from "../helpers/cli.js";
import { modelOf, problemLines } from "../helpers/model.js";
import { tempDir } from "../pki/helpers.js";

const EXAMPLE = join(ROOT, "examples/two-cas");
const read = (...files: string[]) => files.map((f) => readFileSync(join(EXAMPLE, f), "utf8")).join("\n---\n");
const BASE = read("base/gateway.yaml", "base/shop.yaml");

async function check(dir: string, yaml: string) {
  const result = modelOf(yaml);
  assert.deepEqual(problemLines(result, "error"), []);
  const certs = new MeshCertificates(dir);
  await certs.prepare(result.model!.meshes);
  return checkMeshTrust(translate(result.model!, 1), certs);
}

/** The ConfigMap `meshgate trust bundle --format configmap` makes from a mesh's CA folder. */
const rootConfigMap = (dir: string, mesh: string, name: string) => loadTrustBundle(join(dir, "meshes", mesh)).toConfigMap(name, "shop");

test("two meshes with their own roots: the gateway -> shop link is reported with both roots, both fixes and the doctor command", async (t) => {
  const dir = tempDir(t);
  const problems = await check(dir, `${BASE}\n---\n${read("two-roots/meshes.yaml")}`);
  assert.equal(problems.length, 1);
  const p = problems[0]!;
  assert.equal(p.caller, "Gateway edge/edge-gateway");
  assert.equal(p.callerId, "spiffe://edge.example.org/ns/edge/sa/edge-gateway");
  assert.deepEqual([p.callerMesh, p.service, p.serviceMesh], ["edge", "shop/shop:9080", "shop"]);
  const edgeRoot = loadTrustBundle(join(dir, "roots/edge")).roots[0]!;
  const shopRoot = loadTrustBundle(join(dir, "roots/shop")).roots[0]!;
  assert.deepEqual(
    p.missing.map((m) => [m.verifier, m.mesh, m.bundle]),
    [
      ["gateway", "shop", "Mesh edge's trust bundle"],
      ["service", "edge", "Mesh shop's trust bundle"],
    ],
  );
  assert.ok(p.missing[0]!.root.includes(shopRoot.fingerprint256) && p.missing[1]!.root.includes(edgeRoot.fingerprint256));
  assert.match(p.message, /^Gateway edge\/edge-gateway \(Mesh edge\) calls Service shop\/shop:9080 \(Mesh shop\) over mTLS, but the gateway does not trust Mesh shop's root "O=meshgate, CN=shop\.example\.org root CA" .*; and the Service's sidecars do not trust Mesh edge's root "O=meshgate, CN=edge\.example\.org root CA" .*fail with 503$/);
  assert.match(p.fixes[0]!, /^one root: give Mesh edge and Mesh shop the same spec\.ca\.rootName and spec\.trustDomain, or spec\.ca\.mode Provided/);
  assert.match(p.fixes[1]!, /^trust both roots: a BackendTLSPolicy in namespace shop targeting Service shop, .*meshgate trust bundle --from \S+\/meshes\/shop --format configmap --name shop-root --namespace shop\); and Mesh shop spec\.trustedRoots .*meshgate trust bundle --from \S+\/meshes\/edge --format configmap --name edge-root --namespace shop\)$/);
  assert.equal(p.doctor, `meshgate trust doctor --client ${join(dir, "meshes/edge")} --server ${join(dir, "meshes/shop")}`);
});

test("fix A (one rootName, one trust domain) leaves nothing to report", async (t) => {
  assert.deepEqual(await check(tempDir(t), `${BASE}\n---\n${read("fix-one-root/meshes.yaml")}`), []);
});

test("fix B: the BackendTLSPolicy alone leaves the shop side; with Mesh shop's trustedRoots nothing is left; a policy with the wrong CA is named", async (t) => {
  const dir = tempDir(t);
  await check(dir, `${BASE}\n---\n${read("two-roots/meshes.yaml")}`); // makes both roots
  const shopRoot = rootConfigMap(dir, "shop", "shop-root");
  const edgeRoot = rootConfigMap(dir, "edge", "edge-root");

  const policyOnly = await check(dir, `${BASE}\n---\n${read("two-roots/meshes.yaml", "fix-trust-both/backend-tls.yaml")}\n---\n${shopRoot}`);
  assert.deepEqual(policyOnly.map((p) => p.missing.map((m) => `${m.verifier} lacks ${m.mesh}`)), [["service lacks edge"]]);
  assert.match(policyOnly[0]!.fixes[1]!, /^trust both roots: Mesh shop spec\.trustedRoots naming a ConfigMap with Mesh edge's root/);

  assert.deepEqual(await check(dir, `${BASE}\n---\n${read("fix-trust-both/meshes.yaml", "fix-trust-both/backend-tls.yaml")}\n---\n${shopRoot}\n---\n${edgeRoot}`), []);

  // The policy names a ConfigMap with the edge root instead: the gateway still cannot verify shop.
  const wrong = await check(dir, `${BASE}\n---\n${read("fix-trust-both/meshes.yaml", "fix-trust-both/backend-tls.yaml")}\n---\n${edgeRoot.replace("name: edge-root", "name: shop-root")}\n---\n${edgeRoot}`);
  assert.deepEqual(wrong.map((p) => p.missing.map((m) => `${m.verifier} lacks ${m.mesh} (${m.bundle})`)), [["gateway lacks shop (the CA of BackendTLSPolicy shop/shop-root)"]]);
  assert.match(wrong[0]!.fixes[1]!, /the ConfigMap that BackendTLSPolicy shop\/shop-root names must hold Mesh shop's root/);
});
