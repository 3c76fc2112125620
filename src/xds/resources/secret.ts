// IrSecret -> envoy.extensions.transport_sockets.tls.v3.Secret, key material inline.

import type { IrSecret } from "../../ir/index.js";
import type { CertificateSource } from "../certificate-source.js";
import type { Json } from "./common.js";

export function secretResource(s: IrSecret, certs: CertificateSource): Json {
  switch (s.kind) {
    case "certificate":
      return tlsCertificate(s.name, s.certPem, s.keyPem);
    case "svid": {
      const m = certs.svid(s.spiffeId);
      return tlsCertificate(s.name, m.certChainPem, m.keyPem);
    }
    case "ca-bundle":
      return trustedCa(s.name, s.caPem);
    case "trust-bundle": {
      const roots = certs.trustBundle(s.trustDomains);
      return trustedCa(s.name, s.extraCaPem ? `${roots}${s.extraCaPem.endsWith("\n") ? s.extraCaPem : `${s.extraCaPem}\n`}` : roots);
    }
  }
}

function tlsCertificate(name: string, chainPem: string, keyPem: string): Json {
  return { name, tlsCertificate: { certificateChain: { inlineString: chainPem }, privateKey: { inlineString: keyPem } } };
}

function trustedCa(name: string, pem: string): Json {
  return { name, validationContext: { trustedCa: { inlineString: pem } } };
}
