// A meshgate command run as a real subprocess for end-to-end tests (as a user or `meshgate
// up` would run it), with its output collected line by line so a test can wait for a log
// line. The process is killed (SIGKILL, by its pid) when the test ends, if still running.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { ROOT } from "./cli.js";

export interface MeshgateProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line written to stdout and stderr so far. */
  readonly lines: string[];
  /** Resolves with the first line (already written or still to come) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnMeshgate(t: TestContext, args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): MeshgateProcess {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  const onData = (() => {
    let partial = { out: "", err: "" };
    return (which: "out" | "err") => (d: Buffer) => {
      const text = partial[which] + d.toString("utf8");
      const parts = text.split("\n");
      partial = { ...partial, [which]: parts.pop() ?? "" };
      for (const line of parts) {
        if (!line) continue;
        lines.push(line);
        for (const w of waiters) {
          if (w.re.test(line)) {
            waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    };
  })();
  child.stdout!.on("data", onData("out"));
  child.stderr!.on("data", onData("err"));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const p: MeshgateProcess = {
    child,
    pid: child.pid!,
    lines,
    exited,
    waitForLine(re, timeoutMs = 15_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out waiting for a line matching ${re} from meshgate ${args.join(" ")}; output so far:\n${lines.slice(-30).join("\n")}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    async stop(graceMs = 5000) {
      if (done) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  t.after(async () => {
    if (!done) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return p;
}
