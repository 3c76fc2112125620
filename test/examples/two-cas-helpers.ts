// Runs examples/two-cas as a user would: a copy of the example (so the ports can be free
// ones and generated files stay out of the tree), `meshgate up` as a subprocess on
// base/ plus one variant folder, and the CLI commands the README shows.

import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runCli, type CliResult } from "../helpers/cli.js";

export async function until<T>(what: string, fn: () => Promise<T | undefined>, output: () => string, timeoutMs = 25_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface ExampleCopy {
  /** The copy of examples/two-cas. */
  readonly dir: string;
  /** The state directory every `up` of this copy shares (roots persist between runs, as in the README). */
  readonly stateDir: string;
  readonly gatewayPort: number;
  cleanup(): void;
}

/** Copies the example, moving the gateway, the application and its sidecar to free ports. */
export async function copyExample(): Promise<ExampleCopy> {
  const base = mkdtempSync(join(tmpdir(), "meshgate-two-cas-"));
  const dir = join(base, "two-cas");
  cpSync(join(ROOT, "examples/two-cas"), dir, { recursive: true });
  const gatewayPort = await freePort();
  const [app, inbound, outbound] = [await freePort(), await freePort(), await freePort()];
  const gw = join(dir, "base/gateway.yaml");
  writeFileSync(gw, readFileSync(gw, "utf8").replace("port: 8080", `port: ${gatewayPort}`));
  const shop = join(dir, "base/shop.yaml");
  const text = readFileSync(shop, "utf8");
  if (!text.includes("  port: 19180\n") || !text.includes('PORT: "19180"')) throw new Error("base/shop.yaml no longer has the ports this helper moves");
  const moved = text.replace("  port: 19180\n", `  port: ${app}\n  sidecar: { inboundPort: ${inbound}, outboundPort: ${outbound} }\n`).replace('PORT: "19180"', `PORT: "${app}"`);
  writeFileSync(shop, moved);
  return { dir, stateDir: join(base, "state"), gatewayPort, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export interface RunningUp {
  readonly admin: string;
  /** Everything `up` (and the proxies and applications it runs) printed so far. */
  output(): string;
  /** GET through the gateway. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** SIGINT, then the exit code. */
  stop(): Promise<number | null>;
}

/** `meshgate up --config <copy>/base --config <copy>/<variant>`, waiting for the admin endpoint. */
export async function up(copy: ExampleCopy, variant: string): Promise<RunningUp> {
  const args = ["up", "--config", join(copy.dir, "base"), "--config", join(copy.dir, variant), "--state-dir", copy.stateDir];
  args.push("--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--ratelimit-service", `127.0.0.1:${await freePort()}`, "--gateway-workers", "1");
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const output = () => out;
  const admin = await until("meshgate up's admin endpoint", async () => /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(out)?.[1], output);
  return {
    admin,
    output,
    async get(path) {
      const r = await fetch(`http://127.0.0.1:${copy.gatewayPort}${path}`);
      return { status: r.status, body: await r.text() };
    },
    async stop() {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function meshgate(...args: string[]): Promise<CliResult> {
  return runCli(args);
}
