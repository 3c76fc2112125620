// Client certificate validation on HTTPS listeners (Gateway `spec.tls.frontend`): the
// per-port entry for the listener's port, else the default. Each CA reference must be a
// ConfigMap (group "") with a PEM `ca.crt`, in the Gateway's namespace or allowed by a
// ReferenceGrant. A reference that does not resolve makes the listener not ready rather
// than served without validation: the owner asked for client certificates, and refusing
// clients is safer than letting them in unverified.

import { condition, Reason, type Condition } from "../conditions.js";
import type { ClientValidationModel } from "../model.js";
import type { FieldPath } from "../../config/source-position.js";
import type { ProblemSink } from "../problem-sink.js";
import type { AnyResource } from "../resource.js";
import type { ResourceIndex } from "../resource-index.js";
import { secretValue } from "./gateways.js";
import { isReferenceAllowed } from "./reference-grants.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type FrontendValidationResult =
  | { readonly ok: true; readonly validation: ClientValidationModel | undefined }
  /** The listener must not be served; `conditions` replace its Accepted / ResolvedRefs. */
  | { readonly ok: false; readonly accepted: Condition | undefined; readonly resolvedRefs: Condition };

// Resolved once per Gateway and port: listeners sharing a port share the settings, and
// their problems are reported once.
const resolved = new WeakMap<AnyResource, Map<number, FrontendValidationResult>>();

/** The validation configured for an HTTPS listener on `port`, with its references resolved. */
export function frontendValidationFor(index: ResourceIndex, gw: AnyResource, port: number, sink: ProblemSink): FrontendValidationResult {
  let byPort = resolved.get(gw);
  if (!byPort) resolved.set(gw, (byPort = new Map()));
  let r = byPort.get(port);
  if (!r) byPort.set(port, (r = resolve(index, gw, port, sink)));
  return r;
}

function resolve(index: ResourceIndex, gw: AnyResource, port: number, sink: ProblemSink): FrontendValidationResult {
  const frontend: Obj | undefined = (gw.spec as Obj).tls?.frontend;
  if (!frontend) return { ok: true, validation: undefined };
  const perPort = ((frontend.perPort ?? []) as Obj[]).findIndex((p) => p.port === port);
  const at: FieldPath = perPort >= 0 ? ["spec", "tls", "frontend", "perPort", perPort, "tls", "validation"] : ["spec", "tls", "frontend", "default", "validation"];
  const validation: Obj | undefined = perPort >= 0 ? frontend.perPort[perPort].tls?.validation : frontend.default?.validation;
  if (!validation) return { ok: true, validation: undefined };

  // The schema admits only the two modes (anything else makes the configuration unusable).
  const mode: ClientValidationModel["mode"] = validation.mode === "AllowInsecureFallback" ? "AllowInsecureFallback" : "AllowValidOnly";

  const refs = (validation.caCertificateRefs ?? []) as Obj[];
  const pems: string[] = [];
  let failure: Condition | undefined;
  refs.forEach((ref, i) => {
    const path = [...at, "caCertificateRefs", i];
    const group = ref.group ?? "";
    const ns: string = ref.namespace ?? gw.namespace;
    const fail = (reason: string, code: "MG_INVALID_KIND" | "MG_REF_NOT_PERMITTED" | "MG_INVALID_CERTIFICATE_REF", field: string, message: string) => {
      sink.error(code, gw, [...path, field], message);
      failure ??= condition("ResolvedRefs", "False", reason, message);
    };
    if (group !== "" || ref.kind !== "ConfigMap") {
      return fail("InvalidCACertificateKind", "MG_INVALID_KIND", "kind", `caCertificateRef kind ${group ? group + "/" : ""}${ref.kind} is not supported; use a ConfigMap with a ca.crt key`);
    }
    if (!isReferenceAllowed(index, { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: gw.namespace }, { group: "", kind: "ConfigMap", namespace: ns, name: ref.name })) {
      return fail(Reason.RefNotPermitted, "MG_REF_NOT_PERMITTED", "namespace", `ConfigMap ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows Gateways from ${gw.namespace}`);
    }
    const cm = index.get("ConfigMap", ns, ref.name);
    const pem: unknown = cm ? ((cm.object as Obj).data?.["ca.crt"] ?? secretValue(cm.object as Obj, "ca.crt")) : undefined;
    if (!cm) return fail("InvalidCACertificateRef", "MG_INVALID_CERTIFICATE_REF", "name", `ConfigMap ${ns}/${ref.name} is not defined`);
    if (typeof pem !== "string" || !pem.includes("-----BEGIN CERTIFICATE-----")) {
      return fail("InvalidCACertificateRef", "MG_INVALID_CERTIFICATE_REF", "name", `ConfigMap ${ns}/${ref.name} has no PEM certificate under ca.crt`);
    }
    pems.push(pem.endsWith("\n") ? pem : pem + "\n");
  });
  if (refs.length === 0) {
    const message = "client certificate validation names no caCertificateRefs";
    sink.error("MG_INVALID_CERTIFICATE_REF", gw, [...at, "caCertificateRefs"], message);
    failure = condition("ResolvedRefs", "False", "InvalidCACertificateRef", message);
  }
  if (failure) {
    const accepted = pems.length === 0 ? condition("Accepted", "False", "NoValidCACertificate", "No usable CA certificate for validating client certificates") : undefined;
    return { ok: false, accepted, resolvedRefs: failure };
  }
  return { ok: true, validation: { caPem: pems.join(""), mode } };
}
