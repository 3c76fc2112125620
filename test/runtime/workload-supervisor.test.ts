import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../src/telemetry/logger.js";
import { WorkloadSupervisor, workloadProcesses, type WorkloadProcessSpec } from "../../src/runtime/workload-supervisor.js";
import { modelOf, problemLines } from "../helpers/model.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ format: "json", destination }) };
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A tiny application: writes its pid and env to a file, prints a line, then runs (or exits). */
function app(dir: string, name: string, body = "setInterval(() => {}, 1000);"): WorkloadProcessSpec {
  const script = join(dir, `${name}.js`);
  writeFileSync(script, `require("node:fs").writeFileSync(${JSON.stringify(join(dir, `${name}.out`))}, JSON.stringify({ pid: process.pid, cwd: process.cwd(), greeting: process.env.GREETING }));\nconsole.log("hello from ${name}");\n${body}\n`);
  return { workload: `shop/${name}`, argv: [process.execPath, script], cwd: dir, env: { GREETING: "hi" } };
}
const outOf = (dir: string, name: string) => (existsSync(join(dir, `${name}.out`)) ? (JSON.parse(readFileSync(join(dir, `${name}.out`), "utf8")) as { pid: number; cwd: string; greeting: string }) : undefined);

test("workloadProcesses: workingDir against the declaring file's directory, `node` is this Node, env kept, no command -> not run", () => {
  const r = modelOf(
    `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: app }
spec: { trustDomain: app.local, namespaces: [shop] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: cart, namespace: shop }
spec: { port: 8080, command: [node, cart.js, --fast], workingDir: apps, env: { PORT: "8080" } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: pay, namespace: shop }
spec: { port: 8081, command: [/bin/pay] }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: external, namespace: shop }
spec: { port: 8082 }
`,
    "/srv/config/shop/workloads.yaml",
  );
  assert.deepEqual(problemLines(r, "error"), []);
  assert.deepEqual(workloadProcesses(r.model!.workloads), [
    { workload: "shop/cart", argv: [process.execPath, "cart.js", "--fast"], cwd: "/srv/config/shop/apps", env: { PORT: "8080" } },
    { workload: "shop/pay", argv: ["/bin/pay"], cwd: "/srv/config/shop", env: {} },
  ]);
});

test("starts each application with its env and cwd, logs its output under its name, restarts a crashed one with backoff, and stops them on close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  const { lines, logger } = capture();
  const sup = new WorkloadSupervisor({ logger, stopTimeoutMs: 2000, backoff: { initialMs: 200, maxMs: 400 } });
  try {
    const sub = join(dir, "sub");
    mkdirSync(sub);
    const steady = { ...app(dir, "steady"), cwd: sub };
    // Crashes at once every time: restarted after 200, then 400, 400 ms.
    const crashy = app(dir, "crashy", "process.exit(3);");
    sup.sync([steady, crashy]);
    const out = await until("steady's output", () => outOf(dir, "steady"));
    assert.equal(out.cwd, sub);
    assert.equal(out.greeting, "hi");
    await until("the logged stdout line", () => lines.find((l) => l.msg === "hello from steady" && l.workload === "shop/steady" && l.stream === "stdout"));
    const crashes = await until("three crashes", () => {
      const c = lines.filter((l) => l.msg === "workload exited; restarting" && l.workload === "shop/crashy");
      return c.length >= 3 ? c : undefined;
    });
    assert.deepEqual(crashes.slice(0, 3).map((c) => [c.code, c.restarts, c.restartInMs]), [[3, 1, 200], [3, 2, 400], [3, 3, 400]]);
    const listed = sup.list().find((w) => w.workload === "shop/crashy")!;
    assert.equal(listed.lastExit, "exited with code 3");
    const steadyPid = sup.list().find((w) => w.workload === "shop/steady")!.pid!;
    assert.equal(steadyPid, out.pid);

    await sup.close();
    assert.equal(alive(steadyPid), false);
    assert.ok(lines.some((l) => l.msg === "workload stopped" && l.workload === "shop/steady" && l.signal === "SIGTERM"));
  } finally {
    await sup.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a configuration change starts added, stops removed and restarts changed applications, leaving the rest running", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  const { lines, logger } = capture();
  const sup = new WorkloadSupervisor({ logger, stopTimeoutMs: 2000 });
  try {
    const a = app(dir, "a");
    const b = app(dir, "b");
    const c = app(dir, "c");
    sup.sync([a, b]);
    const pa = (await until("a", () => outOf(dir, "a"))).pid;
    const pb = (await until("b", () => outOf(dir, "b"))).pid;
    rmSync(join(dir, "b.out"));
    sup.sync([a, { ...b, env: { GREETING: "hello" } }, c]);
    const b2 = await until("b restarted", () => outOf(dir, "b"));
    assert.notEqual(b2.pid, pb);
    assert.equal(b2.greeting, "hello");
    assert.equal(alive(pb), false, "the old b was stopped first");
    const pc = (await until("c", () => outOf(dir, "c"))).pid;
    sup.sync([{ ...b, env: { GREETING: "hello" } }, c]);
    await until("a stopped", () => !alive(pa));
    assert.ok(lines.some((l) => l.msg === "workload stopped" && l.workload === "shop/a" && l.reason === "removed from the configuration"));
    assert.deepEqual(sup.list().map((w) => [w.workload, w.pid]).sort(), [["shop/b", b2.pid], ["shop/c", pc]]);
    assert.equal(lines.filter((l) => l.msg === "workload started").length, 4, "a, b, c once, b again");
  } finally {
    await sup.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an application that ignores SIGTERM is killed after the grace period", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  const { logger } = capture();
  const sup = new WorkloadSupervisor({ logger, stopTimeoutMs: 300 });
  try {
    sup.sync([app(dir, "stubborn", `process.on("SIGTERM", () => {}); setInterval(() => {}, 1000);`)]);
    const { pid } = await until("stubborn", () => outOf(dir, "stubborn"));
    await new Promise((r) => setTimeout(r, 200)); // its SIGTERM handler is installed
    const t0 = Date.now();
    await sup.close();
    assert.ok(Date.now() - t0 >= 250);
    assert.equal(alive(pid), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("applications do not outlive a supervisor process that is killed with SIGKILL", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  try {
    const spec = app(dir, "orphan");
    const host = join(dir, "host.ts");
    writeFileSync(
      host,
      `import { WorkloadSupervisor } from ${JSON.stringify(join(process.cwd(), "src/runtime/workload-supervisor.ts"))};
import { createLogger } from ${JSON.stringify(join(process.cwd(), "src/telemetry/logger.ts"))};
new WorkloadSupervisor({ logger: createLogger({ format: "json" }) }).sync([${JSON.stringify(spec)}]);
setInterval(() => {}, 1000);
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", host], { stdio: "ignore", env: { ...process.env, MESHGATE_REAPER_GRACE_MS: "500" } });
    const { pid } = await until("orphan", () => outOf(dir, "orphan"), 20_000);
    // The guard (workload-reaper, started through tsx here) must have booted and read the
    // group it was told about; a guard killed with its parent before it reads anything
    // never learns of the group (a window of the guard's start-up, noted for follow-up).
    await until("the guard process", () => (guardPids().length > 0 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 1_500));
    child.kill("SIGKILL");
    await until("the application to end", () => !alive(pid), 10_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Running workload-reaper processes (the supervisor's guard). */
function guardPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes("workload-reaper")) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
