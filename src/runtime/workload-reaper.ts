// Guard process of the workload supervisor (started by it, with an IPC channel). Workloads
// run arbitrary commands, which cannot be asked to watch their parent the way meshgate's
// own proxies do; so the supervisor tells this process the process group of every
// application it starts, and when the channel drops (`meshgate up` exited, or was killed
// with SIGKILL and could not clean up) it terminates those groups: SIGTERM, then SIGKILL
// after a grace period. On a normal shutdown the supervisor has already stopped every
// group and this process simply exits.
//
// Protocol (workload-guard-protocol.ts): `ready` once the listeners below are installed,
// and `added` for every group taken on, so the supervisor knows from when on a workload
// would be cleaned up after a crash of `meshgate up`.

import { isGuardRequest, type GuardReport } from "./workload-guard-protocol.js";

const GRACE_MS = Number(process.env.MESHGATE_REAPER_GRACE_MS ?? 3000);
const groups = new Set<number>();

function signalAll(signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, signal);
    } catch {
      groups.delete(pgid); // the group is gone already
    }
  }
}

function report(m: GuardReport): void {
  // The parent may be gone by now; its death is handled by "disconnect", and a failed
  // report must not end this process (an unhandled send error would), so it is ignored.
  if (process.connected) process.send?.(m, undefined, undefined, () => {});
}

process.on("message", (m: unknown) => {
  if (!isGuardRequest(m)) return;
  if ("add" in m) {
    groups.add(m.add);
    report({ added: m.add });
  } else {
    groups.delete(m.remove);
  }
});
process.once("disconnect", () => {
  if (groups.size === 0) process.exit(0);
  signalAll("SIGTERM");
  setTimeout(() => {
    signalAll("SIGKILL");
    process.exit(0);
  }, GRACE_MS);
});
// Ctrl-C in a terminal must not end the guard before the supervisor has stopped the apps.
process.on("SIGINT", () => {});
// Only now: before this point a death of the parent would go unnoticed.
report({ ready: true });
