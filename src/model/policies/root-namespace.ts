/**
 * Istio's root namespace (meshConfig.rootNamespace, `istio-system` by default): security
 * policies here without a selector are mesh-wide. Documented in docs/configuration.md.
 */
export const ROOT_NAMESPACE = "istio-system";
