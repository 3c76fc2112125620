import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.js";

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("meshgate up serves /readyz and /config_dump, follows file changes, keeps the last good config, stops cleanly on SIGINT", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-up-"));
  cpSync(join(ROOT, "examples/bookinfo"), dir, { recursive: true });
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up", "--config", dir, "--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--state-dir", `${dir}-state`, "--debounce", "50", "--no-workloads", "--log-format", "json"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    const admin = await until("the admin URL", async () => /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(stdout)?.[1]);
    // The local xDS socket for the proxies `up` starts: in the state directory, this user only.
    const socket = `${dir}-state/xds.sock`;
    assert.ok(stdout.includes(`unix://${socket} (local`), stdout);
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    // Ready once the gateway proxy `up` started has taken the configuration.
    const early = await fetch(`${admin}/readyz`);
    if (early.status !== 200) assert.match(await early.text(), /waiting for gateway\(s\) to be programmed: ingress\/bookinfo-gateway|configuration not loaded/);
    const ready = await until("/readyz 200", async () => {
      const r = await fetch(`${admin}/readyz`);
      return r.status === 200 ? r : undefined;
    }, 30_000);
    assert.match(await ready.text(), /configuration version 1 in force/);
    assert.match(stderr, /gateway proxy started/);
    const dump = (await (await fetch(`${admin}/config_dump`)).json()) as { version: number; resources: { kind: string; name: string }[] };
    assert.equal(dump.version, 1);
    assert.ok(dump.resources.some((r) => r.kind === "Gateway" && r.name === "bookinfo-gateway"));

    // A valid change is applied.
    const gateway = join(dir, "gateway.yaml");
    writeFileSync(gateway, readFileSync(gateway, "utf8").replace("port: 8080", "port: 8081"));
    await until("version 2", async () => ((await (await fetch(`${admin}/config_dump`)).json()) as { version: number }).version === 2 || undefined);

    // An invalid change is rejected; version 2 stays in force and the reason is visible.
    writeFileSync(gateway, readFileSync(gateway, "utf8").replace("port: 8081", "port: eighty"));
    const rejected = await until("the rejection", async () => {
      const d = (await (await fetch(`${admin}/config_dump`)).json()) as { version: number; lastRejected?: { reason: string; problems: string[] } };
      return d.lastRejected ? d : undefined;
    });
    assert.equal(rejected.version, 2);
    assert.ok(rejected.lastRejected!.problems.some((p) => /gateway\.yaml:\d+:\d+: error: Gateway ingress\/bookinfo-gateway: spec\.listeners\[0\]\.port/.test(p)), JSON.stringify(rejected.lastRejected));
    assert.equal((await fetch(`${admin}/readyz`)).status, 200);
    assert.match(stderr, /configuration change rejected/);

    child.kill("SIGINT");
    assert.equal(await exited, 0, stderr);
    assert.equal(existsSync(socket), false, "the socket is removed on shutdown");
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-state`, { recursive: true, force: true });
  }
});

test("meshgate up refuses a bad --admin address with a usage error", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up", "-c", "examples/bookinfo", "--admin", "nonsense"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  assert.equal(code, 2);
  assert.match(stderr, /--admin must be HOST:PORT/);
});
