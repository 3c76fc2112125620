// `meshgate up` runs one gateway proxy process per served Gateway (`meshgate proxy --role
// gateway`), connected to the control plane's trusted local socket. The supervisor starts
// the ones a new configuration adds, stops the ones it removes, and restarts a proxy that
// dies (reported, with a growing pause so a proxy that cannot start does not spin).

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../telemetry/logger.js";

export interface GatewaySupervisorOptions {
  /** ADS target for the proxies, e.g. unix:///state/xds.sock. */
  readonly xdsTarget: string;
  readonly workers: number;
  readonly logger: Logger;
  readonly logFormat: "text" | "json";
}

export interface SupervisedGateway {
  readonly gateway: string;
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly lastExit?: string;
}

interface Entry {
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

  /** Makes the running proxies exactly these Gateways ("namespace/name"). */
  sync(gateways: readonly string[]): void {
    const want = new Set(gateways);
    for (const [gw, e] of this.#entries) if (!want.has(gw)) void this.#stop(gw, e);
    for (const gw of want) if (!this.#entries.has(gw)) this.#start(gw, { child: undefined, restarts: 0, stopping: false });
  }

  list(): SupervisedGateway[] {
    return [...this.#entries].map(([gateway, e]) => ({ gateway, pid: e.child?.pid, restarts: e.restarts, ...(e.lastExit ? { lastExit: e.lastExit } : {}) }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#entries].map(([gw, e]) => this.#stop(gw, e)));
  }

  #start(gateway: string, e: Entry): void {
    this.#entries.set(gateway, e);
    const args = [...process.execArgv, this.#main, "proxy", "--role", "gateway", "--gateway", gateway, "--xds", this.opts.xdsTarget, "--workers", String(this.opts.workers), "--log-format", this.opts.logFormat];
    // Own process group: Ctrl-C on `meshgate up` stops proxies through the supervisor, in
    // order. The IPC channel is how a proxy notices that `meshgate up` itself died (it exits).
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], detached: true, env: { ...process.env, MESHGATE_SUPERVISED: "1" } });
    e.child = child;
    this.opts.logger.info({ gateway, pid: child.pid, workers: this.opts.workers }, "gateway proxy started");
    child.once("exit", (code, signal) => {
      e.child = undefined;
      if (e.stopping) return;
      e.restarts++;
      e.lastExit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(e.restarts - 1, 6));
      this.opts.logger.error({ gateway, pid: child.pid, code, signal, restarts: e.restarts, restartInMs: delay }, "gateway proxy died; restarting");
      e.timer = setTimeout(() => {
        if (!e.stopping) this.#start(gateway, e);
      }, delay);
    });
  }

  #stop(gateway: string, e: Entry): Promise<void> {
    e.stopping = true;
    clearTimeout(e.timer);
    this.#entries.delete(gateway);
    const child = e.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.once("exit", () => {
        clearTimeout(kill);
        this.opts.logger.info({ gateway, pid: child.pid }, "gateway proxy stopped");
        resolve();
      });
      child.kill("SIGTERM");
    });
  }
}
