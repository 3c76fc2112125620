// The PKI: SPIFFE identities, the CA hierarchy (root -> per-mesh intermediate -> SVIDs),
// trust bundles, rotation and the trust doctor. Nothing here knows the configuration
// model, the translator or the proxies.

export * from "./trust-domain.js";
export * from "./spiffe-id.js";
export * from "./spiffe-id-matcher.js";
export * from "./key-pair.js";
export * from "./key-store.js";
export * from "./pem.js";
export * from "./csr.js";
export * from "./certificate-authority.js";
export * from "./fast-svid-issuer.js";
export * from "./certificate-facts.js";
export * from "./key-identifier.js";
export * from "./serial.js";
export * from "./certificate-names.js";
export * from "./chain-verification.js";
export * from "./x509-svid.js";
export * from "./trust-bundle.js";
export * from "./cacerts-layout.js";
export * from "./rotation.js";
export * from "./inspect.js";
export * from "./doctor.js";
