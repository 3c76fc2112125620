// BackendTLSPolicy: upstream TLS from a proxy to a Service outside the mesh.
//
// - CA: the policy's ConfigMaps (`ca.crt`, concatenated in reference order) become one
//   `ca-bundle` secret named `ca/<policy namespace>/<policy name>`. With
//   `wellKnownCACertificates: System` the bundle is the well-known public roots Node ships
//   (Mozilla's CA store, `tls.rootCertificates`), in a secret named `system-ca`: a plain
//   data list, so every proxy and every consumer of the IR verifies against the same roots.
// - SNI: `validation.hostname`. Names the certificate must carry: `subjectAltNames`
//   (Hostname -> DNS, URI -> URI, incl. `spiffe://` IDs) when given; otherwise the hostname
//   (as the spec says: subjectAltNames replace the hostname check).
// - A policy that targets the Service but is not usable (not accepted, or its CA
//   reference does not resolve) makes the Service unreachable rather than plaintext: the
//   owner asked for TLS, so a 500 is the safe failure.
// - Several policies on one Service port: one naming the port (sectionName) wins, then
//   the oldest, then `namespace/name` in alphabetical order (the policy attachment rules).
// - Services backed by mesh Workloads keep mesh mTLS (the caller presents its SVID, the
//   sidecars must present a backing Workload's SPIFFE ID), and a policy on them names the
//   trust anchor: its CA bundle replaces the caller's mesh bundle for that Service. This is
//   how a caller trusts a mesh with another root (a gateway in one mesh calling a Service
//   whose mesh has its own root) without trusting that root for anything else. SVIDs carry
//   no DNS names, so the hostname is the SNI only; `subjectAltNames`, when given, replace
//   the SPIFFE IDs.

import { rootCertificates } from "node:tls";
import type { IrSanMatch, IrSecret } from "../ir/index.js";
import type { GatewayModel, Model, PolicyModel, ServiceModel, ServicePortModel } from "../model/index.js";
import { secretValue } from "../model/gateway-api/gateways.js";
import { isReferenceAllowed } from "../model/gateway-api/reference-grants.js";
import { byString, kubeSecretName } from "./names.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const SYSTEM_CA_SECRET = "system-ca";

export type BackendTls =
  | {
      readonly usable: true;
      /** `namespace/name` of the policy. */
      readonly policy: string;
      readonly caSecret: Extract<IrSecret, { kind: "ca-bundle" }>;
      readonly sni: string;
      readonly subjectAltNames: readonly IrSanMatch[];
      /** The policy lists subjectAltNames (otherwise `subjectAltNames` is the hostname). */
      readonly subjectAltNamesGiven: boolean;
    }
  | { readonly usable: false; readonly policy: string };

/** The BackendTLSPolicy in force for one Service port, or undefined when none targets it. */
export function backendTlsFor(model: Model, svc: ServiceModel, port: ServicePortModel): BackendTls | undefined {
  const candidates: { policy: PolicyModel; section: boolean }[] = [];
  for (const p of model.policies) {
    if (p.resource.kind !== "BackendTLSPolicy" || p.resource.namespace !== svc.namespace) continue;
    const refs: Obj[] = (p.resource.spec as Obj).targetRefs ?? [];
    const hits = refs.filter((r) => (r.group ?? "") === "" && r.kind === "Service" && r.name === svc.name && (r.sectionName === undefined || r.sectionName === port.name));
    if (hits.length === 0) continue;
    candidates.push({ policy: p, section: hits.some((r) => r.sectionName !== undefined) });
  }
  if (candidates.length === 0) return undefined;
  candidates.sort((a, b) => Number(b.section) - Number(a.section) || created(a.policy) - created(b.policy) || byString(key(a.policy), key(b.policy)));
  const chosen = candidates[0]!.policy;
  const name = key(chosen);
  const usable = chosen.conditions.find((c) => c.type === "Accepted")?.status === "True" && !chosen.conditions.some((c) => c.type === "ResolvedRefs" && c.status === "False");
  if (!usable) return { usable: false, policy: name };
  const validation: Obj = (chosen.resource.spec as Obj).validation ?? {};
  const caSecret = caBundle(model, chosen, validation);
  if (!caSecret) return { usable: false, policy: name };
  const hostname: string = validation.hostname;
  const sans: IrSanMatch[] = ((validation.subjectAltNames ?? []) as Obj[]).flatMap((s): IrSanMatch[] =>
    s.type === "Hostname" && s.hostname ? [{ type: "DNS", value: s.hostname }] : s.type === "URI" && s.uri ? [{ type: "URI", value: s.uri }] : [],
  );
  return { usable: true, policy: name, caSecret, sni: hostname, subjectAltNames: sans.length > 0 ? sans : [{ type: "DNS", value: hostname }], subjectAltNamesGiven: sans.length > 0 };
}

function caBundle(model: Model, policy: PolicyModel, validation: Obj): Extract<IrSecret, { kind: "ca-bundle" }> | undefined {
  if (validation.wellKnownCACertificates === "System") {
    return { name: SYSTEM_CA_SECRET, kind: "ca-bundle", caPem: rootCertificates.map((c) => (c.endsWith("\n") ? c : c + "\n")).join("") };
  }
  const pems: string[] = [];
  for (const ref of (validation.caCertificateRefs ?? []) as Obj[]) {
    const cm = model.index.get("ConfigMap", policy.resource.namespace, ref.name);
    const pem: unknown = cm ? ((cm.object as Obj).data?.["ca.crt"] ?? secretValue(cm.object as Obj, "ca.crt")) : undefined;
    if (typeof pem !== "string" || !pem.includes("-----BEGIN CERTIFICATE-----")) return undefined;
    pems.push(pem.endsWith("\n") ? pem : pem + "\n");
  }
  if (pems.length === 0) return undefined;
  return { name: `ca/${policy.resource.namespace}/${policy.resource.name}`, kind: "ca-bundle", caPem: pems.join("") };
}

/**
 * The certificate a Gateway presents to BackendTLSPolicy upstreams: its
 * `spec.tls.backend.clientCertificateRef` Secret. `undefined` when not set; `null` when set
 * but unusable (missing, not permitted, not a TLS Secret): then it presents nothing rather
 * than another identity the owner did not choose.
 */
export function gatewayBackendClientCertificate(model: Model, gw: GatewayModel): Extract<IrSecret, { kind: "certificate" }> | null | undefined {
  const ref: Obj | undefined = (gw.resource.spec as Obj).tls?.backend?.clientCertificateRef;
  if (!ref) return undefined;
  if ((ref.group ?? "") !== "" || (ref.kind ?? "Secret") !== "Secret") return null;
  const ns: string = ref.namespace ?? gw.resource.namespace;
  const allowed = isReferenceAllowed(model.index, { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: gw.resource.namespace }, { group: "", kind: "Secret", namespace: ns, name: ref.name });
  const secret = allowed ? model.index.get("Secret", ns, ref.name) : undefined;
  if (!secret) return null;
  const certPem = secretValue(secret.object as Obj, "tls.crt");
  const keyPem = secretValue(secret.object as Obj, "tls.key");
  if (!certPem?.includes("-----BEGIN CERTIFICATE-----") || !keyPem?.includes("PRIVATE KEY-----")) return null;
  return { name: kubeSecretName(ns, ref.name), kind: "certificate", certPem, keyPem };
}

function key(p: PolicyModel): string {
  return `${p.resource.namespace}/${p.resource.name}`;
}

function created(p: PolicyModel): number {
  const t = Date.parse(String((p.resource.object as Obj).metadata?.creationTimestamp ?? ""));
  return Number.isNaN(t) ? Number.MAX_SAFE_INTEGER : t;
}
