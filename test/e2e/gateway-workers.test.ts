// A gateway proxy with two worker processes (node:cluster) sharing its listener: a worker
// killed with SIGKILL leaves the other serving, is restarted (and logged), and gets the
// configuration in force; a change made afterwards reaches both. Which worker answered a
// connection is read from /proc (the worker process holding the connection's socket).

import { test } from "node:test";
import assert from "node:assert/strict";
import cluster from "node:cluster";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { serviceYaml, startEcho, type EchoBackend } from "../helpers/echo-backend.js";
import { edgeGatewayYaml, freePort, GATEWAY_CLASS, startGatewayHarness, waitFor } from "../helpers/gateway-harness.js";

function config(port: number, v1: EchoBackend, v2: EchoBackend, weights: { v1: number; v2: number }): string {
  return `${GATEWAY_CLASS}---
${edgeGatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: routes, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - backendRefs: [{ name: v1, port: 80, weight: ${weights.v1} }, { name: v2, port: 80, weight: ${weights.v2} }]
${serviceYaml("infra", "v1", 80, [v1])}${serviceYaml("infra", "v2", 80, [v2])}`;
}

/** The pids of this process's node:cluster workers (the test process is the proxy's primary). */
function workerPids(): number[] {
  return Object.values(cluster.workers ?? {})
    .map((w) => w?.process.pid)
    .filter((p): p is number => p !== undefined);
}

/** The inode of the TCP socket with this local and remote port (IPv4 or IPv6 table). */
function socketInode(localPort: number, remotePort: number): string | undefined {
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[1]!.split(":")[1]!, 16) === localPort && parseInt(f[2]!.split(":")[1]!, 16) === remotePort && f[9] !== "0") return f[9];
    }
  }
  return undefined;
}

function processHolding(inode: string, pids: readonly number[]): number | undefined {
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * One request on a new connection; once the response head is in, and while the connection
 * is still open, finds the worker that holds its server side. Status 0: the connection failed.
 */
function ask(port: number): Promise<{ status: number; backend?: string; worker?: number }> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let text = "";
    const done = (r: { status: number; backend?: string; worker?: number }) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(5000, () => done({ status: 0 }));
    sock.on("error", () => done({ status: 0 }));
    sock.on("close", () => done({ status: 0 }));
    sock.on("connect", () => sock.write("GET /split HTTP/1.1\r\nHost: x\r\n\r\n"));
    sock.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = text.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const backend = /\r\nx-backend: *([^\r]+)/i.exec(head)?.[1];
      const inode = socketInode(port, sock.localPort!);
      const worker = inode ? processHolding(inode, workerPids()) : undefined;
      done({ status, ...(backend ? { backend } : {}), ...(worker ? { worker } : {}) });
    });
  });
}

test("two workers: one killed, the other keeps serving; it is restarted with the configuration in force, and later changes reach both", async (t) => {
  const port = await freePort();
  const v1 = await startEcho(t, "v1");
  const v2 = await startEcho(t, "v2");
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, v1, v2, { v1: 1, v2: 0 }), workers: 2 });
  assert.equal(h.proxy.workerCount, 2);
  const [first, second] = workerPids();
  assert.ok(first && second);
  // Workers run with a small young generation (memory per worker; proxy-runtime.ts).
  for (const pid of [first, second]) assert.ok(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("--max-semi-space-size=2"), `worker ${pid} has --max-semi-space-size=2`);

  // Both workers serve (the primary hands connections out in turn).
  const served = new Set<number>();
  for (let i = 0; i < 20 && served.size < 2; i++) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    assert.equal(r.backend, "v1");
    if (r.worker) served.add(r.worker);
  }
  assert.deepEqual([...served].sort(), [first, second].sort(), "both workers answer requests");

  process.kill(first, "SIGKILL");
  await waitFor(() => h.proxy.workerCount === 1, 5000, "the proxy to notice the worker's death");
  // Until the replacement is forked (after a short pause), the survivor answers every new connection.
  let alone = 0;
  while (alone < 10 && workerPids().length === 1) {
    const r = await ask(port);
    assert.equal(r.status, 200, `request ${alone} after the kill`);
    assert.equal(r.worker, second, "the surviving worker answered");
    alone++;
  }
  assert.ok(alone >= 3, `requests were served by the survivor alone (${alone})`);
  const log = h.logs.find((l) => l.includes("proxy worker exited; starting a new one"));
  assert.ok(log, "the worker's death is logged");
  assert.match(log!, new RegExp(`"pid":${first}\\b`));
  assert.match(log!, /"signal":"SIGKILL"/);

  await waitFor(() => h.proxy.workerCount === 2, 15_000, "the worker to be restarted");
  assert.equal(h.proxy.restarts, 1);
  const third = workerPids().find((p) => p !== second)!;
  assert.ok(third && third !== first);
  // The new worker was given the configuration: it binds the listener and answers.
  const answered = new Set<number>();
  const end = Date.now() + 10_000;
  while (!answered.has(third) && Date.now() < end) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    assert.equal(r.backend, "v1");
    if (r.worker) answered.add(r.worker);
  }
  assert.ok(answered.has(third), "the restarted worker answers with the configuration in force");

  // A change now reaches both workers.
  await h.write(config(port, v1, v2, { v1: 0, v2: 1 }));
  const after = new Map<number, Set<string>>();
  for (let i = 0; i < 20; i++) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    if (r.worker) after.set(r.worker, (after.get(r.worker) ?? new Set()).add(r.backend ?? "?"));
  }
  assert.deepEqual([...after.keys()].sort(), [second, third].sort(), "both workers answered after the change");
  for (const [pid, backends] of after) assert.deepEqual([...backends], ["v2"], `worker ${pid} runs the new configuration`);
});

test("a change made while a killed worker is being replaced reaches the replacement too", async (t) => {
  const port = await freePort();
  const v1 = await startEcho(t, "v1");
  const v2 = await startEcho(t, "v2");
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, v1, v2, { v1: 1, v2: 0 }), workers: 2 });
  const [first, second] = workerPids();
  process.kill(first!, "SIGKILL");
  await waitFor(() => h.proxy.workerCount === 1, 5000, "the proxy to notice the worker's death");
  // The replacement is forked after a short pause and takes a moment to start (load the
  // code, report ready): the change arrives meanwhile.
  await waitFor(() => workerPids().length === 2, 5000, "the replacement to be forked");
  await h.write(config(port, v1, v2, { v1: 0, v2: 1 }));
  await waitFor(() => h.proxy.workerCount === 2, 15_000, "the worker to be restarted");
  const third = workerPids().find((p) => p !== second)!;
  const seen = new Map<number, Set<string>>();
  const end = Date.now() + 10_000;
  while (!seen.has(third) && Date.now() < end) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    if (r.worker) seen.set(r.worker, (seen.get(r.worker) ?? new Set()).add(r.backend ?? "?"));
  }
  for (let i = 0; i < 10; i++) {
    const r = await ask(port);
    if (r.worker) seen.set(r.worker, (seen.get(r.worker) ?? new Set()).add(r.backend ?? "?"));
  }
  assert.ok(seen.has(third), "the replacement answers");
  for (const [pid, backends] of seen) assert.deepEqual([...backends], ["v2"], `worker ${pid} runs the new configuration`);
});

test("a worker dying while it applies an update does not make the update fail: the others keep it and the replacement gets it", async (t) => {
  const port = await freePort();
  const v1 = await startEcho(t, "v1");
  const v2 = await startEcho(t, "v2");
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, v1, v2, { v1: 1, v2: 0 }), workers: 2 });
  const [first, second] = workerPids();
  // A stopped worker cannot answer: the update waits for it, and it dies waiting.
  process.kill(first!, "SIGSTOP");
  writeFileSync(join(h.configDir, "config.yaml"), config(port, v1, v2, { v1: 0, v2: 1 }));
  const sent = () => h.runtime.controlPlane.syncz().proxies.find((p) => p.id === "gateway~infra~edge")?.types.RDS?.sent?.version;
  await waitFor(() => sent() === "2", 10_000, "the control plane to send the change");
  await new Promise((r) => setTimeout(r, 200));
  process.kill(first!, "SIGKILL");
  await h.converged();
  assert.equal(h.proxy.client.counters.nacks, 0, "the update was not refused");
  await waitFor(() => h.proxy.workerCount === 2, 15_000, "the worker to be restarted");
  const third = workerPids().find((p) => p !== second)!;
  const seen = new Map<number, Set<string>>();
  const end = Date.now() + 10_000;
  for (let i = 0; (i < 10 || seen.size < 2) && Date.now() < end; i++) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    if (r.worker) seen.set(r.worker, (seen.get(r.worker) ?? new Set()).add(r.backend ?? "?"));
  }
  assert.deepEqual([...seen.keys()].sort(), [second, third].sort(), "both workers answered");
  for (const [pid, backends] of seen) assert.deepEqual([...backends], ["v2"], `worker ${pid} runs the new configuration`);
});

test("a hung worker that does not answer an update is killed and replaced: the update is not held up", async (t) => {
  const port = await freePort();
  const v1 = await startEcho(t, "v1");
  const v2 = await startEcho(t, "v2");
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, v1, v2, { v1: 1, v2: 0 }), workers: 2, workerReplyTimeoutMs: 1_000 });
  const [first, second] = workerPids();
  process.kill(first!, "SIGSTOP");
  t.after(() => {
    try {
      process.kill(first!, "SIGKILL");
    } catch {
      // already gone: the runtime killed it
    }
  });
  // Nobody kills the stopped worker here: only the reply timeout can release the update.
  await h.write(config(port, v1, v2, { v1: 0, v2: 1 }));
  assert.equal(h.proxy.client.counters.nacks, 0, "the update was not refused");
  assert.ok(h.logs.some((l) => l.includes("did not answer an update in time") && l.includes(String(first))), "the hung worker was reported");
  await waitFor(() => h.proxy.workerCount === 2 && !workerPids().includes(first!), 15_000, "the hung worker to be replaced");
  const third = workerPids().find((p) => p !== second)!;
  const seen = new Map<number, Set<string>>();
  const end = Date.now() + 10_000;
  for (let i = 0; (i < 10 || seen.size < 2) && Date.now() < end; i++) {
    const r = await ask(port);
    assert.equal(r.status, 200);
    if (r.worker) seen.set(r.worker, (seen.get(r.worker) ?? new Set()).add(r.backend ?? "?"));
  }
  assert.deepEqual([...seen.keys()].sort(), [second, third].sort(), "both workers answered");
  for (const [pid, backends] of seen) assert.deepEqual([...backends], ["v2"], `worker ${pid} runs the new configuration`);
});
