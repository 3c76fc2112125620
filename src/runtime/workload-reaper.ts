// Guard process of the workload supervisor (started by it, with an IPC channel). Workloads
// run arbitrary commands, which cannot be asked to watch their parent the way meshgate's
// own proxies do; so the supervisor tells this process the process group of every
// application it starts, and when the channel drops (`meshgate up` exited, or was killed
// with SIGKILL and could not clean up) it terminates those groups: SIGTERM, then SIGKILL
// after a grace period. On a normal shutdown the supervisor has already stopped every
// group and this process simply exits.

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

process.on("message", (m: { add?: number; remove?: number }) => {
  if (typeof m.add === "number") groups.add(m.add);
  if (typeof m.remove === "number") groups.delete(m.remove);
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
