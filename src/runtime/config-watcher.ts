// Keeps the configuration in force for a running process: loads it, watches the paths,
// and on each (debounced) change rebuilds the model. A change with blocking problems is
// rejected and the last good model stays in force; listeners hear about both outcomes.

import { EventEmitter } from "node:events";
import { watch, type FSWatcher } from "chokidar";
import { loadSources, ParseCache } from "../config/index.js";
import type { Problem } from "../config/index.js";
import { MeshgateError } from "../errors.js";
import { buildModel, type ModelResult } from "../model/index.js";

export interface AppliedConfig {
  /** Increases by one with every configuration put in force. */
  readonly version: number;
  readonly result: ModelResult;
  readonly files: string[];
  readonly appliedAt: Date;
  /** Where the time went (absent for configurations not produced by a watcher). */
  readonly timings?: LoadTimings;
}

/** How long one load took, phase by phase (milliseconds; instants are epoch ms). */
export interface LoadTimings {
  /** The first file event of the change that led to this load; absent for the initial load and explicit reloads. */
  readonly changedAt?: number;
  readonly startedAt: number;
  /** Reading and parsing the files. */
  readonly loadMs: number;
  /** Validating and resolving references (buildModel). */
  readonly modelMs: number;
}

export interface RejectedConfig {
  readonly problems: Problem[];
  /** Why, in one line. */
  readonly reason: string;
}

export interface ConfigWatcherEvents {
  applied: [AppliedConfig];
  rejected: [RejectedConfig];
}

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  #current: AppliedConfig | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> | undefined;
  #again = false;
  readonly #parsed = new ParseCache();
  /** First file event not yet covered by a load that started after it. */
  #changedAt: number | undefined;

  constructor(
    readonly paths: readonly string[],
    readonly options: { debounceMs?: number } = {},
  ) {
    super();
  }

  /** The configuration in force (the last good one), if any. */
  get current(): AppliedConfig | undefined {
    return this.#current;
  }

  /** Loads now; resolves once the result is applied or rejected. */
  async reload(): Promise<void> {
    // Reloads never overlap: a change during a load triggers one more load after it.
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = this.#load().finally(() => {
      this.#loading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    const changedAt = this.#changedAt;
    this.#changedAt = undefined;
    const startedAt = Date.now();
    const t0 = performance.now();
    let sources;
    try {
      sources = await loadSources(this.paths, this.#parsed);
    } catch (e) {
      const message = e instanceof MeshgateError ? e.message : String(e);
      this.emit("rejected", { problems: [], reason: message });
      return;
    }
    const t1 = performance.now();
    const result = buildModel(sources.documents, sources.problems);
    const timings: LoadTimings = { ...(changedAt !== undefined ? { changedAt } : {}), startedAt, loadMs: t1 - t0, modelMs: performance.now() - t1 };
    if (!result.usable) {
      const blocking = result.problems.filter((p) => p.blocking);
      this.emit("rejected", { problems: result.problems, reason: `${blocking.length} blocking problem(s); keeping ${this.#current ? `configuration version ${this.#current.version}` : "no configuration"}` });
      return;
    }
    this.#current = { version: (this.#current?.version ?? 0) + 1, result, files: sources.files, appliedAt: new Date(), timings };
    this.emit("applied", this.#current);
  }

  /** Loads once, then watches the paths until close(). */
  async start(): Promise<void> {
    await this.reload();
    // Short: editors' multi-file saves land within it, and the xDS push debounce coalesces what
    // still arrives separately, so a longer wait here only delays every change.
    const debounceMs = this.options.debounceMs ?? 50;
    this.#watcher = watch([...this.paths], {
      ignoreInitial: true,
      // Editors write a temp file then rename it: wait for the write to settle.
      awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 },
      ignored: (path, stats) => Boolean(stats?.isFile()) && !/\.ya?ml$/i.test(path),
    });
    this.#watcher.on("all", () => {
      this.#changedAt ??= Date.now();
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.reload(), debounceMs);
    });
    await new Promise<void>((resolve) => this.#watcher!.once("ready", () => resolve()));
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#watcher?.close();
    await this.#loading;
  }
}
