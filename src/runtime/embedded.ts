// `meshgate up`: everything on one machine: the configuration pipeline (load, validate,
// watch, keep the last good model), the control plane (compile, serve over ADS, track
// convergence) and the admin endpoint; gateways and sidecars plug in here as they land.

import type { Server } from "node:http";
import { formatProblem } from "../config/index.js";
import type { Logger } from "../telemetry/logger.js";
import { startAdminServer } from "./admin-server.js";
import { ConfigWatcher, type AppliedConfig, type RejectedConfig } from "./config-watcher.js";
import { ControlPlane, type Address } from "./control-plane.js";
import { GatewaySupervisor } from "./gateway-supervisor.js";
import { WorkloadSupervisor, workloadProcesses } from "./workload-supervisor.js";
import { withProgrammedStatus } from "./programmed-status.js";
import { DEFAULT_RATE_LIMIT_SERVICE, servedGateways } from "../translate/index.js";
import { GlobalRateLimits } from "./global-rate-limits.js";

export interface EmbeddedOptions {
  readonly configPaths: readonly string[];
  readonly admin: { host: string; port: number };
  readonly debounceMs?: number;
  readonly logger: Logger;
  readonly controlPlane: { readonly xds: Address; readonly xdsTls?: Address; readonly xdsLocal?: string; readonly stateDir: string; readonly debounceMs?: number; readonly rateLimitService?: Address };
  /**
   * Gateway proxies: started and supervised here, one process per served Gateway, on the
   * local xDS socket (needs `controlPlane.xdsLocal`); or "external": something else runs them.
   */
  readonly gateways?: { readonly workers: number; readonly logFormat: "text" | "json" } | "external";
  /**
   * Global rate limits (BackendTrafficPolicy `rateLimit.type: Global`): with `redisUrl`,
   * the rate limit service runs on `controlPlane.rateLimitService` (default
   * 127.0.0.1:18081) and counts in that Redis; without, they are not enforced (warned).
   */
  readonly rateLimit?: { readonly redisUrl?: string };
  /**
   * Run every Workload's `command` (supervised, restarted when it exits). Off unless set:
   * `meshgate up` turns it on (`--no-workloads` turns it off), tests opt in.
   */
  readonly workloads?: boolean | { readonly stopTimeoutMs?: number };
}

export interface EmbeddedRuntime {
  readonly adminUrl: string;
  readonly watcher: ConfigWatcher;
  readonly controlPlane: ControlPlane;
  /** host:port of the plaintext xDS endpoint. */
  readonly xdsAddress: string;
  /** gRPC target of the local xDS socket (`unix:///<stateDir>/xds.sock`), when one is served. */
  readonly xdsLocalTarget: string | undefined;
  /** The supervised gateway proxies (none when gateways are "external"). */
  readonly supervisor: GatewaySupervisor | undefined;
  /** The rate limit service, when it runs, and what `/config_dump` says about global limits. */
  readonly rateLimits: GlobalRateLimits;
  /** The supervised Workload applications, when `workloads` is on. */
  readonly workloads: WorkloadSupervisor | undefined;
  close(): Promise<void>;
}

export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedRuntime> {
  const log = opts.logger;
  const watcher = new ConfigWatcher(opts.configPaths, opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {});
  let lastRejected: RejectedConfig | undefined;
  const cpo = opts.controlPlane;
  // First: a bad Redis URL or a taken service port fails before anything else is bound.
  const rateLimits = await GlobalRateLimits.start({ address: cpo.rateLimitService ?? DEFAULT_RATE_LIMIT_SERVICE, ...(opts.rateLimit?.redisUrl !== undefined ? { redisUrl: opts.rateLimit.redisUrl } : {}), logger: log });
  let controlPlane: ControlPlane;
  try {
    controlPlane = await ControlPlane.start({
      xds: cpo.xds,
      ...(cpo.xdsTls ? { xdsTls: cpo.xdsTls } : {}),
      ...(cpo.xdsLocal !== undefined ? { xdsLocal: cpo.xdsLocal } : {}),
      stateDir: cpo.stateDir,
      ...(cpo.debounceMs !== undefined ? { debounceMs: cpo.debounceMs } : {}),
      ...(cpo.rateLimitService ? { rateLimitService: cpo.rateLimitService } : {}),
      onRateLimits: (config) => rateLimits.update(config),
      logger: log,
    });
  } catch (e) {
    await rateLimits.close();
    throw e;
  }
  const localTarget = controlPlane.ports.xdsLocal !== undefined ? `unix://${controlPlane.ports.xdsLocal}` : undefined;
  const gw = opts.gateways ?? "external";
  if (gw !== "external" && !localTarget) throw new Error("supervised gateways need the local xDS socket (controlPlane.xdsLocal)");
  const supervisor = gw !== "external" && localTarget ? new GatewaySupervisor({ xdsTarget: localTarget, workers: gw.workers, logger: log, logFormat: gw.logFormat }) : undefined;
  const wl = opts.workloads;
  const workloads = wl ? new WorkloadSupervisor({ logger: log, ...(typeof wl === "object" && wl.stopTimeoutMs !== undefined ? { stopTimeoutMs: wl.stopTimeoutMs } : {}) }) : undefined;
  // Compiles run one after another, in configuration order.
  let compiling: Promise<unknown> = Promise.resolve();

  watcher.on("applied", (c: AppliedConfig) => {
    lastRejected = undefined;
    const { result } = c;
    for (const p of result.problems) log[p.severity === "error" ? "error" : p.severity === "warning" ? "warn" : "info"](formatProblem(p, process.cwd()));
    log.info({ version: c.version, resources: result.model.index.size, gateways: result.model.gateways.length, routes: result.model.routes.length, workloads: result.model.workloads.length, ...(c.timings ? { loadMs: Math.round(c.timings.loadMs), modelMs: Math.round(c.timings.modelMs) } : {}) }, "configuration applied");
    compiling = compiling.then(async () => {
      await controlPlane.apply(c);
      supervisor?.sync(servedGateways(result.model).map((g) => `${g.resource.namespace}/${g.resource.name}`));
      workloads?.sync(workloadProcesses(result.model.workloads));
      // Every meshed Workload gets its sidecar when `up` runs the workloads.
      if (workloads) supervisor?.syncSidecars(result.model.workloads.filter((w) => w.mesh !== undefined).map((w) => `${w.namespace}/${w.name}`));
    });
  });
  watcher.on("rejected", (r: RejectedConfig) => {
    lastRejected = r;
    for (const p of r.problems) if (p.blocking) log.error(formatProblem(p, process.cwd()));
    log.error({ reason: r.reason }, "configuration change rejected; the last good configuration stays in force");
  });

  const admin = await startAdminServer(opts.admin.host, opts.admin.port, {
    ready: () => {
      const cur = watcher.current;
      if (!cur) return { ready: false, reason: lastRejected?.reason ?? "configuration not loaded yet" };
      // Ready once every served Gateway is Programmed (its proxy ACKed the version in force).
      const waiting = withProgrammedStatus(cur.result.model.statuses, controlPlane.syncz())
        .filter((s) => s.kind === "Gateway")
        .filter((s) => ((s.status as { conditions?: { type: string; status: string }[] }).conditions ?? []).some((c) => c.type === "Programmed" && c.status === "Unknown"))
        .map((s) => `${s.namespace}/${s.name}`);
      if (waiting.length > 0) return { ready: false, reason: `waiting for gateway(s) to be programmed: ${waiting.join(", ")}` };
      return { ready: true, reason: `configuration version ${cur.version} in force` };
    },
    syncz: () => controlPlane.syncz(),
    trustz: () => ({ problems: controlPlane.trustProblems }),
    configDump: () => {
      const cur = watcher.current;
      return {
        version: cur?.version ?? 0,
        appliedAt: cur?.appliedAt.toISOString(),
        files: cur?.files ?? [],
        resources: cur ? withProgrammedStatus(cur.result.model.statuses, controlPlane.syncz()) : [],
        problems: cur?.result.problems.map((p) => formatProblem(p, process.cwd())) ?? [],
        xds: { version: controlPlane.tracker.currentVersion ?? null, compileFailure: controlPlane.lastFailure ?? null },
        trust: controlPlane.trustProblems,
        rateLimitService: rateLimits.status(),
        gatewayProxies: supervisor?.list() ?? "external",
        workloads: workloads?.list() ?? "not run by meshgate up",
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
    controlPlane,
    xdsAddress: `${cpo.xds.host}:${controlPlane.ports.xds}`,
    xdsLocalTarget: localTarget,
    supervisor,
    rateLimits,
    workloads,
    async close() {
      await watcher.close();
      await compiling;
      await Promise.all([supervisor?.close(), workloads?.close()]);
      await rateLimits.close();
      await controlPlane.close();
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
