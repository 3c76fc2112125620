// The messages between the workload supervisor and its guard process (workload-reaper),
// in a module of their own so that neither side has to import the other: importing the
// guard's script would run it.
//
// The handshake exists because a guard that has not yet installed its listeners loses
// everything if `meshgate up` dies in that moment (Node discards what is still in the
// channel when it closes). So the guard says `ready` once it listens and watches for its
// parent's death; the supervisor holds its messages until then, and the guard confirms
// every group it took on (`added`), which is the moment a workload is really guarded.

/** Supervisor -> guard: a process group to kill if the supervisor dies, or to forget. */
export type GuardRequest = { readonly add: number } | { readonly remove: number };

/** Guard -> supervisor. */
export type GuardReport = { readonly ready: true } | { readonly added: number };

export function isGuardRequest(m: unknown): m is GuardRequest {
  if (typeof m !== "object" || m === null) return false;
  const r = m as Record<string, unknown>;
  return isPid(r.add) || isPid(r.remove);
}

export function isGuardReport(m: unknown): m is GuardReport {
  if (typeof m !== "object" || m === null) return false;
  const r = m as Record<string, unknown>;
  return r.ready === true || isPid(r.added);
}

/** A process group id the guard may signal: never 0 or negative (those address other groups). */
function isPid(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}
