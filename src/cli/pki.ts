// `meshgate pki ...`: create a root, per-mesh intermediates (Istio cacerts layout),
// workload SVIDs, import a CA made elsewhere, and inspect certificates.

import type { Command } from "commander";
import { Option } from "commander";
import { createPublicKey } from "node:crypto";
import type { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import {
  CACERTS_FILES,
  FastSvidIssuer,
  ROOT_KEY_TYPES,
  SpiffeId,
  TrustDomain,
  assembleCa,
  createIntermediateCa,
  createRootCa,
  generateKeyPair,
  isSelfSigned,
  subjectText,
  readCaFolder,
  readCertificates,
  renderInspection,
  trustDomainOf,
  writeCacertsFolder,
  writePrivateKey,
  writePublicFile,
  writeRootFolder,
} from "../pki/index.js";
import type { RootKeyType } from "../pki/index.js";
import type { SetExitCode } from "./commands.js";
import { collect } from "./options.js";
import { mustExist, parseDuration, passphraseFrom } from "./pki-options.js";
import type { PassphraseOptions } from "./pki-options.js";

const passphraseOptions = (cmd: Command, purpose: string): Command =>
  cmd
    .option("--passphrase-env <var>", `environment variable holding the passphrase ${purpose}`)
    .option("--passphrase-file <file>", `file whose first line is the passphrase ${purpose}`);

export function registerPki(program: Command, setExit: SetExitCode): void {
  const pki = program.command("pki").description("Root CA, per-mesh intermediates and workload certificates (X.509-SVIDs)");

  passphraseOptions(
    pki
      .command("init")
      .description("Create a root CA: DIR/root-cert.pem and DIR/root-key.pem (mode 0600)")
      .requiredOption("--trust-domain <td>", "SPIFFE trust domain, e.g. example.org")
      .requiredOption("--out <dir>", "folder to write")
      .addOption(new Option("--key-type <type>", "root key type").choices([...ROOT_KEY_TYPES]).default("ec-p384"))
      .option("--ttl <duration>", "validity (s, m, h, d, y)", "10y")
      .option("--encrypt-key", "encrypt root-key.pem (PKCS#8, AES-256) with the passphrase"),
    "to encrypt the key",
  )
    .addHelpText("after", "\nExample:\n  meshgate pki init --trust-domain example.org --out ca/root\n  MESHGATE_CA_PASS=... meshgate pki init --trust-domain example.org --out ca/root --encrypt-key --passphrase-env MESHGATE_CA_PASS")
    .action(async (opts: { trustDomain: string; out: string; keyType: RootKeyType; ttl: string; encryptKey?: boolean } & PassphraseOptions) => {
      const trustDomain = TrustDomain.parse(opts.trustDomain);
      const passphrase = encryptionPassphrase(opts);
      refuseOverwrite(join(opts.out, "root-key.pem"));
      const root = await createRootCa({ trustDomain, keyType: opts.keyType, ttlMs: parseDuration(opts.ttl) });
      writeRootFolder(opts.out, root, passphrase);
      process.stdout.write(`wrote ${join(opts.out, "root-cert.pem")} and ${join(opts.out, "root-key.pem")}${passphrase ? " (encrypted)" : ""}\n${summaryLine(root.certificate)}\n`);
      setExit(0);
    });

  passphraseOptions(
    pki
      .command("intermediate")
      .description("Create a per-mesh intermediate CA under a root, in Istio's cacerts layout")
      .requiredOption("--root <dir>", "root folder (from pki init or pki import)")
      .requiredOption("--mesh <name>", "mesh or zone this intermediate serves")
      .requiredOption("--out <dir>", "folder to write: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem")
      .option("--trust-domain <td>", "trust domain (default: the root's spiffe:// URI SAN)")
      .option("--ttl <duration>", "validity (s, m, h, d, y)", "365d")
      .option("--no-name-constraint", "do not restrict the intermediate to URIs of its trust domain")
      .option("--encrypt-key", "encrypt ca-key.pem with the passphrase"),
    "of the root key (and for --encrypt-key)",
  )
    .addHelpText("after", "\nExample:\n  meshgate pki intermediate --root ca/root --mesh east --out ca/east\n  kubectl create secret generic cacerts -n istio-system --from-file=ca/east")
    .action(async (opts: { root: string; mesh: string; out: string; trustDomain?: string; ttl: string; nameConstraint: boolean; encryptKey?: boolean } & PassphraseOptions) => {
      mustExist(opts.root, "root folder");
      const passphrase = passphraseFrom(opts);
      const wanted = opts.trustDomain ? TrustDomain.parse(opts.trustDomain) : undefined;
      const root = readCaFolder(opts.root, { passphrase, ...(wanted ? { trustDomain: wanted } : {}) });
      // One root serves one trust domain: verifiers check an SVID's trust domain against
      // the root's spiffe:// URI SAN, so a mismatch would give unusable certificates.
      const rootTd = trustDomainOf(root.root);
      if (wanted && rootTd && !wanted.equals(rootTd)) {
        throw new UsageError(`the root belongs to trust domain ${rootTd.name}, not ${wanted.name}; create a root for ${wanted.name} (pki init) instead`);
      }
      refuseOverwrite(join(opts.out, CACERTS_FILES.caKey));
      const ca = await createIntermediateCa(root, { mesh: opts.mesh, ttlMs: parseDuration(opts.ttl), nameConstraint: opts.nameConstraint });
      writeCacertsFolder(opts.out, ca, opts.encryptKey ? requirePassphrase(passphrase) : undefined);
      process.stdout.write(`wrote ${Object.values(CACERTS_FILES).map((f) => join(opts.out, f)).join(", ")}\n${summaryLine(ca.certificate)}\n`);
      setExit(0);
    });

  passphraseOptions(
    pki
      .command("issue")
      .description("Issue an X.509-SVID: DIR/cert.pem (leaf), DIR/key.pem, DIR/chain.pem (leaf + intermediate)")
      .requiredOption("--ca <dir>", "intermediate CA folder (cacerts layout)")
      .requiredOption("--spiffe-id <id>", "the workload's SPIFFE ID, e.g. spiffe://example.org/ns/default/sa/web")
      .option("--dns <name>", "DNS SAN (repeatable), e.g. for a gateway listener", collect, [])
      .option("--ttl <duration>", "validity (s, m, h, d)", "24h")
      .option("--csr <file>", "sign this PKCS#10 request instead of generating a key (then no key.pem is written)")
      .requiredOption("--out <dir>", "folder to write"),
    "of the CA key",
  )
    .addHelpText("after", "\nExample:\n  meshgate pki issue --ca ca/east --spiffe-id spiffe://example.org/ns/shop/sa/cart --out certs/cart\n  meshgate pki issue --ca ca/east --spiffe-id spiffe://example.org/ns/edge/sa/gateway --dns shop.example.com --out certs/gw")
    .action((opts: { ca: string; spiffeId: string; dns: string[]; ttl: string; csr?: string; out: string } & PassphraseOptions) => {
      mustExist(opts.ca, "CA folder");
      const spiffeId = SpiffeId.parse(opts.spiffeId);
      const ca = readCaFolder(opts.ca, { passphrase: passphraseFrom(opts) });
      const issuer = new FastSvidIssuer(ca);
      const options = { dnsNames: opts.dns, ttlMs: parseDuration(opts.ttl) };
      mkdirSync(opts.out, { recursive: true });
      let issued;
      if (opts.csr !== undefined) {
        issued = issuer.issueFromCsr(readFileSync(mustExist(opts.csr, "CSR file"), "utf8"), spiffeId, options);
      } else {
        const { privateKey } = generateKeyPair("ec-p256");
        issued = issuer.issueForKey(createPublicKey(privateKey), spiffeId, options);
        writePrivateKey(join(opts.out, "key.pem"), privateKey);
      }
      writePublicFile(join(opts.out, "cert.pem"), issued.certificatePem);
      writePublicFile(join(opts.out, "chain.pem"), issued.chainPem);
      const files = ["cert.pem", ...(opts.csr === undefined ? ["key.pem"] : []), "chain.pem"].map((f) => join(opts.out, f));
      process.stdout.write(`issued ${spiffeId.toString()}\nwrote ${files.join(", ")}\n`);
      setExit(0);
    });

  passphraseOptions(
    pki
      .command("import")
      .description("Bring your own CA: check a root or intermediate made elsewhere (e.g. openssl) and write it in meshgate's layout")
      .requiredOption("--cert <file>", "the CA certificate (PEM)")
      .requiredOption("--key <file>", "its private key (PEM; PKCS#8, PKCS#1 or SEC1, encrypted or not)")
      .option("--chain <file>", "the CA's issuers (PEM), if it is an intermediate")
      .option("--root <file>", "the root certificate, if not at the end of --chain")
      .option("--trust-domain <td>", "trust domain (required when the certificates carry no spiffe:// URI SAN)")
      .requiredOption("--out <dir>", "folder to write: a root folder for a self-signed CA, else a cacerts folder")
      .option("--encrypt-key", "encrypt the written key with the passphrase"),
    "of the key (and for --encrypt-key)",
  )
    .addHelpText("after", "\nExample:\n  meshgate pki import --cert root.crt --key root.key --trust-domain example.org --out ca/root\n  meshgate pki import --cert int.crt --key int.key --chain root.crt --trust-domain example.org --out ca/east")
    .action((opts: { cert: string; key: string; chain?: string; root?: string; trustDomain?: string; out: string; encryptKey?: boolean } & PassphraseOptions) => {
      for (const [p, what] of [[opts.cert, "certificate"], [opts.key, "key"], [opts.chain, "chain"], [opts.root, "root"]] as const) if (p) mustExist(p, `${what} file`);
      const passphrase = passphraseFrom(opts);
      const chainPath = opts.chain;
      const ca = assembleCa(opts.cert, {
        certPath: opts.cert,
        keyPath: opts.key,
        ...(chainPath !== undefined ? { chainPath } : {}),
        ...(opts.root !== undefined ? { rootPath: opts.root } : {}),
        ...(passphrase !== undefined ? { passphrase } : {}),
        ...(opts.trustDomain ? { trustDomain: TrustDomain.parse(opts.trustDomain) } : {}),
      });
      const outPassphrase = opts.encryptKey ? requirePassphrase(passphrase) : undefined;
      if (ca.chain.length === 1) {
        refuseOverwrite(join(opts.out, "root-key.pem"));
        writeRootFolder(opts.out, ca, outPassphrase);
        process.stdout.write(`imported root CA into ${opts.out} (root-cert.pem, root-key.pem)\n`);
      } else {
        refuseOverwrite(join(opts.out, CACERTS_FILES.caKey));
        writeCacertsFolder(opts.out, ca, outPassphrase);
        process.stdout.write(`imported intermediate CA into ${opts.out} (${Object.values(CACERTS_FILES).join(", ")})\n`);
      }
      process.stdout.write(`${summaryLine(ca.certificate)}\ntrust domain: ${ca.trustDomain.name}${trustDomainOf(ca.certificate) ? "" : " (from --trust-domain)"}\n`);
      setExit(0);
    });

  pki
    .command("inspect")
    .description("Show each certificate in a PEM file or CA folder: subject, issuer, SANs, validity, key, fingerprint, CA/pathLen, name constraints")
    .argument("<path>", "a PEM file, or a folder (cert-chain.pem, chain.pem or root-cert.pem is shown)")
    .addHelpText("after", "\nExample:\n  meshgate pki inspect certs/cart/chain.pem\n  meshgate pki inspect ca/east")
    .action((path: string) => {
      mustExist(path, "path");
      let file = path;
      if (statSync(path).isDirectory()) {
        const found = ["cert-chain.pem", "chain.pem", "root-cert.pem", "cert.pem"].map((f) => join(path, f)).find((f) => existsSync(f));
        if (found === undefined) throw new UsageError(`${path} holds none of cert-chain.pem, chain.pem, root-cert.pem, cert.pem`);
        file = found;
      }
      process.stdout.write(`${file}\n${renderInspection(readCertificates(file), new Date())}`);
      setExit(0);
    });
}

function encryptionPassphrase(opts: { encryptKey?: boolean } & PassphraseOptions): string | undefined {
  const passphrase = passphraseFrom(opts);
  if (opts.encryptKey) return requirePassphrase(passphrase);
  if (passphrase !== undefined) throw new UsageError("a passphrase was given without --encrypt-key");
  return undefined;
}

function requirePassphrase(passphrase: string | undefined): string {
  if (passphrase === undefined) throw new UsageError("--encrypt-key needs --passphrase-env VAR or --passphrase-file FILE");
  return passphrase;
}

/** CA keys are never silently replaced. */
function refuseOverwrite(keyPath: string): void {
  if (existsSync(keyPath)) throw new UsageError(`${keyPath} already exists; choose another --out folder`);
}

function summaryLine(cert: X509Certificate): string {
  return `${isSelfSigned(cert) ? "root" : "CA"} "${subjectText(cert)}" sha256 ${cert.fingerprint256}, valid until ${new Date(cert.validTo).toISOString()}`;
}
