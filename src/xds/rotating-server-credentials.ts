// Server credentials for the mTLS xDS port whose certificate and trusted roots can be
// replaced while it serves. The control plane's own SVID is renewed like every other
// (it lives only workloadCertTTL), and a proxy that connects or reconnects after a
// renewal must meet the new one; streams already open keep the session they have.
//
// grpc-js re-reads server credentials only through a certificate provider (it calls
// `setSecureContext` on its TLS server for every update), so this is one: it hands the
// current material to grpc-js's listeners and again whenever `update` changes it.

import * as grpc from "@grpc/grpc-js";

export interface ServerTlsMaterial {
  /** PEM: the roots client certificates must chain to. */
  readonly rootCaPem: string;
  /** PEM: the server's certificate, then its intermediates. */
  readonly certChainPem: string;
  readonly privateKeyPem: string;
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export class RotatingServerCredentials implements grpc.experimental.CertificateProvider {
  /** Pass to `bindAsync`: requires and verifies a client certificate. */
  readonly credentials: grpc.ServerCredentials;
  #material: ServerTlsMaterial;
  readonly #ca = new Set<CaListener>();
  readonly #identity = new Set<IdentityListener>();

  constructor(material: ServerTlsMaterial) {
    this.#material = material;
    // One provider serves both roles (grpc-js asks for the roots and the identity separately).
    this.credentials = grpc.experimental.createCertificateProviderServerCredentials(this, this, true);
  }

  get material(): ServerTlsMaterial {
    return this.#material;
  }

  /** New handshakes use `material` from now on. */
  update(material: ServerTlsMaterial): void {
    const old = this.#material;
    this.#material = material;
    if (old.rootCaPem !== material.rootCaPem) for (const l of this.#ca) l(this.#caUpdate());
    if (old.certChainPem !== material.certChainPem || old.privateKeyPem !== material.privateKeyPem) for (const l of this.#identity) l(this.#identityUpdate());
  }

  // A listener gets the current material on the next tick, as grpc-js's own providers do:
  // grpc-js registers its server's watcher only after adding these listeners.
  addCaCertificateListener(listener: CaListener): void {
    this.#ca.add(listener);
    process.nextTick(() => this.#ca.has(listener) && listener(this.#caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.add(listener);
    process.nextTick(() => this.#identity.has(listener) && listener(this.#identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.delete(listener);
  }

  #caUpdate(): grpc.experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.#material.rootCaPem) };
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.#material.certChainPem), privateKey: Buffer.from(this.#material.privateKeyPem) };
  }
}
