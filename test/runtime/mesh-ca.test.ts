import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MeshCertificates } from "../../src/runtime/mesh-ca.js";
import { MeshgateError } from "../../src/errors.js";
import { modelOf } from "../helpers/model.js";
import { opensslVerify, tempDir } from "../pki/helpers.js";

const meshes = (td = "bookinfo.local", ttl = "") =>
  modelOf(`apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: ingress }
spec: { trustDomain: ${td}, namespaces: [ingress], ca: { rootName: bookinfo } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: ${td}, namespaces: [bookinfo], ca: { rootName: bookinfo }${ttl ? `, workloadCertTTL: ${ttl}` : ""} }
`).model!.meshes;

test("one root per rootName and an intermediate per mesh; SVIDs verify against the trust bundle with openssl", async (t) => {
  const dir = tempDir(t);
  const certs = new MeshCertificates(dir);
  await certs.prepare(meshes());
  const gw = certs.svid("spiffe://bookinfo.local/ns/ingress/sa/gateway");
  const app = certs.svid("spiffe://bookinfo.local/ns/bookinfo/sa/reviews");
  const bundle = certs.trustBundle(["bookinfo.local"]);
  assert.equal(bundle.match(/BEGIN CERTIFICATE/g)!.length, 1, "both meshes share one root");
  writeFileSync(join(dir, "bundle.pem"), bundle);
  for (const [name, svid] of [["gw", gw], ["app", app]] as const) {
    const leaf = join(dir, `${name}.pem`);
    writeFileSync(leaf, svid.certChainPem);
    const r = opensslVerify(join(dir, "bundle.pem"), leaf, [leaf], ["-purpose", "sslclient"]);
    assert.equal(r.code, 0, r.out);
    assert.ok(new X509Certificate(svid.certChainPem).subjectAltName?.includes(name === "gw" ? "spiffe://bookinfo.local/ns/ingress/sa/gateway" : "spiffe://bookinfo.local/ns/bookinfo/sa/reviews"));
  }
  // Different intermediates: the issuer of each SVID is its mesh's CA.
  assert.notEqual(new X509Certificate(gw.certChainPem).issuer, new X509Certificate(app.certChainPem).issuer);
  // CA keys on disk are 0600; SVID keys are never written.
  for (const f of ["roots/bookinfo/root-key.pem", "meshes/app/ca-key.pem", "meshes/ingress/ca-key.pem"]) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  // The same identity is served from cache until it needs renewal.
  assert.equal(certs.svid("spiffe://bookinfo.local/ns/bookinfo/sa/reviews").certChainPem, app.certChainPem);
});

test("a restarted control plane keeps its root and intermediates", async (t) => {
  const dir = tempDir(t);
  const a = new MeshCertificates(dir);
  await a.prepare(meshes());
  const b = new MeshCertificates(dir);
  await b.prepare(meshes());
  assert.equal(a.trustBundle(["bookinfo.local"]), b.trustBundle(["bookinfo.local"]));
});

test("SVIDs renew at half life and follow the mesh's workloadCertTTL", async (t) => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const certs = new MeshCertificates(tempDir(t), () => new Date(now));
  await certs.prepare(meshes("bookinfo.local", "1h"));
  const first = certs.svid("spiffe://bookinfo.local/ns/bookinfo/sa/ratings");
  const cert = new X509Certificate(first.certChainPem);
  assert.equal(Date.parse(cert.validTo) - Date.parse(cert.validFrom), 3_600_000 + 5 * 60_000, "1 h, plus the 5 min back-dating every certificate gets");
  assert.equal(certs.nextRenewal()!.getTime(), now + 1_800_000);
  now += 1_799_000;
  assert.equal(certs.svid("spiffe://bookinfo.local/ns/bookinfo/sa/ratings").certChainPem, first.certChainPem);
  now += 2_000;
  const second = certs.svid("spiffe://bookinfo.local/ns/bookinfo/sa/ratings");
  assert.notEqual(second.certChainPem, first.certChainPem);
  assert.notEqual(second.keyPem, first.keyPem, "a renewal uses a fresh key");
});

test("identities outside every mesh and roots of another trust domain are refused with ERR_MESH_CA", async (t) => {
  const dir = tempDir(t);
  const certs = new MeshCertificates(dir);
  await certs.prepare(meshes());
  assert.throws(() => certs.svid("spiffe://bookinfo.local/ns/elsewhere/sa/x"), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_MESH_CA" && /no mesh issues/.test(e.message));
  await assert.rejects(new MeshCertificates(dir).prepare(meshes("other.local")), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_MESH_CA" && /anchors trust domain bookinfo\.local, not other\.local/.test(e.message));
});
