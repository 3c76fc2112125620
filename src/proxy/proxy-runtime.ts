// A proxy process: one ADS stream to the control plane, and the data plane either in this
// process (workers: 0) or in N worker processes sharing the listeners (node:cluster; the
// kernel's accept queue is served by every worker). With workers, this process keeps the
// xDS client — one stream, one ACK per version, whatever the worker count — hands every
// accepted update to all workers, and ACKs only when each of them has applied it. A
// worker that dies is restarted with the configuration in force and reported.
//
// Updates to workers go out one at a time, and a restarted worker joins them only once it
// is up and has applied the configuration in force: a worker still loading its code is
// given nothing (an update sent then would be lost, and the ACK would wait for it forever),
// and an update can never reach it before the older configuration it is being fed.

import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import type { ResourceKind } from "../xds/envoy-protos.js";
import type { Logger } from "../telemetry/logger.js";
import { CertificatesInForce } from "./certificates-in-force.js";
import { DataPlane } from "./data-plane.js";
import { servingProcessExecArgv } from "./serving-process-flags.js";
import { AdsClient } from "./xds/ads-client.js";
import type { XdsResourceSet } from "./xds/resource-set.js";

export interface ProxyRuntimeOptions {
  readonly nodeId: string;
  /** gRPC target of the control plane's ADS: "host:port" or "unix:///path". */
  readonly xdsTarget: string;
  /** Or a function asked on every connection attempt, so renewed client certificates are picked up on reconnect. */
  readonly credentials: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
  /** Extra grpc-js channel options for the ADS connection. */
  readonly channelOptions?: grpc.ChannelOptions;
  /** 0: serve in this process. N: N worker processes. */
  readonly workers: number;
  readonly logger: Logger;
  /** How long a worker may take to answer an update before it is killed and replaced (default 30 s). */
  readonly workerReplyTimeoutMs?: number;
}

/** A worker that has not answered an update by then is hung: it is killed, so the ACK does not wait forever. */
const DEFAULT_WORKER_REPLY_TIMEOUT_MS = 30_000;

/** Messages between the proxy process and its workers. */
export type WorkerMessage =
  | { readonly type: "prepare"; readonly id: number; readonly set: XdsResourceSet; readonly changed: ResourceKind | "all" }
  | { readonly type: "prepared"; readonly id: number }
  | { readonly type: "apply"; readonly id: number; readonly set: XdsResourceSet; readonly changed: ResourceKind | "all" }
  | { readonly type: "applied"; readonly id: number; readonly error?: string }
  | { readonly type: "ready" };

interface Pending {
  readonly waiting: Set<number>;
  readonly errors: string[];
  /** Workers that exited before answering, and how many applied the update. */
  readonly exited: string[];
  applied: number;
  readonly done: (errors: string[]) => void;
  timer?: NodeJS.Timeout;
}

export class ProxyRuntime {
  readonly client: AdsClient;
  readonly #local: DataPlane | undefined;
  /** Workers that serve and receive updates. */
  readonly #workers = new Map<number, Worker>();
  /** Every worker process alive, including ones still starting (stopped on close). */
  readonly #processes = new Map<number, Worker>();
  readonly #pending = new Map<number, Pending>();
  /** Updates to workers (and the first configuration of a restarted one), one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #nextId = 1;
  #restarts = 0;
  #closing = false;
  #lastApplied: XdsResourceSet | undefined;
  readonly #certificates = new CertificatesInForce();

  private constructor(private readonly opts: ProxyRuntimeOptions) {
    this.#local = opts.workers === 0 ? new DataPlane({ logger: opts.logger }) : undefined;
    this.client = new AdsClient({
      target: opts.xdsTarget,
      credentials: opts.credentials,
      ...(opts.channelOptions ? { channelOptions: opts.channelOptions } : {}),
      nodeId: opts.nodeId,
      logger: opts.logger,
      apply: (set, changed) => this.#apply(set, changed),
    });
  }

  static async start(opts: ProxyRuntimeOptions): Promise<ProxyRuntime> {
    const rt = new ProxyRuntime(opts);
    if (opts.workers > 0) await rt.#startWorkers();
    rt.client.start();
    return rt;
  }

  /** The in-process data plane (workers: 0), for tests and embedding. */
  get dataPlane(): DataPlane | undefined {
    return this.#local;
  }

  get workerCount(): number {
    return this.#workers.size;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Ready once listeners and clusters arrived and every referenced route, endpoint set and secret too. */
  ready(): { ready: boolean; reason: string } {
    const set = this.#lastApplied;
    if (!set || set.versions.listener === "") return { ready: false, reason: "waiting for listeners from the control plane" };
    const missing = this.client.missing();
    if (missing.length > 0) return { ready: false, reason: `waiting for ${missing.length} resource(s): ${missing.slice(0, 5).join(", ")}` };
    return { ready: true, reason: `configuration ${describeVersions(set)} in force` };
  }

  configDump(): unknown {
    const set = this.client.state;
    const names = (m: ReadonlyMap<string, unknown>) => [...m.keys()].sort();
    return {
      node: this.opts.nodeId,
      versions: set.versions,
      listeners: names(set.listeners),
      routes: names(set.routes),
      clusters: names(set.clusters),
      endpoints: names(set.endpoints),
      // Secret names only: never their contents.
      secrets: names(set.secrets),
      // The certificates presented, as public facts (serial, identity, validity).
      certificates: this.#certificates.list(),
      missing: this.client.missing(),
      workers: this.opts.workers,
      workerRestarts: this.#restarts,
    };
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.client.close();
    if (this.#local) await this.#local.close();
    await Promise.all(
      [...this.#processes.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once("exit", () => resolve());
            w.process.kill("SIGTERM");
          }),
      ),
    );
  }

  async #apply(set: XdsResourceSet, changed: ResourceKind): Promise<void> {
    if (this.#local) {
      await this.#local.apply(set, changed);
      this.#lastApplied = set;
    } else {
      await this.#serially(async () => {
        // Two steps when listeners change: every worker releases the sockets the update moves
        // (DataPlane.prepare) before any worker binds.
        // Route tables too: they may complete a listener held back for them.
        if (changed === "listener" || changed === "secret" || changed === "route") await this.#broadcast(set, changed, undefined, "prepare");
        const errors = await this.#broadcast(set, changed);
        if (errors.length > 0) throw new Error(errors[0]);
        // Inside the queue: a restarted worker is fed whatever this leaves in force.
        this.#lastApplied = set;
      });
    }
    // New handshakes use these from now on (renewed SVIDs, changed listener certificates).
    // Unchanged secrets keep their objects, so this is a few map lookups per update.
    for (const c of this.#certificates.update(set.secrets)) this.opts.logger.info({ ...c }, "certificate in force");
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #broadcast(set: XdsResourceSet, changed: ResourceKind | "all", only?: Worker, type: "apply" | "prepare" = "apply"): Promise<string[]> {
    const targets = only ? [only] : [...this.#workers.values()];
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const pending: Pending = { waiting: new Set(targets.map((w) => w.id)), errors: [], exited: [], applied: 0, done: resolve };
      this.#pending.set(id, pending);
      if (pending.waiting.size === 0) {
        this.#pending.delete(id);
        resolve([]);
        return;
      }
      const msg: WorkerMessage = { type, id, set, changed };
      for (const w of targets) w.send(msg);
      const timeoutMs = this.opts.workerReplyTimeoutMs ?? DEFAULT_WORKER_REPLY_TIMEOUT_MS;
      pending.timer = setTimeout(() => {
        // Its exit settles the update (as any dead worker's does) and starts a replacement.
        for (const w of targets) {
          if (!pending.waiting.has(w.id)) continue;
          this.opts.logger.error({ pid: w.process.pid, timeoutMs, update: type }, "proxy worker did not answer an update in time; killing it");
          w.process.kill("SIGKILL");
        }
      }, timeoutMs);
      pending.timer.unref();
    });
  }

  #settle(id: number, workerId: number, outcome: { error?: string; exited?: string }): void {
    const p = this.#pending.get(id);
    if (!p || !p.waiting.delete(workerId)) return;
    if (outcome.error !== undefined) p.errors.push(outcome.error);
    else if (outcome.exited !== undefined) p.exited.push(outcome.exited);
    else p.applied++;
    if (p.waiting.size === 0) {
      this.#pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      // A worker that died says nothing about the update: its replacement is given the
      // configuration in force once this one is settled. Only when no worker applied it
      // (all died) is it refused, so a configuration that kills workers is not kept.
      p.done(p.applied === 0 && p.errors.length === 0 ? p.exited : p.errors);
    }
  }

  async #startWorkers(): Promise<void> {
    const self = fileURLToPath(import.meta.url);
    const exec = self.replace(/proxy-runtime\.(ts|js)$/, (_m, ext: string) => `worker-main.${ext}`);
    cluster.setupPrimary({ exec, execArgv: servingProcessExecArgv(process.execArgv), serialization: "advanced", silent: false });
    const started = await Promise.all(Array.from({ length: this.opts.workers }, () => this.#fork()));
    // Before the xDS client starts there is no configuration to give them.
    for (const w of started) if (w) this.#workers.set(w.id, w);
  }

  /** Resolves once the worker is ready for messages (undefined if it died first). */
  #fork(): Promise<Worker | undefined> {
    const w = cluster.fork({ MESHGATE_NODE_ID: this.opts.nodeId });
    this.#processes.set(w.id, w);
    w.on("message", (m: WorkerMessage) => {
      if (m.type === "applied") this.#settle(m.id, w.id, m.error !== undefined ? { error: m.error } : {});
      else if (m.type === "prepared") this.#settle(m.id, w.id, {});
    });
    const ready = new Promise<Worker | undefined>((resolve) => {
      const onReady = (m: WorkerMessage) => {
        if (m.type !== "ready") return;
        w.off("message", onReady);
        resolve(w);
      };
      w.on("message", onReady);
      w.once("exit", () => resolve(undefined));
    });
    w.on("exit", (code, signal) => {
      this.#workers.delete(w.id);
      this.#processes.delete(w.id);
      // A dead worker answers nothing: release whatever waited for it.
      for (const [id] of this.#pending) this.#settle(id, w.id, { exited: `worker ${w.process.pid} exited` });
      if (this.#closing) return;
      this.#restarts++;
      this.opts.logger.error({ pid: w.process.pid, code, signal, restarts: this.#restarts }, "proxy worker exited; starting a new one");
      // Back off a little so a worker that dies at once does not spin.
      setTimeout(() => {
        if (!this.#closing) void this.#restart();
      }, Math.min(5000, 100 * this.#restarts));
    });
    return ready;
  }

  async #restart(): Promise<void> {
    const nw = await this.#fork();
    if (!nw) return; // died while starting; its exit started another
    await this.#serially(async () => {
      if (this.#closing || nw.isDead()) return;
      const set = this.#lastApplied;
      const errors = set ? await this.#broadcast(set, "all", nw) : [];
      if (nw.isDead()) return;
      if (errors.length > 0) this.opts.logger.error({ pid: nw.process.pid, err: errors[0] }, "restarted proxy worker could not apply the configuration in force");
      this.#workers.set(nw.id, nw);
      this.opts.logger.info({ pid: nw.process.pid, restarts: this.#restarts }, "proxy worker restarted with the configuration in force");
    });
  }
}

function describeVersions(set: XdsResourceSet): string {
  return `listeners ${set.versions.listener}, routes ${set.versions.route || "-"}, clusters ${set.versions.cluster || "-"}`;
}

