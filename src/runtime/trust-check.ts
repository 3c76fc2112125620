// The compile-time trust check: for every Gateway that calls a mesh Service over mTLS,
// does each side trust the root the other side's certificates chain to? Each side's
// trust comes from configuration (its mesh's roots and `spec.trustedRoots`, or a
// BackendTLSPolicy on the Service), so a gateway in one mesh calling a Service in a mesh
// with another root fails every request (503) until someone adds the trust or unifies
// the roots. Translation cannot see this (it names bundles; the roots live in the CA),
// so the control plane checks the compiled snapshot against the CA and reports each
// broken link with both roots and both fixes, instead of leaving a 503 to explain itself.

import type { X509Certificate } from "node:crypto";
import type { IrProxy, IrSecret, IrSnapshot } from "../ir/index.js";
import { SVID_SECRET, TRUST_BUNDLE_SECRET } from "../ir/index.js";
import { describeCertificateName, parseCertificates } from "../pki/index.js";
import type { CertificateAuthority } from "../pki/index.js";
import type { MeshCertificates } from "./mesh-ca.js";

/** One side of a link that does not trust the other side's root. */
export interface MissingRoot {
  /** Who verifies: `gateway` (verifies the Service's sidecars) or `service` (its sidecars verify the gateway). */
  readonly verifier: "gateway" | "service";
  /** What it verifies with, in words (`Mesh edge's trust bundle`, `BackendTLSPolicy shop/shop-root's CA`). */
  readonly bundle: string;
  /** The Mesh whose root is missing, and that root (subject and SHA-256 fingerprint). */
  readonly mesh: string;
  readonly root: string;
}

export interface TrustProblem {
  /** `Gateway <namespace>/<name>`. */
  readonly caller: string;
  readonly callerId: string;
  readonly callerMesh: string;
  /** `<namespace>/<name>:<port>` of the Service called. */
  readonly service: string;
  readonly serviceMesh: string;
  readonly missing: readonly MissingRoot[];
  /** One line: who cannot talk to whom and why. */
  readonly message: string;
  /** The two ways out: one root, or trust both roots; with the commands. */
  readonly fixes: readonly string[];
  /** The trust doctor on the two meshes' CA folders. */
  readonly doctor: string;
}

interface Anchors {
  readonly key: string;
  readonly certificates: readonly X509Certificate[];
}

interface Issuer {
  readonly mesh: string;
  readonly ca: CertificateAuthority;
  readonly folder: string;
}

export function checkMeshTrust(ir: IrSnapshot, certs: MeshCertificates): TrustProblem[] {
  const problems: TrustProblem[] = [];
  // Sidecars by the inbound endpoint other proxies reach them at (a cluster's endpoints).
  const sidecars = new Map<string, IrProxy>();
  for (const p of ir.proxies) {
    if (p.role !== "sidecar" || p.identity === undefined) continue;
    for (const l of p.listeners) if (l.kind === "socket" && l.direction === "inbound") sidecars.set(`${l.address}:${l.port}`, p);
  }
  // Bundles and verdicts are shared by many proxies and clusters: each is worked out once.
  const anchorsCache = new Map<string, Anchors>();
  const anchorsOf = (proxy: IrProxy, secretName: string): Anchors | undefined => {
    const secret = proxy.secrets.find((s) => s.name === secretName);
    if (!secret) return undefined;
    const key = secret.kind === "trust-bundle" ? `td:${secret.trustDomains.join(",")}|${secret.extraCaPem ?? ""}` : secret.kind === "ca-bundle" ? `ca:${secret.name}` : `other:${secret.name}`;
    let anchors = anchorsCache.get(key);
    if (!anchors) anchorsCache.set(key, (anchors = { key, certificates: bundleCertificates(secret, certs) }));
    return anchors;
  };
  const verdicts = new Map<string, boolean>();
  const trusts = (anchors: Anchors, issuer: Issuer): boolean => {
    const key = `${anchors.key}|${issuer.mesh}`;
    let v = verdicts.get(key);
    if (v === undefined) verdicts.set(key, (v = anchorsTrust(anchors.certificates, issuer.ca)));
    return v;
  };
  const issuer = (id: string): Issuer | undefined => {
    const i = certs.issuerOf(id);
    return i ? { mesh: i.mesh.name, ca: i.ca, folder: i.folder } : undefined;
  };

  for (const gw of ir.proxies) {
    if (gw.role !== "gateway" || gw.identity === undefined) continue;
    const caller = issuer(gw.identity);
    if (!caller) continue;
    for (const name of gw.clusters) {
      const cluster = ir.clusters.get(name);
      const tls = cluster?.tls;
      if (!cluster || !tls || tls.clientCertificate !== SVID_SECRET) continue;
      const gwAnchors = anchorsOf(gw, tls.validationSecret);
      if (!gwAnchors) continue;
      const gwBundle = tls.validationSecret === TRUST_BUNDLE_SECRET ? `Mesh ${caller.mesh}'s trust bundle` : `the CA of ${policyName(tls.validationSecret)}`;
      // One finding per mesh behind the Service (its Workloads may span meshes).
      const seen = new Set<string>();
      for (const e of cluster.endpoints) {
        const sidecar = sidecars.get(`${e.address}:${e.port}`);
        if (!sidecar?.identity) continue;
        const callee = issuer(sidecar.identity);
        if (!callee || seen.has(callee.mesh)) continue;
        seen.add(callee.mesh);
        const missing: MissingRoot[] = [];
        if (!trusts(gwAnchors, callee)) missing.push({ verifier: "gateway", bundle: gwBundle, mesh: callee.mesh, root: describeCertificateName(callee.ca.root) });
        const sidecarAnchors = anchorsOf(sidecar, TRUST_BUNDLE_SECRET);
        if (sidecarAnchors && !trusts(sidecarAnchors, caller)) {
          missing.push({ verifier: "service", bundle: `Mesh ${callee.mesh}'s trust bundle`, mesh: caller.mesh, root: describeCertificateName(caller.ca.root) });
        }
        if (missing.length > 0) problems.push(problem(gw, caller, cluster.service ?? name, callee, missing, tls.validationSecret));
      }
    }
  }
  return problems;
}

/**
 * True when a self-signed anchor issued some certificate of the CA's chain (intermediate
 * first, root last; the root issued itself). Only self-signed anchors count: the
 * proxies' TLS stack verifies up to a root, never stopping at an intermediate.
 */
function anchorsTrust(anchors: readonly X509Certificate[], ca: CertificateAuthority): boolean {
  return ca.chain.some((c) => anchors.some((a) => a.subject === a.issuer && c.issuer === a.subject && c.checkIssued(a) && c.verify(a.publicKey)));
}

function bundleCertificates(secret: IrSecret, certs: MeshCertificates): X509Certificate[] {
  const pem = secret.kind === "trust-bundle" ? certs.trustBundle(secret.trustDomains) + (secret.extraCaPem ?? "") : secret.kind === "ca-bundle" ? secret.caPem : "";
  try {
    return parseCertificates(pem, secret.name);
  } catch {
    return [];
  }
}

/** `ca/<namespace>/<policy>` -> `BackendTLSPolicy <namespace>/<policy>`. */
function policyName(secret: string): string {
  return secret.startsWith("ca/") ? `BackendTLSPolicy ${secret.slice(3)}` : `CA bundle ${secret}`;
}

function problem(gw: IrProxy, caller: Issuer, service: string, callee: Issuer, missing: MissingRoot[], validationSecret: string): TrustProblem {
  const who = `Gateway ${gw.namespace}/${gw.name}`;
  const svc = service.replace(/:\d+$/, "");
  const [svcNs, svcName] = svc.split("/") as [string, string];
  const reasons = missing.map((m) =>
    m.verifier === "gateway"
      ? `the gateway does not trust Mesh ${m.mesh}'s root ${m.root} (it verifies the Service's sidecars with ${m.bundle})`
      : `the Service's sidecars do not trust Mesh ${m.mesh}'s root ${m.root} (they verify the gateway with ${m.bundle})`,
  );
  const message = `${who} (Mesh ${caller.mesh}) calls Service ${service} (Mesh ${callee.mesh}) over mTLS, but ${reasons.join("; and ")}: requests on this route fail with 503`;
  const gatewayMissing = missing.some((m) => m.verifier === "gateway");
  const serviceMissing = missing.some((m) => m.verifier === "service");
  const trustSteps: string[] = [];
  if (gatewayMissing) {
    trustSteps.push(
      validationSecret === TRUST_BUNDLE_SECRET
        ? `a BackendTLSPolicy in namespace ${svcNs} targeting Service ${svcName}, whose validation.caCertificateRefs name a ConfigMap with Mesh ${callee.mesh}'s root (meshgate trust bundle --from ${callee.folder} --format configmap --name ${callee.mesh}-root --namespace ${svcNs})`
        : `the ConfigMap that ${policyName(validationSecret)} names must hold Mesh ${callee.mesh}'s root (meshgate trust bundle --from ${callee.folder} --format configmap)`,
    );
  }
  if (serviceMissing) {
    trustSteps.push(`Mesh ${callee.mesh} spec.trustedRoots naming a ConfigMap with Mesh ${caller.mesh}'s root (meshgate trust bundle --from ${caller.folder} --format configmap --name ${caller.mesh}-root --namespace ${svcNs})`);
  }
  const fixes = [
    `one root: give Mesh ${caller.mesh} and Mesh ${callee.mesh} the same spec.ca.rootName and spec.trustDomain, or spec.ca.mode Provided with intermediates made from one root (meshgate pki init, then meshgate pki intermediate --root <that root> for each mesh)`,
    `trust both roots: ${trustSteps.join("; and ")}`,
  ];
  return {
    caller: who,
    callerId: gw.identity!,
    callerMesh: caller.mesh,
    service,
    serviceMesh: callee.mesh,
    missing,
    message,
    fixes,
    doctor: `meshgate trust doctor --client ${caller.folder} --server ${callee.folder}`,
  };
}
