// `meshgate trust ...`: extract trust bundles for the other side (gateway, other mesh)
// and diagnose why mutual TLS between two parties would fail.

import type { Command } from "commander";
import { Option } from "commander";
import type { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  BUNDLE_FORMATS,
  SpiffeId,
  TrustDomain,
  decodePem,
  diagnoseTrust,
  loadTrustBundle,
  matchId,
  parseCertificates,
  readCertificates,
  renderDiagnosis,
} from "../pki/index.js";
import type { BundleFormat, TrustSide } from "../pki/index.js";
import { UsageError } from "../errors.js";
import type { SetExitCode } from "./commands.js";
import { mustExist } from "./pki-options.js";

export function registerTrust(program: Command, setExit: SetExitCode): void {
  const trust = program.command("trust").description("Trust bundles and the trust doctor");

  trust
    .command("bundle")
    .description("Extract the root CA(s) from a chain PEM, a cacerts folder, or a Kubernetes cacerts Secret / istio-ca-root-cert ConfigMap")
    .requiredOption("--from <path>", "PEM chain, cacerts or root folder, or Kubernetes YAML")
    .addOption(new Option("--format <format>", "output format").choices([...BUNDLE_FORMATS]).default("pem"))
    .option("--trust-domain <td>", "trust domain for the SPIFFE bundle (default: from the root's URI SAN)")
    .option("--name <name>", "ConfigMap name (--format configmap)", "meshgate-ca-root")
    .option("--namespace <ns>", "ConfigMap namespace (--format configmap)")
    .addHelpText(
      "after",
      "\nExample:\n  meshgate trust bundle --from ca/east                        # PEM roots\n  meshgate trust bundle --from cacerts-secret.yaml --format spiffe\n  meshgate trust bundle --from ca/east --format configmap --name mesh-ca --namespace gateway \\\n    | kubectl apply -f -   # then BackendTLSPolicy caCertificateRefs: [{kind: ConfigMap, name: mesh-ca}]",
    )
    .action((opts: { from: string; format: BundleFormat; trustDomain?: string; name: string; namespace?: string }) => {
      mustExist(opts.from, "bundle source");
      const bundle = loadTrustBundle(opts.from, opts.trustDomain ? TrustDomain.parse(opts.trustDomain) : undefined);
      process.stdout.write(bundle.render(opts.format, { name: opts.name, ...(opts.namespace ? { namespace: opts.namespace } : {}) }));
      setExit(0);
    });

  trust
    .command("doctor")
    .description("Would mutual TLS between a client and a server verify in both directions? If not, why, and how to fix it")
    .requiredOption("--client <chain>", "the client's chain PEM (leaf first; a root in the file is what the client trusts by default), or the CA folder that issues its SVIDs")
    .requiredOption("--server <chain>", "the server's chain PEM (leaf first; a root in the file is what the server trusts by default), or the CA folder that issues its SVIDs")
    .option("--client-bundle <bundle>", "roots the client trusts (PEM, cacerts folder or Kubernetes YAML)")
    .option("--server-bundle <bundle>", "roots the server trusts (PEM, cacerts folder or Kubernetes YAML)")
    .option("--server-name <dns>", "DNS name the client dials; the server certificate must cover it")
    .option("--server-id <spiffe-id>", "SPIFFE ID the client expects of the server")
    .option("--client-id <spiffe-id>", "SPIFFE ID the server expects of the client")
    .addHelpText(
      "after",
      "\nExit status: 0 when both directions verify, 1 when not, 2 on usage errors.\n\nExample:\n  meshgate trust doctor --client gw/chain.pem --server mesh/cert-chain.pem\n  meshgate trust doctor --client gw/chain.pem --client-bundle gw/roots.pem --server svc/chain.pem --server-bundle ca/east\n  meshgate trust doctor --client .meshgate/pki/meshes/edge --server .meshgate/pki/meshes/shop   # two meshes of meshgate up",
    )
    .action(
      (opts: { client: string; server: string; clientBundle?: string; serverBundle?: string; serverName?: string; serverId?: string; clientId?: string }) => {
        const side = (chainPath: string, bundlePath: string | undefined, expect: string | undefined): TrustSide => ({
          chainSource: chainPath,
          ...readSide(mustExist(chainPath, "chain file or CA folder")),
          ...(bundlePath !== undefined ? { bundle: readBundle(mustExist(bundlePath, "bundle")), bundleSource: bundlePath } : {}),
          ...(expect !== undefined ? { expectPeer: matchId(SpiffeId.parse(expect)) } : {}),
        });
        const diagnosis = diagnoseTrust({
          client: side(opts.client, opts.clientBundle, opts.serverId),
          server: side(opts.server, opts.serverBundle, opts.clientId),
          now: new Date(),
          ...(opts.serverName !== undefined ? { serverName: opts.serverName } : {}),
        });
        process.stdout.write(renderDiagnosis(diagnosis));
        setExit(diagnosis.trusted ? 0 : 1);
      },
    );
}

/**
 * A chain file (leaf first), or a CA folder: a cacerts folder (`cert-chain.pem`, or
 * `ca-cert.pem` + `root-cert.pem`, as `meshgate pki intermediate` and `meshgate up`'s state
 * directory hold them) or a root folder, standing for every SVID that CA issues.
 */
function readSide(path: string): { chain: X509Certificate[]; presentsCa?: true } {
  if (!statSync(path).isDirectory()) return { chain: readCertificates(path) };
  const file = (name: string) => join(path, name);
  if (existsSync(file("cert-chain.pem"))) return { chain: readCertificates(file("cert-chain.pem")), presentsCa: true };
  const chain = [...(existsSync(file("ca-cert.pem")) ? readCertificates(file("ca-cert.pem")) : []), ...(existsSync(file("root-cert.pem")) ? readCertificates(file("root-cert.pem")) : [])];
  if (chain.length === 0) throw new UsageError(`${path} is not a CA folder: none of cert-chain.pem, ca-cert.pem, root-cert.pem found`);
  return { chain, presentsCa: true };
}

/** A bundle PEM file counts whole (every certificate in it is trusted); folders and YAML give their roots. */
function readBundle(path: string): X509Certificate[] {
  if (statSync(path).isFile()) {
    const text = readFileSync(path, "utf8");
    if (decodePem(text).length > 0) return parseCertificates(text, path);
  }
  return [...loadTrustBundle(path).roots];
}
