// GatewayClasses and Gateways: which are ours (controllerName), their listeners, the
// conflicts between listeners, and the TLS certificates HTTPS listeners reference.

import { Buffer } from "node:buffer";
import { condition, CONTROLLER_NAME, Reason, type Condition } from "../conditions.js";
import type { CertificateRef, ClientValidationModel, GatewayModel, ListenerModel, RouteKindRef } from "../model.js";
import type { ProblemSink } from "../problem-sink.js";
import type { AnyResource } from "../resource.js";
import type { ResourceIndex } from "../resource-index.js";
import { frontendValidationFor } from "./frontend-validation.js";
import { isReferenceAllowed } from "./reference-grants.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const GW_GROUP = "gateway.networking.k8s.io";
const SUPPORTED_PROTOCOLS = new Set(["HTTP", "HTTPS"]);
const ROUTE_KINDS: RouteKindRef[] = [
  { group: GW_GROUP, kind: "HTTPRoute" },
  { group: GW_GROUP, kind: "GRPCRoute" },
];

export interface GatewayClassResult {
  readonly ours: AnyResource[];
  readonly statuses: Map<AnyResource, Condition[]>;
}

export function buildGatewayClasses(index: ResourceIndex, sink: ProblemSink): GatewayClassResult {
  const ours: AnyResource[] = [];
  const statuses = new Map<AnyResource, Condition[]>();
  for (const gc of index.list("GatewayClass")) {
    if (gc.spec.controllerName !== CONTROLLER_NAME) {
      sink.info("MG_OTHER_CONTROLLER", gc, ["spec", "controllerName"], `controller "${gc.spec.controllerName}" is not ${CONTROLLER_NAME}; its Gateways are ignored`);
      continue;
    }
    ours.push(gc);
    if (gc.spec.parametersRef) {
      sink.error("MG_UNSUPPORTED", gc, ["spec", "parametersRef"], "meshgate takes no GatewayClass parameters; remove parametersRef");
      statuses.set(gc, [condition("Accepted", "False", Reason.InvalidParameters, "parametersRef is not supported")]);
    } else {
      statuses.set(gc, [condition("Accepted", "True", Reason.Accepted, "Handled by meshgate")]);
    }
  }
  return { ours, statuses };
}

export function buildGateways(index: ResourceIndex, classes: GatewayClassResult, sink: ProblemSink): GatewayModel[] {
  const accepted = new Set(classes.ours.filter((c) => classes.statuses.get(c)?.[0]?.status === "True").map((c) => c.name));
  const ours = new Set(classes.ours.map((c) => c.name));
  const gateways: GatewayModel[] = [];
  for (const gw of index.list("Gateway")) {
    const className: string = gw.spec.gatewayClassName;
    const gc = index.get("GatewayClass", "", className);
    if (!gc) {
      sink.error("MG_GATEWAYCLASS_NOT_FOUND", gw, ["spec", "gatewayClassName"], `GatewayClass "${className}" is not defined; define it with controllerName: ${CONTROLLER_NAME}`);
      continue;
    }
    if (!ours.has(className)) continue; // another controller's Gateway: not ours to report on
    gateways.push(buildGateway(index, gw, accepted.has(className), sink));
  }
  refuseAddressCollisions(gateways, sink);
  return gateways;
}

/**
 * Each Gateway's proxy binds its listener ports on its first address (0.0.0.0 without
 * one), so two Gateways on one machine cannot share an address and port — and 0.0.0.0
 * overlaps every address. The oldest Gateway (creationTimestamp, then namespace/name)
 * keeps the socket; the other is not Programmed and says which Gateway holds it.
 */
function refuseAddressCollisions(gateways: GatewayModel[], sink: ProblemSink): void {
  const holders = new Map<number, { gw: GatewayModel; address: string }[]>();
  for (const gw of [...gateways].sort(olderFirst)) {
    if (gw.conditions[0]?.status !== "True") continue;
    const address = gw.addresses[0] ?? "0.0.0.0";
    const ports = [...new Set(gw.listeners.filter((l) => l.ready).map((l) => l.port))];
    const clash = ports
      .map((port) => ({ port, holder: holders.get(port)?.find((h) => h.address === address || h.address === "0.0.0.0" || address === "0.0.0.0") }))
      .find((c) => c.holder);
    if (clash?.holder) {
      const other = `${clash.holder.gw.resource.namespace}/${clash.holder.gw.resource.name}`;
      const message = `${address}:${clash.port} is already used by Gateway ${other} (${clash.holder.address}:${clash.port}); give this Gateway another spec.addresses value or port`;
      sink.error("MG_ADDRESS_IN_USE", gw.resource, gw.addresses.length > 0 ? ["spec", "addresses", 0] : ["spec", "listeners"], message);
      const i = gw.conditions.findIndex((c) => c.type === "Programmed");
      gw.conditions[i] = condition("Programmed", "False", "AddressNotUsable", message);
      continue;
    }
    for (const port of ports) {
      const list = holders.get(port) ?? [];
      list.push({ gw, address });
      holders.set(port, list);
    }
  }
}

function olderFirst(a: GatewayModel, b: GatewayModel): number {
  const created = (g: GatewayModel) => Date.parse(String((g.resource.object.metadata as Obj | undefined)?.creationTimestamp ?? ""));
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) {
    if (Number.isNaN(ta)) return 1; // no timestamp counts as newest
    if (Number.isNaN(tb)) return -1;
    return ta - tb;
  }
  const ka = `${a.resource.namespace}/${a.resource.name}`;
  const kb = `${b.resource.namespace}/${b.resource.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function buildGateway(index: ResourceIndex, gw: AnyResource, classAccepted: boolean, sink: ProblemSink): GatewayModel {
  const spec = gw.spec as Obj;
  const addresses: string[] = [];
  const gwConditions: Condition[] = [];
  let addressOk = true;
  (spec.addresses ?? []).forEach((a: Obj, i: number) => {
    if ((a.type ?? "IPAddress") !== "IPAddress") {
      sink.error("MG_UNSUPPORTED", gw, ["spec", "addresses", i, "type"], `address type ${a.type} is not supported; use IPAddress`);
      addressOk = false;
    } else addresses.push(a.value);
  });

  const listeners: ListenerModel[] = (spec.listeners as Obj[]).map((l, i) => buildListener(index, gw, l, i, sink));
  markConflicts(gw, listeners, sink);

  const valid = listeners.filter((l) => l.ready).length;
  if (!classAccepted) {
    gwConditions.push(condition("Accepted", "False", Reason.Invalid, "GatewayClass is not accepted"));
  } else if (!addressOk) {
    gwConditions.push(condition("Accepted", "False", "UnsupportedAddress", "only IPAddress addresses are supported"));
  } else if (valid === listeners.length) {
    gwConditions.push(condition("Accepted", "True", Reason.Accepted, "Gateway is valid"));
  } else {
    gwConditions.push(
      condition("Accepted", valid > 0 ? "True" : "False", Reason.ListenersNotValid, `${listeners.length - valid} of ${listeners.length} listener(s) are not valid`),
    );
  }
  const acceptedNow = gwConditions[0]!.status === "True";
  gwConditions.push(
    acceptedNow
      ? condition("Programmed", "Unknown", Reason.Pending, "Waiting for a proxy to acknowledge it")
      : condition("Programmed", "False", Reason.Invalid, "Gateway is not accepted"),
  );
  return { resource: gw, className: spec.gatewayClassName, addresses, listeners, conditions: gwConditions };
}

function buildListener(index: ResourceIndex, gw: AnyResource, l: Obj, i: number, sink: ProblemSink): ListenerModel {
  const at = ["spec", "listeners", i];
  const conditions: Condition[] = [];
  const certificates: CertificateRef[] = [];
  let clientValidation: ClientValidationModel | undefined;
  let validationAccepted: Condition | undefined;
  let accepted = true;
  let refsOk = true;
  let refsReason: string = Reason.ResolvedRefs;
  let refsMessage = "All references resolved";

  if (!SUPPORTED_PROTOCOLS.has(l.protocol)) {
    accepted = false;
    sink.error("MG_LISTENER_UNSUPPORTED", gw, [...at, "protocol"], `protocol ${l.protocol} is not supported; meshgate serves HTTP and HTTPS listeners`);
  }

  // allowedRoutes.kinds: keep the kinds we serve, flag the rest.
  let supportedKinds = ROUTE_KINDS;
  const kinds: Obj[] | undefined = l.allowedRoutes?.kinds;
  if (kinds && kinds.length > 0) {
    supportedKinds = [];
    kinds.forEach((k, ki) => {
      const known = ROUTE_KINDS.find((rk) => rk.kind === k.kind && rk.group === (k.group ?? GW_GROUP));
      if (known) supportedKinds.push(known);
      else {
        refsOk = false;
        refsReason = Reason.InvalidRouteKinds;
        refsMessage = `route kind ${k.group ?? GW_GROUP}/${k.kind} is not supported`;
        sink.error("MG_LISTENER_UNSUPPORTED", gw, [...at, "allowedRoutes", "kinds", ki], `${refsMessage}; use HTTPRoute or GRPCRoute`);
      }
    });
  }

  if (l.protocol === "HTTPS") {
    const mode = l.tls?.mode ?? "Terminate";
    if (mode !== "Terminate") {
      accepted = false;
      sink.error("MG_LISTENER_UNSUPPORTED", gw, [...at, "tls", "mode"], `tls.mode ${mode} is not supported on HTTPS listeners; use Terminate`);
    }
    ((l.tls?.certificateRefs ?? []) as Obj[]).forEach((ref, ri) => {
      const path = [...at, "tls", "certificateRefs", ri];
      const group = ref.group ?? "";
      const kind = ref.kind ?? "Secret";
      const ns = ref.namespace ?? gw.namespace;
      const fail = (reason: string, code: "MG_INVALID_CERTIFICATE_REF" | "MG_REF_NOT_PERMITTED", message: string) => {
        refsOk = false;
        refsReason = reason;
        refsMessage = message;
        sink.error(code, gw, path, message);
      };
      if (group !== "" || kind !== "Secret") return fail(Reason.InvalidCertificateRef, "MG_INVALID_CERTIFICATE_REF", `certificateRef kind ${group ? group + "/" : ""}${kind} is not supported; use a Secret`);
      if (!isReferenceAllowed(index, { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: gw.namespace }, { group: "", kind: "Secret", namespace: ns, name: ref.name })) {
        return fail(Reason.RefNotPermitted, "MG_REF_NOT_PERMITTED", `Secret ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows Gateways from ${gw.namespace}`);
      }
      const secret = index.get("Secret", ns, ref.name);
      if (!secret) return fail(Reason.InvalidCertificateRef, "MG_INVALID_CERTIFICATE_REF", `Secret ${ns}/${ref.name} is not defined`);
      const o = secret.object as Obj;
      if (o.type !== "kubernetes.io/tls") return fail(Reason.InvalidCertificateRef, "MG_INVALID_CERTIFICATE_REF", `Secret ${ns}/${ref.name} has type ${o.type ?? "Opaque"}; it must be kubernetes.io/tls`);
      const certPem = secretValue(o, "tls.crt");
      const keyPem = secretValue(o, "tls.key");
      if (!certPem?.includes("-----BEGIN CERTIFICATE-----") || !keyPem?.includes("PRIVATE KEY-----")) {
        return fail(Reason.InvalidCertificateRef, "MG_INVALID_CERTIFICATE_REF", `Secret ${ns}/${ref.name} does not hold a PEM certificate and private key in tls.crt / tls.key`);
      }
      certificates.push({ namespace: ns, name: ref.name, certPem, keyPem });
    });
    if (mode === "Terminate") {
      const v = frontendValidationFor(index, gw, l.port, sink);
      if (v.ok) clientValidation = v.validation;
      else {
        refsOk = false;
        refsReason = v.resolvedRefs.reason;
        refsMessage = v.resolvedRefs.message;
        validationAccepted = v.accepted;
      }
    }
  }

  conditions.push(
    !accepted
      ? condition("Accepted", "False", Reason.UnsupportedProtocol, `protocol or TLS mode is not supported`)
      : (validationAccepted ?? condition("Accepted", "True", Reason.Accepted, "Listener is valid")),
  );
  conditions.push(condition("ResolvedRefs", refsOk ? "True" : "False", refsReason, refsMessage));
  return {
    name: l.name,
    port: l.port,
    protocol: l.protocol,
    hostname: l.hostname,
    ready: accepted && refsOk,
    certificates,
    ...(clientValidation ? { clientValidation } : {}),
    supportedKinds,
    conditions,
    attachedRoutes: 0,
  };
}

/** Same port + different protocol, or same port + protocol + hostname: both listeners conflict. */
function markConflicts(gw: AnyResource, listeners: ListenerModel[], sink: ProblemSink) {
  const conflict: (string | undefined)[] = listeners.map(() => undefined);
  for (let i = 0; i < listeners.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = listeners[i]!, b = listeners[j]!;
      if (a.port !== b.port) continue;
      if (a.protocol !== b.protocol) {
        conflict[i] ??= Reason.ProtocolConflict;
        conflict[j] ??= Reason.ProtocolConflict;
        sink.error("MG_LISTENER_CONFLICT", gw, ["spec", "listeners", i, "protocol"], `listener "${a.name}" uses port ${a.port} with ${a.protocol} but listener "${b.name}" uses it with ${b.protocol}`);
      } else if ((a.hostname ?? "") === (b.hostname ?? "")) {
        conflict[i] ??= Reason.HostnameConflict;
        conflict[j] ??= Reason.HostnameConflict;
        sink.error("MG_LISTENER_CONFLICT", gw, ["spec", "listeners", i, "hostname"], `listener "${a.name}" repeats port ${a.port}, protocol ${a.protocol} and hostname ${a.hostname ?? "(any)"} of listener "${b.name}"`);
      }
    }
  }
  listeners.forEach((l, i) => {
    const reason = conflict[i];
    const mutable = l as { ready: boolean };
    if (reason) {
      mutable.ready = false;
      l.conditions.push(condition("Conflicted", "True", reason, reason === Reason.ProtocolConflict ? "Another listener uses this port with a different protocol" : "Another listener uses this port, protocol and hostname"));
    } else {
      l.conditions.push(condition("Conflicted", "False", Reason.NoConflicts, "No conflicts"));
    }
    l.conditions.push(
      l.ready
        ? condition("Programmed", "Unknown", Reason.Pending, "Waiting for a proxy to acknowledge it")
        : condition("Programmed", "False", Reason.Invalid, "Listener is not valid"),
    );
  });
}

/** A Secret value from data (base64) or stringData (plain). */
export function secretValue(secret: Obj, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (typeof plain === "string") return plain;
  const b64 = secret.data?.[key];
  return typeof b64 === "string" ? Buffer.from(b64, "base64").toString("utf8") : undefined;
}
