// `meshgate up` runs one gateway proxy process per served Gateway (`meshgate proxy --role
// gateway`) and one sidecar per meshed Workload (`--role sidecar`, one process, no
// workers), connected to the control plane's trusted local socket. The supervisor starts
// the ones a new configuration adds, stops the ones it removes, and restarts a proxy that
// dies (reported, with a growing pause so a proxy that cannot start does not spin).

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { servingProcessExecArgv } from "../proxy/serving-process-flags.js";
import type { Logger } from "../telemetry/logger.js";

export interface GatewaySupervisorOptions {
  /** ADS target for the proxies, e.g. unix:///state/xds.sock. */
  readonly xdsTarget: string;
  readonly workers: number;
  readonly logger: Logger;
  readonly logFormat: "text" | "json";
}

export type ProxyRole = "gateway" | "sidecar";

export interface SupervisedGateway {
  /** The Gateway or Workload ("namespace/name"). */
  readonly gateway: string;
  readonly role: ProxyRole;
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly lastExit?: string;
}

interface Entry {
  readonly role: ProxyRole;
  readonly ref: string;
  child: ChildProcess | undefined;
  restarts: number;
  lastExit?: string;
  stopping: boolean;
  timer?: NodeJS.Timeout;
}

export class GatewaySupervisor {
  readonly #entries = new Map<string, Entry>();
  readonly #main: string;

  constructor(private readonly opts: GatewaySupervisorOptions) {
    // The CLI entry point next to this module (.ts when run from source, .js when built).
    const self = fileURLToPath(import.meta.url);
    this.#main = self.replace(/runtime[\\/]gateway-supervisor\.(ts|js)$/, (_m, ext: string) => `cli/main.${ext}`);
  }

  /** Makes the running gateway proxies exactly these Gateways ("namespace/name"). */
  sync(gateways: readonly string[]): void {
    this.#sync("gateway", gateways);
  }

  /** Makes the running sidecars exactly these Workloads ("namespace/name"). */
  syncSidecars(workloads: readonly string[]): void {
    this.#sync("sidecar", workloads);
  }

  #sync(role: ProxyRole, refs: readonly string[]): void {
    const want = new Set(refs.map((r) => `${role} ${r}`));
    for (const [key, e] of this.#entries) if (e.role === role && !want.has(key)) void this.#stop(key, e);
    for (const ref of refs) {
      const key = `${role} ${ref}`;
      if (!this.#entries.has(key)) this.#start(key, { role, ref, child: undefined, restarts: 0, stopping: false });
    }
  }

  list(): SupervisedGateway[] {
    return [...this.#entries.values()].map((e) => ({ gateway: e.ref, role: e.role, pid: e.child?.pid, restarts: e.restarts, ...(e.lastExit ? { lastExit: e.lastExit } : {}) }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#entries].map(([gw, e]) => this.#stop(gw, e)));
  }

  #start(key: string, e: Entry): void {
    this.#entries.set(key, e);
    const gateway = e.ref;
    const who = e.role === "gateway" ? ["--gateway", gateway, "--workers", String(this.opts.workers)] : ["--workload", gateway, "--workers", "0"];
    // A sidecar serves from this process (no workers): it gets the serving processes' flags.
    const nodeArgs = e.role === "gateway" ? process.execArgv : servingProcessExecArgv(process.execArgv);
    const args = [...nodeArgs, this.#main, "proxy", "--role", e.role, ...who, "--xds", this.opts.xdsTarget, "--log-format", this.opts.logFormat];
    // Own process group: Ctrl-C on `meshgate up` stops proxies through the supervisor, in
    // order. The IPC channel is how a proxy notices that `meshgate up` itself died (it exits).
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], detached: true, env: { ...process.env, MESHGATE_SUPERVISED: "1" } });
    e.child = child;
    this.opts.logger.info({ [e.role === "gateway" ? "gateway" : "workload"]: gateway, pid: child.pid, ...(e.role === "gateway" ? { workers: this.opts.workers } : {}) }, `${e.role} proxy started`);
    child.once("exit", (code, signal) => {
      e.child = undefined;
      if (e.stopping) return;
      e.restarts++;
      e.lastExit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(e.restarts - 1, 6));
      this.opts.logger.error({ [e.role === "gateway" ? "gateway" : "workload"]: gateway, pid: child.pid, code, signal, restarts: e.restarts, restartInMs: delay }, `${e.role} proxy died; restarting`);
      e.timer = setTimeout(() => {
        if (!e.stopping) this.#start(key, e);
      }, delay);
    });
  }

  #stop(key: string, e: Entry): Promise<void> {
    e.stopping = true;
    clearTimeout(e.timer);
    this.#entries.delete(key);
    const child = e.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(kill);
        this.opts.logger.info({ [e.role === "gateway" ? "gateway" : "workload"]: e.ref, pid: child.pid }, `${e.role} proxy stopped`);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }
}
