// Key material for the golden cases: a real root and intermediate per trust domain the
// configuration's meshes use (made once per trust domain and reused across cases), SVIDs
// issued by the fast path. The rendered files redact all of it, so fresh CAs on every
// run do not change the output.

import { createIntermediateCa, createRootCa, FastSvidIssuer, SpiffeId, TrustDomain } from "../../src/pki/index.js";
import { CaCertificateSource, type CertificateSource, type SvidMaterial } from "../../src/xds/certificate-source.js";
import { TrustDomainUnknownError } from "../../src/errors.js";

const perDomain = new Map<string, Promise<{ source: CaCertificateSource; rootPem: string }>>();

function domainSource(name: string): Promise<{ source: CaCertificateSource; rootPem: string }> {
  let p = perDomain.get(name);
  if (!p) {
    p = (async () => {
      const td = TrustDomain.parse(name);
      const root = await createRootCa({ trustDomain: td });
      const intermediate = await createIntermediateCa(root, { mesh: "golden" });
      return { source: new CaCertificateSource({ issuer: new FastSvidIssuer(intermediate), roots: new Map([[name, root.certificatePem]]) }), rootPem: root.certificatePem };
    })();
    perDomain.set(name, p);
  }
  return p;
}

/** A source that knows the roots of these trust domains and issues SVIDs in each of them. */
export async function goldenCertificateSource(trustDomains: readonly string[]): Promise<CertificateSource> {
  const sources = new Map<string, { source: CaCertificateSource; rootPem: string }>();
  for (const td of [...new Set(trustDomains)].sort()) sources.set(td, await domainSource(td));
  const of = (td: string) => {
    const s = sources.get(td);
    if (!s) throw new TrustDomainUnknownError(td);
    return s;
  };
  return {
    svid: (spiffeId: string): SvidMaterial => of(SpiffeId.parse(spiffeId).trustDomain.name).source.svid(spiffeId),
    trustBundle: (tds: readonly string[]) => tds.map((td) => of(td).source.trustBundle([td])).join(""),
  };
}
