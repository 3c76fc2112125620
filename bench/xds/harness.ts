// Process plumbing shared by the xDS benchmarks: pinned child processes talking over IPC,
// percentiles, memory after GC.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export type Msg = Record<string, unknown> & { type: string };

export function send(m: Msg): void {
  process.send!(m);
}

/** `node --import tsx <file> ...args`, pinned to `core` with taskset when it exists. */
export function child(file: string, args: string[], core: string, nodeFlags: string[] = []): ChildProcess {
  const node = [process.execPath, ...nodeFlags, "--import", "tsx", file, ...args];
  const hasTaskset = spawnSync("taskset", ["-V"]).status === 0;
  const [cmd, ...rest] = hasTaskset ? ["taskset", "-c", core, ...node] : node;
  return spawn(cmd!, rest, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

export function next(p: ChildProcess, type: string, timeoutMs = 300_000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" from child within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: Msg) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      p.off("message", on);
      resolve(m);
    };
    p.on("message", on);
  });
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const f1 = (x: number) => x.toFixed(1);

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

/** After two forced GCs (the server runs with --expose-gc). */
export function memory(): Memory {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

export function loadAverage(): string {
  try {
    return spawnSync("cat", ["/proc/loadavg"]).stdout.toString().split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}
