import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { createLogger } from "../../src/telemetry/logger.js";
import type { GuardReport } from "../../src/runtime/workload-guard-protocol.js";
import { WorkloadSupervisor, workloadProcesses, type WorkloadProcessSpec } from "../../src/runtime/workload-supervisor.js";
import { modelOf, problemLines } from "../helpers/model.js";

function capture(level = "info") {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ format: "json", level, destination }) };
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

/**
 * A tiny application: writes its pid and env to a file, prints a line, then runs (or exits).
 * The file is written aside and renamed into place, so a reader never sees it half written.
 */
function app(dir: string, name: string, body = "setInterval(() => {}, 1000);"): WorkloadProcessSpec {
  const script = join(dir, `${name}.js`);
  const out = join(dir, `${name}.out`);
  writeFileSync(
    script,
    `const fs = require("node:fs");
fs.writeFileSync(${JSON.stringify(out)} + "." + process.pid, JSON.stringify({ pid: process.pid, cwd: process.cwd(), greeting: process.env.GREETING }));
fs.renameSync(${JSON.stringify(out)} + "." + process.pid, ${JSON.stringify(out)});
console.log("hello from ${name}");
${body}
`,
  );
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

/**
 * Runs a supervisor for `specs` in a separate process (so the test can SIGKILL it); the
 * supervisor is created and given its workloads at once, before its guard can be ready.
 * Its debug log (JSON lines) is collected in `lines`.
 */
function supervisorHost(dir: string, specs: readonly WorkloadProcessSpec[]): { child: ChildProcess; lines: Record<string, unknown>[] } {
  const host = join(dir, "host.ts");
  writeFileSync(
    host,
    `import { WorkloadSupervisor } from ${JSON.stringify(join(process.cwd(), "src/runtime/workload-supervisor.ts"))};
import { createLogger } from ${JSON.stringify(join(process.cwd(), "src/telemetry/logger.ts"))};
new WorkloadSupervisor({ logger: createLogger({ format: "json", level: "debug", destination: process.stdout }) }).sync(${JSON.stringify(specs)});
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", host], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, MESHGATE_REAPER_GRACE_MS: "500" } });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    if (l.startsWith("{")) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { child, lines };
}

/** The pid the guard confirmed for `workload` (the "workload guarded" line). */
const guardedPid = (lines: readonly Record<string, unknown>[], workload: string): number | undefined => lines.find((l) => l.msg === "workload guarded" && l.workload === workload)?.pid as number | undefined;

test("applications do not outlive a supervisor process that is killed with SIGKILL once the guard confirmed them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  const { child, lines } = supervisorHost(dir, [app(dir, "orphan")]);
  try {
    const { pid } = await until("orphan", () => outOf(dir, "orphan"), 20_000);
    // No pause for the guard to boot: its confirmation is the moment the group is safe.
    const confirmed = await until("the guard's confirmation", () => guardedPid(lines, "shop/orphan"), 20_000);
    assert.equal(confirmed, pid);
    child.kill("SIGKILL");
    await until("the application to end", () => !alive(pid), 10_000);
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("workloads started before the guard is ready are held for it and handed over in order, so a SIGKILL right after the confirmations still ends them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  // `blink` exits at once, so its add and remove are likely both queued before the guard is
  // ready; it must not disturb the others.
  const specs = [app(dir, "one"), app(dir, "two"), app(dir, "blink", "process.exit(0);")];
  const { child, lines } = supervisorHost(dir, specs);
  try {
    const pids = await until("both confirmations", () => {
      const p = [guardedPid(lines, "shop/one"), guardedPid(lines, "shop/two")];
      return p.every((x) => x !== undefined) ? (p as number[]) : undefined;
    }, 20_000);
    child.kill("SIGKILL");
    const ready = lines.find((l) => l.msg === "workload guard ready");
    assert.ok(ready, "the guard reported ready");
    // The workloads were started while the guard was still booting: this run exercised the queue.
    assert.ok((ready.queued as number) >= 2, JSON.stringify(ready));
    assert.ok(lines.findIndex((l) => l.msg === "workload started") < lines.indexOf(ready));
    assert.deepEqual(pids, [outOf(dir, "one")!.pid, outOf(dir, "two")!.pid]);
    await until("the applications to end", () => pids.every((p) => !alive(p)), 10_000);
    const guard = ready.pid as number;
    await until("the guard to exit after its grace period", () => !alive(guard), 10_000);
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("list() reports a workload guarded once confirmed; a guard that dies is warned about once and workloads keep running and restarting", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-wl-"));
  const { lines, logger } = capture("debug");
  const sup = new WorkloadSupervisor({ logger, stopTimeoutMs: 2000, backoff: { initialMs: 100, maxMs: 100 } });
  try {
    const steady = app(dir, "steady");
    sup.sync([steady]);
    const listed = await until("steady guarded", () => sup.list().find((w) => w.workload === "shop/steady" && w.guarded), 20_000);
    assert.equal(guardedPid(lines, "shop/steady"), listed.pid);
    const guard = lines.find((l) => l.msg === "workload guard ready")!.pid as number;

    process.kill(guard, "SIGKILL");
    const warning = await until("the warning", () => lines.find((l) => l.level === 40 && l.msg === "workload guard process failed; the applications will not be stopped if meshgate up is killed"));
    assert.equal(warning.signal, "SIGKILL");
    assert.equal(sup.list()[0]!.guarded, false, "no longer guarded");

    // New and crashing applications still start, without another warning or a new guard.
    sup.sync([steady, app(dir, "late"), app(dir, "crashy", "process.exit(3);")]);
    await until("late", () => outOf(dir, "late"));
    await until("crashy restarted twice", () => sup.list().find((w) => w.workload === "shop/crashy" && w.restarts >= 2));
    assert.equal(lines.filter((l) => l.level === 40 && String(l.msg).startsWith("workload guard")).length, 1);
    assert.ok(sup.list().every((w) => !w.guarded), JSON.stringify(sup.list()));
    assert.equal(lines.filter((l) => l.msg === "workload guard ready").length, 1, "no second guard");

    await sup.close();
    assert.equal(alive(listed.pid!), false);
    assert.equal(lines.filter((l) => l.level === 40 && String(l.msg).startsWith("workload guard")).length, 1, "close() after a lost guard warns no more");
  } finally {
    await sup.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the guard: ready once listening, confirms each valid group, ignores malformed requests, and on its parent's disconnect ends the groups it still holds", async () => {
  const victim = () => spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore", detached: true });
  const kept = victim();
  const forgotten = victim();
  const guard = spawn(process.execPath, ["--import", "tsx", join(process.cwd(), "src/runtime/workload-reaper.ts")], { stdio: ["ignore", "ignore", "inherit", "ipc"], env: { ...process.env, MESHGATE_REAPER_GRACE_MS: "200" } });
  const reports: GuardReport[] = [];
  guard.on("message", (m: GuardReport) => reports.push(m));
  const exited = new Promise<number | null>((r) => guard.once("exit", r));
  try {
    // Malformed first: they are read before the valid ones, so once those are confirmed the
    // malformed ones were read too. (0 would address the guard's own group.)
    for (const junk of [{ add: 0 }, { add: "1" }, { add: 1.5 }, { remove: -1 }, "add"]) guard.send(junk);
    guard.send({ add: kept.pid! });
    guard.send({ add: forgotten.pid! });
    await until("both confirmations", () => (reports.length >= 3 ? true : undefined));
    assert.deepEqual(reports, [{ ready: true }, { added: kept.pid }, { added: forgotten.pid }]);
    guard.send({ remove: forgotten.pid! });
    guard.disconnect();
    await until("the kept group to end", () => !alive(kept.pid!));
    assert.equal(await exited, 0);
    assert.equal(alive(forgotten.pid!), true, "a removed group is left alone");
  } finally {
    guard.kill("SIGKILL");
    for (const v of [kept, forgotten]) v.kill("SIGKILL");
  }
});
