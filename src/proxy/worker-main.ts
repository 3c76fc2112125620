// A proxy worker process (started by ProxyRuntime through node:cluster): a data plane that
// applies what the proxy process received over xDS and shares the listeners' sockets with
// its sibling workers.

import { createLogger } from "../telemetry/logger.js";
import { DataPlane } from "./data-plane.js";
import type { WorkerMessage } from "./proxy-runtime.js";

const logger = createLogger({ format: process.env.MESHGATE_LOG_FORMAT === "json" ? "json" : "text" }).child({ worker: process.pid });
const plane = new DataPlane({ logger });
// Updates are applied one after another, in the order they were sent.
let chain: Promise<void> = Promise.resolve();

process.on("message", (m: WorkerMessage) => {
  if (m.type === "prepare") {
    chain = chain.then(async () => {
      // Failures surface in the apply that follows.
      await plane.prepare(m.set, m.changed).catch(() => undefined);
      process.send?.({ type: "prepared", id: m.id } satisfies WorkerMessage);
    });
    return;
  }
  if (m.type !== "apply") return;
  chain = chain.then(async () => {
    let error: string | undefined;
    try {
      await plane.apply(m.set, m.changed);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const reply: WorkerMessage = error === undefined ? { type: "applied", id: m.id } : { type: "applied", id: m.id, error };
    process.send?.(reply);
  });
});

const stop = () => {
  void plane.close().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", () => {
  // The proxy process decides when workers stop (Ctrl-C reaches the whole process group).
});
process.send?.({ type: "ready" } satisfies WorkerMessage);
