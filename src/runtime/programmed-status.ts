// Gateway API's `Programmed` condition means "the data plane runs this configuration".
// The model can only say Pending; here it becomes True once the gateway's proxy has ACKed
// the configuration version in force (per the convergence tracker), so `/config_dump`
// and `meshgate validate`-style status tell the truth about the data plane.

import type { ResourceStatus } from "../model/index.js";
import type { SyncReport } from "../xds/convergence.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Statuses with Gateway (and listener) `Programmed` conditions resolved from the proxies' ACKs. */
export function withProgrammedStatus(statuses: readonly ResourceStatus[], sync: SyncReport): ResourceStatus[] {
  const version = sync.summary.version;
  const synced = new Set(sync.proxies.filter((p) => p.status === "SYNCED" && p.version === version).map((p) => p.id));
  return statuses.map((s) => {
    if (s.kind !== "Gateway") return s;
    const proxy = `gateway~${s.namespace}~${s.name}`;
    const live = version !== null && synced.has(proxy);
    const flip = (conditions: Obj[] | undefined) =>
      conditions?.map((c) =>
        c.type === "Programmed" && c.status === "Unknown"
          ? live
            ? { ...c, status: "True", reason: "Programmed", message: `The gateway proxy runs configuration version ${version}` }
            : { ...c, message: `Waiting for proxy ${proxy} to acknowledge configuration version ${version ?? "(none yet)"}` }
          : c,
      );
    const status = s.status as Obj;
    return {
      ...s,
      status: {
        ...status,
        ...(status.conditions ? { conditions: flip(status.conditions) } : {}),
        ...(status.listeners ? { listeners: (status.listeners as Obj[]).map((l) => ({ ...l, conditions: flip(l.conditions) })) } : {}),
      },
    };
  });
}
