// Certificates and CA bundles a proxy receives over SDS. The IR names what a proxy needs;
// key material the control plane issues itself (SVIDs, mesh trust bundles) is filled in
// by the xDS layer from the CA, so translation stays pure and deterministic.

/** Istio's well-known SDS names: a proxy's own SVID and its mesh's trust bundle. */
export const SVID_SECRET = "default";
export const TRUST_BUNDLE_SECRET = "ROOTCA";

export type IrSecret =
  /** A certificate and key from a Kubernetes Secret (listener certificateRefs, Gateway backend client certificate). */
  | { readonly name: string; readonly kind: "certificate"; readonly certPem: string; readonly keyPem: string }
  /** The proxy's X.509-SVID, issued (and renewed) by the control plane. */
  | { readonly name: string; readonly kind: "svid"; readonly spiffeId: string }
  /** A CA bundle given in the configuration (BackendTLSPolicy caCertificateRefs). */
  | { readonly name: string; readonly kind: "ca-bundle"; readonly caPem: string }
  /** The roots of these trust domains, from the control plane's CA (plus Mesh trustedRoots PEM). */
  | { readonly name: string; readonly kind: "trust-bundle"; readonly trustDomains: readonly string[]; readonly extraCaPem?: string };
