// A real redis-server for tests: its own port and temp dir, no persistence.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/**
 * Starts redis-server (on `port` when given, e.g. to restart one on the same address);
 * with `password`, clients must authenticate (the url then carries it).
 */
export async function startRedis(port?: number, options: { password?: string } = {}): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "meshgate-redis-"));
  const auth = options.password !== undefined ? ["--requirepass", options.password] : [];
  const child: ChildProcess = spawn("redis-server", ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...auth], { stdio: "ignore" });
  let exited = false;
  child.once("exit", () => (exited = true));
  for (let i = 0; i < 100 && !(await reachable(p)); i++) {
    if (exited) throw new Error("redis-server exited at start");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: p,
    url: options.password !== undefined ? `redis://:${encodeURIComponent(options.password)}@127.0.0.1:${p}` : `redis://127.0.0.1:${p}`,
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await done;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
