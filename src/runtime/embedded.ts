// `meshgate up`: everything on one machine. Today it runs the configuration pipeline
// (load, validate, watch, keep the last good model) and the admin endpoint; the control
// plane, gateways and sidecars plug in here as they land.

import type { Server } from "node:http";
import { formatProblem } from "../config/index.js";
import type { Logger } from "../telemetry/logger.js";
import { startAdminServer } from "./admin-server.js";
import { ConfigWatcher, type AppliedConfig, type RejectedConfig } from "./config-watcher.js";

export interface EmbeddedOptions {
  readonly configPaths: readonly string[];
  readonly admin: { host: string; port: number };
  readonly debounceMs?: number;
  readonly logger: Logger;
}

export interface EmbeddedRuntime {
  readonly adminUrl: string;
  readonly watcher: ConfigWatcher;
  close(): Promise<void>;
}

export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedRuntime> {
  const log = opts.logger;
  const watcher = new ConfigWatcher(opts.configPaths, opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {});
  let lastRejected: RejectedConfig | undefined;

  watcher.on("applied", (c: AppliedConfig) => {
    lastRejected = undefined;
    const { result } = c;
    for (const p of result.problems) log[p.severity === "error" ? "error" : p.severity === "warning" ? "warn" : "info"](formatProblem(p, process.cwd()));
    log.info({ version: c.version, resources: result.model.index.size, gateways: result.model.gateways.length, routes: result.model.routes.length, workloads: result.model.workloads.length }, "configuration applied");
  });
  watcher.on("rejected", (r: RejectedConfig) => {
    lastRejected = r;
    for (const p of r.problems) if (p.blocking) log.error(formatProblem(p, process.cwd()));
    log.error({ reason: r.reason }, "configuration change rejected; the last good configuration stays in force");
  });

  const admin = await startAdminServer(opts.admin.host, opts.admin.port, {
    ready: () => {
      const cur = watcher.current;
      return cur ? { ready: true, reason: `configuration version ${cur.version} in force` } : { ready: false, reason: lastRejected?.reason ?? "configuration not loaded yet" };
    },
    configDump: () => {
      const cur = watcher.current;
      return {
        version: cur?.version ?? 0,
        appliedAt: cur?.appliedAt.toISOString(),
        files: cur?.files ?? [],
        resources: cur?.result.model.statuses ?? [],
        problems: cur?.result.problems.map((p) => formatProblem(p, process.cwd())) ?? [],
        lastRejected: lastRejected ? { reason: lastRejected.reason, problems: lastRejected.problems.map((p) => formatProblem(p, process.cwd())) } : undefined,
      };
    },
  });
  const a = admin.address;
  const adminUrl = `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  log.info({ admin: adminUrl }, "admin endpoint listening");
  await watcher.start();

  return {
    adminUrl,
    watcher,
    async close() {
      await watcher.close();
      await closeServer(admin.server);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
