import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KeyPassphraseError } from "../../src/errors.js";
import {
  FastSvidIssuer,
  RootRotation,
  SpiffeId,
  SvidRenewer,
  TrustDomain,
  createCsr,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  needsRenewal,
  readPrivateKey,
  reissueIntermediate,
  renewalTime,
  verifySvidChain,
  writePrivateKey,
} from "../../src/pki/index.js";
import { openssl, runCli, tempDir } from "./helpers.js";

const td = TrustDomain.parse("example.org");

test("private keys are created with mode 0600, also when replacing a looser file", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "key.pem");
  writeFileSync(path, "old", { mode: 0o644 });
  writePrivateKey(path, generateKeyPair("ec-p256").privateKey);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("encrypted keys round-trip; openssl reads them; wrong or missing passphrase gives a typed error without secrets", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "ca-key.pem");
  const { privateKey } = generateKeyPair("ec-p384");
  const passphrase = "correct horse battery staple";
  writePrivateKey(path, privateKey, passphrase);
  const pem = readFileSync(path, "utf8");
  assert.match(pem, /-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.ok(readPrivateKey(path, passphrase).equals(privateKey));
  await openssl(["pkey", "-in", path, "-passin", `pass:${passphrase}`, "-noout"]);
  for (const attempt of [undefined, "wrong"]) {
    assert.throws(
      () => readPrivateKey(path, attempt),
      (e: unknown) => e instanceof KeyPassphraseError && e.code === "ERR_PKI_KEY_PASSPHRASE" && !e.message.includes(passphrase) && !e.message.includes("PRIVATE KEY"),
    );
  }
});

test("CLI --encrypt-key: key files 0600, passphrase and key never printed, CA usable with the passphrase", (t) => {
  const dir = tempDir(t);
  const secret = "s3cret-passphrase-value";
  const env = { MG_PASS: secret };
  const outputs: string[] = [];
  const run = (args: string[]) => {
    const r = runCli(args, env);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  assert.equal(run(["pki", "init", "--trust-domain", "example.org", "--out", join(dir, "root"), "--encrypt-key", "--passphrase-env", "MG_PASS"]).code, 0);
  const passFile = join(dir, "pass.txt");
  writeFileSync(passFile, `${secret}\n`);
  assert.equal(run(["pki", "intermediate", "--root", join(dir, "root"), "--mesh", "east", "--out", join(dir, "east"), "--encrypt-key", "--passphrase-file", passFile]).code, 0);
  // Without the passphrase: exit 1 with a clear message.
  const noPass = run(["pki", "issue", "--ca", join(dir, "east"), "--spiffe-id", "spiffe://example.org/ns/a/sa/b", "--out", join(dir, "svid")]);
  assert.equal(noPass.code, 1);
  assert.match(noPass.stderr, /ERR_PKI_KEY_PASSPHRASE/);
  const wrong = runCli(["pki", "issue", "--ca", join(dir, "east"), "--spiffe-id", "spiffe://example.org/ns/a/sa/b", "--out", join(dir, "svid"), "--passphrase-env", "MG_PASS"], { MG_PASS: "nope" });
  outputs.push(wrong.stdout, wrong.stderr);
  assert.equal(wrong.code, 1);
  assert.equal(run(["pki", "issue", "--ca", join(dir, "east"), "--spiffe-id", "spiffe://example.org/ns/a/sa/b", "--out", join(dir, "svid"), "--passphrase-env", "MG_PASS"]).code, 0);
  assert.equal(run(["pki", "inspect", join(dir, "east")]).code, 0);
  for (const f of ["root/root-key.pem", "east/ca-key.pem", "svid/key.pem"]) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  assert.match(readFileSync(join(dir, "root/root-key.pem"), "utf8"), /ENCRYPTED PRIVATE KEY/);
  const all = outputs.join("\n");
  assert.ok(!all.includes(secret), "passphrase leaked");
  assert.ok(!all.includes("PRIVATE KEY"), "key leaked");
  assert.ok(!all.includes(readFileSync(join(dir, "svid/key.pem"), "utf8").split("\n")[1]!), "key leaked");
});

test("SVIDs renew at half life with a moved clock", async () => {
  let now = new Date("2030-03-01T00:00:00Z");
  const clock = () => now;
  const root = await createRootCa({ trustDomain: td, now: clock });
  const issuer = new FastSvidIssuer(await createIntermediateCa(root, { mesh: "east", now: clock }), clock);
  const csr = await createCsr(generateKeyPair("ec-p256").privateKey);
  const renewer = new SvidRenewer(() => {
    const out = issuer.issueFromCsr(csr, SpiffeId.parse("spiffe://example.org/ns/a/sa/b"));
    return { certificate: new X509Certificate(out.der) };
  }, clock);
  assert.equal(await renewer.renewIfDue(), true);
  const first = renewer.current!.certificate;
  assert.equal(renewalTime(first).getTime(), Date.parse(first.validFrom) + (Date.parse(first.validTo) - Date.parse(first.validFrom)) / 2);
  now = new Date(renewalTime(first).getTime() - 60_000);
  assert.equal(needsRenewal(first, now), false);
  assert.equal(await renewer.renewIfDue(), false);
  now = new Date(renewalTime(first).getTime() + 1);
  assert.equal(await renewer.renewIfDue(), true);
  assert.notEqual(renewer.current!.certificate.serialNumber, first.serialNumber);
});

test("root rotation with overlap: old+new root in bundles, then only the new one; no verification fails on the way", async () => {
  let now = new Date("2030-06-01T00:00:00Z");
  const clock = () => now;
  const oldRoot = await createRootCa({ trustDomain: td, now: clock });
  const newRoot = await createRootCa({ trustDomain: td, now: clock });
  const oldIntermediate = await createIntermediateCa(oldRoot, { mesh: "east", now: clock });
  const id = SpiffeId.parse("spiffe://example.org/ns/a/sa/b");
  const csr = await createCsr(generateKeyPair("ec-p256").privateKey);
  const intermediateOf = new Map<FastSvidIssuer, X509Certificate[]>();
  const chainOf = (issuer: FastSvidIssuer) => [new X509Certificate(issuer.issueFromCsr(csr, id).der), ...intermediateOf.get(issuer)!];
  const oldIssuer = new FastSvidIssuer(oldIntermediate, clock);
  intermediateOf.set(oldIssuer, [oldIntermediate.certificate]);
  const beforeSvid = chainOf(oldIssuer);

  const rotation = new RootRotation(oldRoot, newRoot, clock);
  assert.equal(rotation.phase, "distributing-new-root");
  assert.deepEqual(rotation.bundle().roots.map((r) => r.fingerprint256), [oldRoot.certificate.fingerprint256, newRoot.certificate.fingerprint256]);
  assert.equal(rotation.signingRoot, oldRoot);

  rotation.consumersHaveNewRoot(24 * 3600_000);
  assert.equal(rotation.phase, "issuing-under-new-root");
  const newIntermediate = await reissueIntermediate(rotation.signingRoot, { mesh: "east", now: clock });
  const newIssuer = new FastSvidIssuer(newIntermediate, clock);
  intermediateOf.set(newIssuer, [newIntermediate.certificate]);
  const afterSvid = chainOf(newIssuer);
  // Both generations verify against the overlap bundle.
  for (const presented of [beforeSvid, afterSvid]) verifySvidChain({ presented, roots: rotation.bundle().roots, role: "client", now });
  assert.equal(rotation.bundle().roots.length, 2);

  now = new Date(now.getTime() + 24 * 3600_000 + 1000);
  assert.equal(rotation.phase, "complete");
  assert.deepEqual(rotation.bundle().roots.map((r) => r.fingerprint256), [newRoot.certificate.fingerprint256]);
  const renewed = chainOf(newIssuer);
  verifySvidChain({ presented: renewed, roots: rotation.bundle().roots, role: "client", now });
});
