import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { openssl, opensslVerify, runCli, tempDir } from "./helpers.js";

test("pki init -> intermediate -> issue writes the documented files; chains pass openssl verify -x509_strict", (t) => {
  const dir = tempDir(t);
  const root = join(dir, "root");
  const east = join(dir, "east");
  const cart = join(dir, "cart");
  assert.equal(runCli(["pki", "init", "--trust-domain", "example.org", "--out", root]).code, 0);
  assert.deepEqual(readdirSync(root).sort(), ["root-cert.pem", "root-key.pem"]);
  assert.equal(runCli(["pki", "intermediate", "--root", root, "--mesh", "east", "--out", east]).code, 0);
  assert.deepEqual(readdirSync(east).sort(), ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
  const issued = runCli(["pki", "issue", "--ca", east, "--spiffe-id", "spiffe://example.org/ns/shop/sa/cart", "--dns", "cart.shop.svc", "--ttl", "2h", "--out", cart]);
  assert.equal(issued.code, 0, issued.stderr);
  assert.deepEqual(readdirSync(cart).sort(), ["cert.pem", "chain.pem", "key.pem"]);
  for (const f of [join(root, "root-key.pem"), join(east, "ca-key.pem"), join(cart, "key.pem")]) assert.equal(statSync(f).mode & 0o777, 0o600, f);

  const r = opensslVerify(join(root, "root-cert.pem"), join(east, "ca-cert.pem"), [join(cart, "cert.pem")]);
  assert.equal(r.code, 0, r.out);
  const leaf = new X509Certificate(readFileSync(join(cart, "cert.pem")));
  assert.equal(leaf.subjectAltName, "URI:spiffe://example.org/ns/shop/sa/cart, DNS:cart.shop.svc");
  assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 2 * 3600_000 + 5 * 60_000);
  assert.equal(readFileSync(join(cart, "chain.pem"), "utf8"), readFileSync(join(cart, "cert.pem"), "utf8") + readFileSync(join(east, "ca-cert.pem"), "utf8"));

  const inspect = runCli(["pki", "inspect", join(cart, "chain.pem")]);
  assert.equal(inspect.code, 0);
  for (const s of ["URI:spiffe://example.org/ns/shop/sa/cart", "ECDSA P-256", "CA:           no", "yes, pathLen 0", "permitted URI:example.org", "left", "sha256:"]) assert.ok(inspect.stdout.includes(s), s);

  // ID outside the trust domain: refused, exit 1.
  const foreign = runCli(["pki", "issue", "--ca", east, "--spiffe-id", "spiffe://evil.org/ns/a/sa/b", "--out", join(dir, "x")]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /ERR_PKI_ID_OUTSIDE_TRUST_DOMAIN/);
  // Usage errors: exit 2.
  assert.equal(runCli(["pki", "issue", "--ca", east, "--spiffe-id", "spiffe://example.org/x", "--ttl", "soon", "--out", join(dir, "y")]).code, 2);
  assert.equal(runCli(["pki", "init", "--trust-domain", "example.org", "--out", root]).code, 2);
});

test("trust bundle from a cacerts folder in all three formats", (t) => {
  const dir = tempDir(t);
  runCli(["pki", "init", "--trust-domain", "example.org", "--out", join(dir, "root")]);
  runCli(["pki", "intermediate", "--root", join(dir, "root"), "--mesh", "east", "--out", join(dir, "east")]);
  const rootPem = readFileSync(join(dir, "root", "root-cert.pem"), "utf8");
  assert.equal(runCli(["trust", "bundle", "--from", join(dir, "east")]).stdout, rootPem);
  const spiffe = JSON.parse(runCli(["trust", "bundle", "--from", join(dir, "east", "cert-chain.pem"), "--format", "spiffe"]).stdout) as { keys: unknown[]; spiffe_sequence: number };
  assert.equal(spiffe.keys.length, 1);
  const cm = parse(runCli(["trust", "bundle", "--from", join(dir, "east"), "--format", "configmap", "--name", "mesh-ca"]).stdout) as { data: Record<string, string> };
  assert.equal(cm.data["ca.crt"], rootPem);
  assert.equal(runCli(["trust", "bundle", "--from", join(dir, "east"), "--format", "jks"]).code, 2);
});

test("bring your own CA: an openssl-made root and intermediate import and issue like our own", async (t) => {
  const dir = tempDir(t);
  const ext = join(dir, "ext.cnf");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(
    ext,
    "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n" +
      "[int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
  );
  await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "root.key"], dir);
  await openssl(["req", "-x509", "-new", "-key", "root.key", "-subj", "/O=Example Corp/CN=Example Root CA", "-days", "3650", "-sha384", "-config", "/dev/null", "-extfile", ext, "-extensions", "root", "-out", "root.crt"], dir).catch(async () => {
    // Older openssl req has no -extfile with -x509: fall back to a config section.
    await openssl(["req", "-x509", "-new", "-key", "root.key", "-subj", "/O=Example Corp/CN=Example Root CA", "-days", "3650", "-sha384", "-config", ext, "-extensions", "root", "-out", "root.crt"], dir);
  });
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "int.key"], dir);
  await openssl(["req", "-new", "-key", "int.key", "-subj", "/O=Example Corp/CN=Example Mesh CA", "-config", ext, "-out", "int.csr"], dir).catch(() =>
    openssl(["req", "-new", "-key", "int.key", "-subj", "/O=Example Corp/CN=Example Mesh CA", "-out", "int.csr"], dir),
  );
  await openssl(["x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-CAcreateserial", "-days", "365", "-sha384", "-extfile", ext, "-extensions", "int", "-out", "int.crt"], dir);

  const imported = runCli(["pki", "import", "--cert", join(dir, "int.crt"), "--key", join(dir, "int.key"), "--chain", join(dir, "root.crt"), "--trust-domain", "corp.example", "--out", join(dir, "cacerts")]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal(statSync(join(dir, "cacerts", "ca-key.pem")).mode & 0o777, 0o600);
  const issued = runCli(["pki", "issue", "--ca", join(dir, "cacerts"), "--spiffe-id", "spiffe://corp.example/ns/a/sa/b", "--out", join(dir, "svid")]);
  assert.equal(issued.code, 0, issued.stderr);
  const r = opensslVerify(join(dir, "root.crt"), join(dir, "int.crt"), [join(dir, "svid", "cert.pem")]);
  assert.equal(r.code, 0, r.out);

  // Without a trust domain the import is refused (the certificates name none).
  const noTd = runCli(["pki", "import", "--cert", join(dir, "int.crt"), "--key", join(dir, "int.key"), "--chain", join(dir, "root.crt"), "--out", join(dir, "c2")]);
  assert.equal(noTd.code, 1);
  assert.match(noTd.stderr, /ERR_PKI_LAYOUT_INVALID.*--trust-domain|--trust-domain.*ERR_PKI_LAYOUT_INVALID/);
  // A key that does not belong to the certificate is refused.
  const mismatch = runCli(["pki", "import", "--cert", join(dir, "int.crt"), "--key", join(dir, "root.key"), "--chain", join(dir, "root.crt"), "--trust-domain", "corp.example", "--out", join(dir, "c3")]);
  assert.match(mismatch.stderr, /ERR_PKI_KEY_MISMATCH/);
  // The root alone imports as a root folder and can sign an intermediate.
  assert.equal(runCli(["pki", "import", "--cert", join(dir, "root.crt"), "--key", join(dir, "root.key"), "--trust-domain", "corp.example", "--out", join(dir, "root")]).code, 0);
  const inter = runCli(["pki", "intermediate", "--root", join(dir, "root"), "--trust-domain", "corp.example", "--mesh", "west", "--out", join(dir, "west")]);
  assert.equal(inter.code, 0, inter.stderr);
  assert.equal(opensslVerify(join(dir, "root.crt"), undefined, [join(dir, "west", "ca-cert.pem")]).code, 0);
});

test("every pki and trust command has --help with an example", () => {
  for (const cmd of [["pki", "init"], ["pki", "intermediate"], ["pki", "issue"], ["pki", "import"], ["pki", "inspect"], ["trust", "bundle"], ["trust", "doctor"]]) {
    const r = runCli([...cmd, "--help"]);
    assert.equal(r.code, 0, cmd.join(" "));
    assert.match(r.stdout, new RegExp(`Example:\\n  meshgate ${cmd.join(" ")}`), cmd.join(" "));
  }
});
