// The control plane's certificate authority for `meshgate up`: one root per `ca.rootName`
// (kept in the state directory, created on first start), one intermediate per Mesh under
// it, and SVIDs for every proxy, issued in memory (their keys never touch the disk) and
// renewed at half life. Meshes with `ca.mode: Provided` use the operator's cacerts folder.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { MeshCaError } from "../errors.js";
import type { MeshModel } from "../model/index.js";
import { CaCertificateSource, type CertificateSource, type SvidMaterial } from "../xds/certificate-source.js";
import {
  createIntermediateCa,
  createRootCa,
  DEFAULT_SVID_TTL_MS,
  encodePem,
  FastSvidIssuer,
  readCaFolder,
  SpiffeId,
  systemClock,
  TrustDomain,
  writeCacertsFolder,
  writeRootFolder,
  type CertificateAuthority,
  type Clock,
} from "../pki/index.js";

interface MeshIssuer {
  readonly mesh: MeshModel;
  readonly ca: CertificateAuthority;
  readonly issuer: FastSvidIssuer;
  /** Issues and caches this mesh's SVIDs; a new CA (or lifetime) means a new cache. */
  readonly svids: CaCertificateSource;
}

export class MeshCertificates implements CertificateSource {
  #issuers = new Map<string, MeshIssuer>(); // by mesh name
  #roots = new Map<string, CertificateAuthority>(); // by root folder
  #meshes: readonly MeshModel[] = [];

  constructor(
    /** Where managed roots and intermediates live (`<dir>/roots/<rootName>`, `<dir>/meshes/<mesh>`). */
    readonly dir: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Loads (or creates) the CA of every mesh. Throws MeshCaError, leaving the previous set in force. */
  async prepare(meshes: readonly MeshModel[]): Promise<void> {
    const issuers = new Map<string, MeshIssuer>();
    for (const mesh of meshes) {
      const known = this.#issuers.get(mesh.name);
      if (known && sameCa(known.mesh, mesh)) {
        issuers.set(mesh.name, { ...known, mesh });
        continue;
      }
      const ca = await this.#caFor(mesh);
      if (ca.trustDomain.name !== mesh.trustDomain) {
        throw new MeshCaError(`Mesh ${mesh.name}: its CA anchors trust domain ${ca.trustDomain.name}, not ${mesh.trustDomain}`);
      }
      const issuer = new FastSvidIssuer(ca, this.clock);
      const svids = new CaCertificateSource({ issuer, roots: new Map(), ttlMs: mesh.workloadCertTtlMs ?? DEFAULT_SVID_TTL_MS, now: () => this.clock().getTime() });
      issuers.set(mesh.name, { mesh, ca, issuer, svids });
    }
    this.#issuers = issuers;
    this.#meshes = meshes;
  }

  async #caFor(mesh: MeshModel): Promise<CertificateAuthority> {
    if (mesh.ca.mode === "Provided") {
      try {
        return readCaFolder(mesh.ca.path, { trustDomain: TrustDomain.parse(mesh.trustDomain) });
      } catch (e) {
        throw new MeshCaError(`Mesh ${mesh.name}: ${(e as Error).message}`);
      }
    }
    const rootDir = join(this.dir, "roots", mesh.ca.rootName);
    let root = this.#roots.get(rootDir);
    if (!root) {
      if (existsSync(rootDir)) root = readCaFolder(rootDir);
      else {
        root = await createRootCa({ trustDomain: TrustDomain.parse(mesh.trustDomain), now: this.clock });
        writeRootFolder(rootDir, root);
      }
      this.#roots.set(rootDir, root);
    }
    if (root.trustDomain.name !== mesh.trustDomain) {
      throw new MeshCaError(`Mesh ${mesh.name}: root "${mesh.ca.rootName}" (${rootDir}) anchors trust domain ${root.trustDomain.name}, not ${mesh.trustDomain}; use another ca.rootName`);
    }
    const meshDir = join(this.dir, "meshes", mesh.name);
    if (existsSync(meshDir)) {
      const ca = readCaFolder(meshDir);
      // An intermediate from an older root (the root folder was replaced) is replaced too.
      if (ca.root.fingerprint === root.certificate.fingerprint && Date.parse(ca.certificate.validTo) > this.clock().getTime()) return ca;
    }
    const ca = await createIntermediateCa(root, { mesh: mesh.name, now: this.clock, ...(mesh.ca.intermediateTtlMs ? { ttlMs: mesh.ca.intermediateTtlMs } : {}) });
    writeCacertsFolder(meshDir, ca);
    return ca;
  }

  #meshFor(id: SpiffeId): MeshIssuer | undefined {
    // spiffe://<td>/ns/<namespace>/sa/<sa>: the mesh that owns the namespace issues it.
    const segments = id.path.split("/");
    const ns = segments[1] === "ns" ? segments[2] : undefined;
    for (const m of this.#issuers.values()) {
      if (m.mesh.trustDomain === id.trustDomain.name && ns !== undefined && m.mesh.namespaces.includes(ns)) return m;
    }
    return undefined;
  }

  /**
   * The mesh that issues this identity, its CA, and the folder that holds the CA's
   * certificates (the cacerts folder: `ca-cert.pem`, `cert-chain.pem`, `root-cert.pem`),
   * which `meshgate trust bundle` and `meshgate trust doctor` read.
   */
  issuerOf(spiffeId: string): { readonly mesh: MeshModel; readonly ca: CertificateAuthority; readonly folder: string } | undefined {
    const id = SpiffeId.parse(spiffeId);
    const owner = this.#meshFor(id);
    if (!owner) return undefined;
    const folder = owner.mesh.ca.mode === "Provided" ? owner.mesh.ca.path : join(this.dir, "meshes", owner.mesh.name);
    return { mesh: owner.mesh, ca: owner.ca, folder };
  }

  /** The identity's current SVID, issued on first use and reissued once past half life. */
  svid(spiffeId: string): SvidMaterial {
    const owner = this.#meshFor(SpiffeId.parse(spiffeId));
    if (!owner) throw new MeshCaError(`no mesh issues ${spiffeId} (its trust domain and namespace must belong to a Mesh)`);
    return owner.svids.svid(spiffeId);
  }

  /**
   * The control plane's own SVID (`spiffe://<td>/meshgate/control-plane`, from the first
   * mesh by name), which the mTLS xDS endpoint presents to proxies. Issued, cached and
   * renewed at half life like every workload's (it lives workloadCertTTL too).
   */
  controlPlaneIdentity(): SvidMaterial & { readonly spiffeId: string } {
    const first = this.#controlPlaneIssuer();
    if (!first) throw new MeshCaError("no Mesh is configured, so the control plane has no identity for mTLS xDS");
    const spiffeId = controlPlaneSpiffeId(first.mesh);
    return { spiffeId, ...first.svids.svid(spiffeId) };
  }

  #controlPlaneIssuer(): MeshIssuer | undefined {
    return [...this.#issuers.values()].sort((a, b) => a.mesh.name.localeCompare(b.mesh.name))[0];
  }

  /**
   * Renews every SVID at or near half life (see CaCertificateSource.renewDue), the control
   * plane's included; the next `svid()` calls return the new ones. Returns how many.
   */
  renewDue(): number {
    let renewed = 0;
    for (const m of this.#issuers.values()) renewed += m.svids.renewDue();
    return renewed;
  }

  /**
   * Forgets the SVIDs of identities no proxy holds any more (a Workload or Gateway
   * removed, a service account renamed): they are not renewed, and the next renewal is
   * that of an SVID someone uses. The control plane's own is always kept.
   */
  retain(spiffeIds: Iterable<string>): void {
    const keep = new Set(spiffeIds);
    const cp = this.#controlPlaneIssuer();
    if (cp) keep.add(controlPlaneSpiffeId(cp.mesh));
    for (const m of this.#issuers.values()) m.svids.retain(keep);
  }

  /** Every trust domain the configured meshes use. */
  trustDomains(): string[] {
    return [...new Set([...this.#issuers.values()].map((m) => m.mesh.trustDomain))].sort();
  }

  /** PEM roots that proxies in these trust domains trust: the CA roots plus the meshes' trustedRoots. */
  trustBundle(trustDomains: readonly string[]): string {
    const pems = new Set<string>();
    for (const m of this.#issuers.values()) {
      if (!trustDomains.includes(m.mesh.trustDomain)) continue;
      pems.add(encodePem("CERTIFICATE", m.ca.root.raw));
      for (const extra of m.mesh.trustedRootsPem) pems.add(extra.endsWith("\n") ? extra : `${extra}\n`);
    }
    return [...pems].join("");
  }

  /** The earliest time an issued SVID needs replacing: when the control plane must push again. */
  nextRenewal(): Date | undefined {
    let next: number | undefined;
    for (const m of this.#issuers.values()) {
      const t = m.svids.nextRenewal();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    return next === undefined ? undefined : new Date(next);
  }

  get meshes(): readonly MeshModel[] {
    return this.#meshes;
  }
}

function controlPlaneSpiffeId(mesh: MeshModel): string {
  return `spiffe://${mesh.trustDomain}/meshgate/control-plane`;
}

function sameCa(a: MeshModel, b: MeshModel): boolean {
  return a.trustDomain === b.trustDomain && JSON.stringify(a.ca) === JSON.stringify(b.ca) && a.workloadCertTtlMs === b.workloadCertTtlMs;
}
