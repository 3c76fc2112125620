// `meshgate up` runs each Workload's application (`spec.command`), one supervised child
// process per Workload: its output is logged line by line under the workload's name, a
// child that exits is reported and restarted after a growing pause, and configuration
// changes start, stop or restart exactly the workloads they touch.
//
// Lifetime: every application gets its own process group, so stopping it (SIGTERM, then
// SIGKILL after `stopTimeoutMs`) reaches whatever it started too, and Ctrl-C in the
// terminal reaches `meshgate up` only, which stops the applications itself. Arbitrary
// commands cannot watch their parent, so a small guard process (workload-reaper) holds an
// IPC channel to `meshgate up` and kills the groups if `up` dies without cleaning up.
// A workload counts as guarded (`list()`, debug log "workload guarded") only once the
// guard confirmed its group: until then a SIGKILL of `up` would leave it running.

import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { WorkloadModel } from "../model/model.js";
import type { Logger } from "../telemetry/logger.js";
import { isGuardReport, type GuardReport, type GuardRequest } from "./workload-guard-protocol.js";

/** What to run for one Workload. */
export interface WorkloadProcessSpec {
  /** "namespace/name" */
  readonly workload: string;
  /** The command line; `node` already replaced by the running Node binary. */
  readonly argv: readonly string[];
  /** Absolute working directory. */
  readonly cwd: string;
  /** Added to the environment of `meshgate up`. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The processes for the Workloads that have a command. `workingDir` is relative to the
 * directory of the file that declares the Workload (`fallbackDir` when it has none);
 * without `workingDir` the command runs in that directory. A command `node` is the Node
 * binary running meshgate, so the examples work without node on PATH.
 */
export function workloadProcesses(workloads: readonly WorkloadModel[], fallbackDir = process.cwd()): WorkloadProcessSpec[] {
  const out: WorkloadProcessSpec[] = [];
  for (const w of workloads) {
    if (!w.command || w.command.length === 0) continue;
    const file = w.resource.source?.file;
    const base = file ? dirname(resolve(file)) : fallbackDir;
    const [cmd, ...args] = w.command;
    out.push({ workload: `${w.namespace}/${w.name}`, argv: [cmd === "node" ? process.execPath : cmd!, ...args], cwd: resolve(base, w.workingDir ?? "."), env: { ...w.env } });
  }
  return out;
}

export interface WorkloadSupervisorOptions {
  readonly logger: Logger;
  /** Grace period between SIGTERM and SIGKILL when stopping an application (default 5000). */
  readonly stopTimeoutMs?: number;
  /** Pause before the first restart, doubled per consecutive crash up to `maxMs` (defaults 250, 10000). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

export interface SupervisedWorkload {
  readonly workload: string;
  readonly command: readonly string[];
  readonly pid: number | undefined;
  readonly restarts: number;
  readonly lastExit?: string;
  /** The guard process confirmed it will stop this process if `meshgate up` dies. */
  readonly guarded: boolean;
}

interface Entry {
  spec: WorkloadProcessSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  /** Crashes since the application last ran for a while; drives the backoff. */
  failures: number;
  lastExit?: string;
  stopping: boolean;
  timer?: NodeJS.Timeout;
  /** The pid the guard last confirmed; the current child is guarded when it is this one. */
  guardedPid?: number;
}

/** The guard process and what the supervisor knows of it. */
interface Guard {
  readonly child: ChildProcess;
  /** Requests held until the guard reported `ready`, in order; undefined from then on. */
  queue: GuardRequest[] | undefined;
}

/** A run this long resets the backoff: the application was working. */
const HEALTHY_RUN_MS = 10_000;

export class WorkloadSupervisor {
  readonly #entries = new Map<string, Entry>();
  readonly #stopping = new Map<string, Promise<void>>();
  #wanted = new Map<string, WorkloadProcessSpec>();
  #guard: Guard | undefined;
  /** The guard failed or exited: warned about once, and not started again. */
  #guardLost = false;
  #closed = false;

  constructor(private readonly opts: WorkloadSupervisorOptions) {}

  /** Makes the running applications exactly these. */
  sync(specs: readonly WorkloadProcessSpec[]): void {
    if (this.#closed) return;
    this.#wanted = new Map(specs.map((s) => [s.workload, s]));
    for (const [key, e] of this.#entries) {
      const want = this.#wanted.get(key);
      if (!want) void this.#stop(key, e, "removed from the configuration");
      else if (!sameSpec(want, e.spec)) void this.#stop(key, e, "its command, env or workingDir changed");
    }
    for (const key of this.#wanted.keys()) this.#ensure(key);
  }

  list(): SupervisedWorkload[] {
    return [...this.#entries].map(([workload, e]) => ({
      workload,
      command: e.spec.argv,
      pid: e.child?.pid,
      restarts: e.restarts,
      ...(e.lastExit ? { lastExit: e.lastExit } : {}),
      guarded: !this.#guardLost && e.child?.pid !== undefined && e.guardedPid === e.child.pid,
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wanted.clear();
    await Promise.all([...this.#entries].map(([key, e]) => this.#stop(key, e, "shutting down")));
    await Promise.all(this.#stopping.values());
    // Every group is stopped, so the guard has nothing left to do: it exits on the disconnect.
    if (this.#guard?.child.connected) this.#guard.child.disconnect();
  }

  /** Starts the wanted application for `key` unless it runs, or once its predecessor stopped. */
  #ensure(key: string): void {
    if (this.#closed || this.#entries.has(key)) return;
    const spec = this.#wanted.get(key);
    if (!spec) return;
    const pending = this.#stopping.get(key);
    if (pending) {
      void pending.then(() => this.#ensure(key));
      return;
    }
    this.#start({ spec, child: undefined, startedAt: 0, restarts: 0, failures: 0, stopping: false });
  }

  #start(e: Entry): void {
    const { workload, argv, cwd, env } = e.spec;
    this.#entries.set(workload, e);
    const log = this.opts.logger;
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (err) {
      this.#exited(e, undefined, null, null, (err as Error).message);
      return;
    }
    e.child = child;
    e.startedAt = Date.now();
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: string) => {
      if (ended) return;
      ended = true;
      if (child.pid !== undefined) this.#guardSend({ remove: child.pid });
      this.#exited(e, child, code, signal, error);
    };
    child.once("error", (err) => end(null, null, err.message));
    child.once("exit", (code, signal) => end(code, signal));
    if (child.pid === undefined) return; // spawn failed; "error" follows
    this.#guardSend({ add: child.pid });
    for (const [stream, level] of [[child.stdout, "info"], [child.stderr, "warn"]] as const) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => log[level]({ workload, pid: child.pid, stream: level === "info" ? "stdout" : "stderr" }, line));
    }
    log.info({ workload, pid: child.pid, command: argv.join(" "), cwd }, "workload started");
  }

  #exited(e: Entry, child: ChildProcess | undefined, code: number | null, signal: NodeJS.Signals | null, error?: string): void {
    if (e.child === child) e.child = undefined;
    if (e.stopping) return;
    e.restarts++;
    e.failures = child && Date.now() - e.startedAt >= HEALTHY_RUN_MS ? 1 : e.failures + 1;
    e.lastExit = error ? `failed to start: ${error}` : signal ? `killed by ${signal}` : `exited with code ${code}`;
    const b = this.opts.backoff ?? { initialMs: 250, maxMs: 10_000 };
    const delay = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(e.failures - 1, 16));
    this.opts.logger.error({ workload: e.spec.workload, pid: child?.pid, code, signal, ...(error ? { error } : {}), restarts: e.restarts, restartInMs: delay }, "workload exited; restarting");
    e.timer = setTimeout(() => {
      if (!e.stopping && !this.#closed) this.#start(e);
    }, delay);
  }

  #stop(key: string, e: Entry, reason: string): Promise<void> {
    e.stopping = true;
    clearTimeout(e.timer);
    this.#entries.delete(key);
    const child = e.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const pid = child.pid;
    const done = new Promise<void>((resolveStop) => {
      const kill = setTimeout(() => signalGroup(pid, "SIGKILL"), this.opts.stopTimeoutMs ?? 5000);
      child.once("exit", (code, signal) => {
        clearTimeout(kill);
        this.#guardSend({ remove: pid });
        this.opts.logger.info({ workload: key, pid, code, signal, reason }, "workload stopped");
        resolveStop();
      });
      signalGroup(pid, "SIGTERM");
    }).finally(() => {
      if (this.#stopping.get(key) === done) this.#stopping.delete(key);
    });
    this.#stopping.set(key, done);
    return done;
  }

  #guardSend(m: GuardRequest): void {
    if (this.#guardLost) return;
    if ("add" in m && this.#closed) return;
    // A guard is started for the first application; forgetting one never needs a guard.
    const g = this.#guard ?? ("add" in m ? this.#startGuard() : undefined);
    if (!g) return;
    if (!g.queue) return this.#deliver(g, m);
    if ("remove" in m) {
      // A process that came and went before the guard was ready need not reach it at all;
      // this also bounds the queue by the running applications if the guard is slow.
      const i = g.queue.findIndex((q) => "add" in q && q.add === m.remove);
      if (i >= 0) {
        g.queue.splice(i, 1);
        return;
      }
    }
    g.queue.push(m);
  }

  #startGuard(): Guard {
    const self = fileURLToPath(import.meta.url);
    const script = self.replace(/workload-supervisor\.(ts|js)$/, (_m, ext: string) => `workload-reaper.${ext}`);
    // Own process group, so a Ctrl-C in the terminal does not end it before the applications.
    const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ["ignore", "ignore", "inherit", "ipc"], detached: true });
    const g: Guard = { child, queue: [] };
    this.#guard = g;
    child.on("message", (m: unknown) => {
      if (isGuardReport(m)) this.#onGuardReport(g, m);
    });
    // `on`, not `once`: a second "error" without a listener would crash `meshgate up`.
    child.on("error", (err) => this.#guardLostWith({ error: err.message }));
    child.once("exit", (code, signal) => {
      // close() disconnects the guard, which then exits: expected, not a failure.
      if (!this.#closed) this.#guardLostWith({ code, signal });
    });
    // Neither the guard nor its channel may keep `meshgate up` alive.
    child.unref();
    child.channel?.unref();
    return g;
  }

  #onGuardReport(g: Guard, m: GuardReport): void {
    const log = this.opts.logger;
    if ("ready" in m) {
      const queued = g.queue ?? [];
      g.queue = undefined;
      log.debug({ pid: g.child.pid, queued: queued.length }, "workload guard ready");
      for (const q of queued) this.#deliver(g, q);
      return;
    }
    for (const [workload, e] of this.#entries) {
      if (e.child?.pid !== m.added || e.guardedPid === m.added) continue;
      e.guardedPid = m.added;
      log.debug({ workload, pid: m.added }, "workload guarded");
    }
  }

  #deliver(g: Guard, m: GuardRequest): void {
    // A send that fails means the guard is gone, which its "exit" reports; the callback
    // keeps the failure from surfacing a second time as an "error" event.
    if (g.child.connected) g.child.send(m, () => {});
  }

  /** The applications keep running unguarded: worth one warning, never a blocked workload. */
  #guardLostWith(detail: { error: string } | { code: number | null; signal: NodeJS.Signals | null }): void {
    if (this.#guardLost) return;
    this.#guardLost = true;
    if (this.#guard) this.#guard.queue = undefined;
    this.opts.logger.warn({ pid: this.#guard?.child.pid, ...detail }, "workload guard process failed; the applications will not be stopped if meshgate up is killed");
  }
}

function sameSpec(a: WorkloadProcessSpec, b: WorkloadProcessSpec): boolean {
  return a.cwd === b.cwd && JSON.stringify(a.argv) === JSON.stringify(b.argv) && JSON.stringify(Object.entries(a.env).sort()) === JSON.stringify(Object.entries(b.env).sort());
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
