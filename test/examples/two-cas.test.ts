// examples/two-cas end to end, as the README walks through it: two meshes with their own
// roots (the gateway's upstream mTLS fails: 503, the verify error in the gateway proxy's
// log, the trust problem in `meshgate status`), the trust doctor's diagnosis on the state
// directory's CA folders, then fix B (keep both roots, trust both) on the same state
// directory: 200 through the gateway. Fix A is in two-cas-one-root.test.ts.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadTrustBundle } from "../../src/pki/index.js";
import { copyExample, meshgate, until, up, type ExampleCopy } from "./two-cas-helpers.js";

let copy: ExampleCopy;
before(async () => {
  copy = await copyExample();
});
after(() => copy.cleanup());

const meshCa = (mesh: string) => join(copy.stateDir, "pki/meshes", mesh);

test("two roots: 503 through the gateway, CERTIFICATE_VERIFY_FAILED in the gateway's log, the trust mismatch in the log and in meshgate status", async () => {
  const run = await up(copy, "two-roots");
  try {
    // (Wait for the 503: a proxy that just bound its listener may answer 404 until its routes arrive.)
    const r = await until("a 503 from the gateway", async () => {
      const x = await run.get("/shop");
      return x.status === 503 ? x : undefined;
    }, run.output);
    assert.equal(r.body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    // The gateway proxy says why: the shop sidecar's certificate does not verify.
    const verifyLine = await until("the verify error in the log", async () => /^.*WARN\s+upstream TLS to 127\.0\.0\.1:\d+ \(cluster outbound\|9080\|\|shop\.shop\.svc\.cluster\.local\) failed: certificate verify failed: unable to get local issuer certificate \(CERTIFICATE_VERIFY_FAILED\).*$/m.exec(run.output())?.[0], run.output);
    assert.match(verifyLine, /gateway=edge\/edge-gateway|worker=\d+/);

    const edgeRoot = loadTrustBundle(join(copy.stateDir, "pki/roots/edge")).roots[0]!.fingerprint256;
    const shopRoot = loadTrustBundle(join(copy.stateDir, "pki/roots/shop")).roots[0]!.fingerprint256;
    // The control plane's warning names both roots and where to look.
    const warning = /^.*WARN\s+trust mismatch: .*$/m.exec(run.output())?.[0] ?? "";
    assert.ok(warning.includes(`Gateway edge/edge-gateway (Mesh edge) calls Service shop/shop:9080 (Mesh shop) over mTLS, but the gateway does not trust Mesh shop's root "O=meshgate, CN=shop.example.org root CA" (sha256 ${shopRoot})`), run.output());
    assert.ok(warning.includes(`the Service's sidecars do not trust Mesh edge's root "O=meshgate, CN=edge.example.org root CA" (sha256 ${edgeRoot})`), warning);
    assert.ok(warning.includes(`diagnose: meshgate trust doctor --client ${meshCa("edge")} --server ${meshCa("shop")}`), warning);

    const status = await until("both proxies synced", async () => {
      const s = await meshgate("status", "--admin", run.admin.replace("http://", ""));
      return s.code === 0 && /config version \S+ is live on all 2 proxies/.test(s.stdout) ? s : undefined;
    }, run.output);
    assert.match(status.stdout, /\nTrust problems \(mTLS on these links fails\):\n {2}Gateway edge\/edge-gateway \(Mesh edge\) calls Service shop\/shop:9080 \(Mesh shop\) over mTLS, but the gateway does not trust Mesh shop's root .*: requests on this route fail with 503\n/);
    assert.match(status.stdout, /\n {4}fix: one root: give Mesh edge and Mesh shop the same spec\.ca\.rootName and spec\.trustDomain/);
    assert.ok(status.stdout.includes(`    fix: trust both roots: a BackendTLSPolicy in namespace shop targeting Service shop, whose validation.caCertificateRefs name a ConfigMap with Mesh shop's root (meshgate trust bundle --from ${meshCa("shop")} --format configmap --name shop-root --namespace shop); and Mesh shop spec.trustedRoots naming a ConfigMap with Mesh edge's root (meshgate trust bundle --from ${meshCa("edge")} --format configmap --name edge-root --namespace shop)`), status.stdout);
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
});

test("trust doctor on the two meshes' CA folders: exit 1, which root each side lacks, fix A and fix B", async () => {
  const d = await meshgate("trust", "doctor", "--client", meshCa("edge"), "--server", meshCa("shop"));
  assert.equal(d.code, 1, d.stderr);
  assert.match(d.stdout, /^client->server: NOT TRUSTED$/m);
  assert.match(d.stdout, /^server->client: NOT TRUSTED$/m);
  assert.match(d.stdout, /^diagnosis: the client and the server chain to different roots, and neither trusts the other's:$/m);
  assert.match(d.stdout, /^ {2}the server lacks the client's root "O=meshgate, CN=edge\.example\.org root CA" \(sha256 [0-9A-F:]+\), of Mesh edge; it verifies with the server's trust store/m);
  assert.match(d.stdout, /^ {2}the client lacks the server's root "O=meshgate, CN=shop\.example\.org root CA" \(sha256 [0-9A-F:]+\), of Mesh shop; it verifies with the client's trust store/m);
  assert.match(d.stdout, /^fix A, one root for both:/m);
  assert.match(d.stdout, /^fix B, keep both roots and trust both:/m);
  assert.ok(d.stdout.includes(`meshgate trust bundle --from ${meshCa("shop")} --format configmap --name shop-root > shop-root.yaml`), d.stdout);
  assert.match(d.stdout, /mutual TLS would fail\n$/);
});

test("fix B: the shop root in a BackendTLSPolicy, the edge root in Mesh shop's trustedRoots: 200, the gateway's identity reaches the app; the doctor agrees", async () => {
  // The README's commands: both roots as ConfigMaps, into fix-trust-both/roots/.
  const roots = join(copy.dir, "fix-trust-both/roots");
  mkdirSync(roots);
  for (const [mesh, name] of [["shop", "shop-root"], ["edge", "edge-root"]] as const) {
    const r = await meshgate("trust", "bundle", "--from", meshCa(mesh), "--format", "configmap", "--name", name, "--namespace", "shop");
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(roots, `${name}.yaml`), r.stdout);
  }
  const run = await up(copy, "fix-trust-both");
  try {
    const r = await until("200 through the gateway", async () => {
      const x = await run.get("/shop");
      return x.status === 200 ? x : undefined;
    }, run.output);
    assert.deepEqual(JSON.parse(r.body), { service: "shop", message: "hello from the shop mesh", caller: "spiffe://edge.example.org/ns/edge/sa/edge-gateway" });
    const status = await meshgate("status", "--admin", run.admin.replace("http://", ""));
    assert.doesNotMatch(status.stdout, /Trust problems/);
    assert.doesNotMatch(run.output(), /trust mismatch|CERTIFICATE_VERIFY_FAILED/);
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
  // Each side's bundle as the proxies now have it: the gateway verifies shop with the
  // policy's ConfigMap; the shop sidecar trusts its own root and the edge root.
  const both = join(copy.dir, "shop-trusts.pem");
  const own = await meshgate("trust", "bundle", "--from", meshCa("shop"));
  const edge = await meshgate("trust", "bundle", "--from", meshCa("edge"));
  writeFileSync(both, own.stdout + edge.stdout);
  const d = await meshgate("trust", "doctor", "--client", meshCa("edge"), "--client-bundle", join(roots, "shop-root.yaml"), "--server", meshCa("shop"), "--server-bundle", both);
  assert.equal(d.code, 0, d.stdout);
  assert.match(d.stdout, /mutual TLS would succeed in both directions/);
});
