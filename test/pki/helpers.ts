// Shared fixtures for the PKI tests: temporary folders, real openssl, the CLI as a child
// process, and certificates with deliberately wrong fields (for negative tests).

import { execFile, spawnSync } from "node:child_process";
import { X509Certificate, createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { x509 } from "../../src/pki/x509-library.js";
import { encodePem, generateKeyPair, keyIdentifier, authorityKeyIdFor } from "../../src/pki/index.js";
import type { CertificateAuthority } from "../../src/pki/index.js";

const run = promisify(execFile);

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-pki-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writePem(dir: string, name: string, certs: readonly X509Certificate[]): string {
  const path = join(dir, name);
  writeFileSync(path, certs.map((c) => encodePem("CERTIFICATE", c.raw)).join(""));
  return path;
}

/** `openssl verify -x509_strict -CAfile root -untrusted intermediates leaf...`; returns exit code and output. */
export function opensslVerify(rootPem: string, untrustedPem: string | undefined, leafPems: string[], extra: string[] = []): { code: number; out: string } {
  const args = ["verify", "-x509_strict", ...extra, "-CAfile", rootPem, ...(untrustedPem ? ["-untrusted", untrustedPem] : []), ...leafPems];
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

export async function openssl(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await run("openssl", args, { cwd, encoding: "utf8" });
  return stdout;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `meshgate` from source as a real process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: new URL("../..", import.meta.url).pathname,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface OddLeafOptions {
  uris?: string[];
  ca?: boolean;
  eku?: string[];
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
  publicKey?: KeyObject;
}

/** Signs a leaf with arbitrary (possibly wrong) fields under `ca`, with @peculiar/x509. */
export async function issueOddLeaf(ca: CertificateAuthority, o: OddLeafOptions): Promise<X509Certificate> {
  const publicKey = o.publicKey ?? createPublicKey(generateKeyPair("ec-p256").privateKey);
  const signingKey = await globalThis.crypto.subtle.importKey(
    "pkcs8",
    ca.privateKey.export({ type: "pkcs8", format: "der" }),
    ca.privateKey.asymmetricKeyDetails?.namedCurve === "secp384r1" ? { name: "ECDSA", namedCurve: "P-384" } : { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const hash = ca.privateKey.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "SHA-384" : "SHA-256";
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca ?? false, undefined, true),
    new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    new x509.SubjectKeyIdentifierExtension(keyIdentifier(publicKey).toString("hex")),
    new x509.AuthorityKeyIdentifierExtension(authorityKeyIdFor(ca.certificate).toString("hex")),
    new x509.SubjectAlternativeNameExtension((o.uris ?? []).map((value) => ({ type: "url" as const, value })), true),
  ];
  if (o.eku) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku));
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01a2b3c4d5e6f708",
    subject: "",
    issuer: new x509.X509Certificate(ca.certificate.raw).subjectName,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 3_600_000),
    publicKey: publicKey.export({ type: "spki", format: "der" }),
    signingKey: signingKey as never,
    signingAlgorithm: { name: "ECDSA", hash },
    extensions,
  });
  return new X509Certificate(Buffer.from(cert.rawData));
}
