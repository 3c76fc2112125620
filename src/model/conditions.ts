// Status conditions with the Gateway API's condition types and reasons, so what meshgate
// reports reads exactly like what a Kubernetes Gateway controller would write.

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export function condition(type: string, status: ConditionStatus, reason: string, message = ""): Condition {
  return { type, status, reason, message };
}

export const CONTROLLER_NAME = "meshgate.dev/gateway-controller";

/** Reasons from the Gateway API spec (v1), grouped by the condition they explain. */
export const Reason = {
  Accepted: "Accepted",
  InvalidParameters: "InvalidParameters",
  ListenersNotValid: "ListenersNotValid",
  Invalid: "Invalid",
  Pending: "Pending",
  Programmed: "Programmed",
  UnsupportedProtocol: "UnsupportedProtocol",
  PortUnavailable: "PortUnavailable",
  HostnameConflict: "HostnameConflict",
  ProtocolConflict: "ProtocolConflict",
  NoConflicts: "NoConflicts",
  ResolvedRefs: "ResolvedRefs",
  InvalidCertificateRef: "InvalidCertificateRef",
  InvalidRouteKinds: "InvalidRouteKinds",
  RefNotPermitted: "RefNotPermitted",
  NotAllowedByListeners: "NotAllowedByListeners",
  NoMatchingListenerHostname: "NoMatchingListenerHostname",
  NoMatchingParent: "NoMatchingParent",
  UnsupportedValue: "UnsupportedValue",
  BackendNotFound: "BackendNotFound",
  InvalidKind: "InvalidKind",
  TargetNotFound: "TargetNotFound",
  Conflicted: "Conflicted",
} as const;
