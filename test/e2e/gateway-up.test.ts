// `meshgate up` as a user runs it, with its supervised gateway proxy: two Gateways asking
// for the same address and port (the older keeps it, the newer is reported not Programmed
// with reason AddressNotUsable and gets no proxy), and the proxy going away with `up` when
// `up` is killed outright (SIGKILL: no chance to stop its children), freeing the port.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { runCli } from "../helpers/cli.js";
import { serviceYaml, startEcho, type EchoBackend } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, waitFor } from "../helpers/gateway-harness.js";
import { spawnMeshgate } from "../helpers/meshgate-process.js";

function gateway(name: string, created: string, port: number, backend: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: infra, creationTimestamp: "${created}" }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: http, port: ${port}, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: infra }
spec:
  parentRefs: [{ name: ${name} }]
  rules: [{ backendRefs: [{ name: ${backend}, port: 80 }] }]
`;
}

function config(port: number, older: EchoBackend, newer: EchoBackend): string {
  // The newer Gateway sorts first by name: age, not name, decides who keeps the socket.
  return `${GATEWAY_CLASS}${gateway("zz-older", "2024-01-01T00:00:00Z", port, "older")}${gateway("aa-newer", "2025-06-01T00:00:00Z", port, "newer")}${serviceYaml("infra", "older", 80, [older])}${serviceYaml("infra", "newer", 80, [newer])}`;
}

/** True while the process exists and is not a zombie (an orphan may wait for a reaper that never comes). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function portFree(port: number): Promise<boolean> {
  const s = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

test("meshgate up: of two Gateways on one address and port the older serves and the newer is AddressNotUsable; killing up takes its gateway proxy down and frees the port", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-e2e-up-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configDir = join(dir, "config");
  mkdirSync(configDir);
  const port = await freePort();
  const older = await startEcho(t, "older");
  const newer = await startEcho(t, "newer");
  writeFileSync(join(configDir, "gateways.yaml"), config(port, older, newer));
  const up = spawnMeshgate(t, ["up", "--config", configDir, "--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--state-dir", join(dir, "state"), "--gateway-workers", "1", "--debounce", "20", "--xds-debounce", "10", "--log-format", "json"]);
  const admin = /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(await up.waitForLine(/Admin: http/))![1]!;
  const readyz = async () => {
    const r = await request(`${admin}/readyz`).catch(() => undefined);
    if (r) await r.body.text();
    return r?.statusCode;
  };
  for (let end = Date.now() + 30_000; (await readyz()) !== 200; ) {
    if (Date.now() > end) assert.fail(`meshgate up never became ready:\n${up.lines.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // Status: the older Gateway is Programmed, the newer is not, and says why.
  const dump = (await (await request(`${admin}/config_dump`)).body.json()) as { resources: { kind: string; namespace: string; name: string; status: { conditions: { type: string; status: string; reason: string; message: string }[] } }[]; problems: string[] };
  const programmed = (name: string) => dump.resources.find((r) => r.kind === "Gateway" && r.name === name)?.status.conditions.find((c) => c.type === "Programmed");
  assert.equal(programmed("zz-older")?.status, "True", JSON.stringify(programmed("zz-older")));
  const refused = programmed("aa-newer");
  assert.equal(refused?.status, "False");
  assert.equal(refused?.reason, "AddressNotUsable");
  assert.match(refused!.message, new RegExp(`127\\.0\\.0\\.1:${port} is already used by Gateway infra/zz-older`));
  assert.ok(dump.problems.some((p) => /MG_ADDRESS_IN_USE/.test(p) && /aa-newer/.test(p)), dump.problems.join("\n"));
  // Only the older Gateway has a proxy, and it is in sync.
  const status = await runCli(["status", "--admin", admin.replace("http://", "")]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /gateway~infra~zz-older\s+gateway\s+SYNCED/);
  assert.doesNotMatch(status.stdout, /aa-newer/);
  // The supervisor's line (with the pid), not the proxy's own.
  const started = up.lines.filter((l) => l.includes('"msg":"gateway proxy started"') && l.includes('"pid":'));
  assert.equal(started.length, 1, started.join("\n"));
  assert.match(started[0]!, /"gateway":"infra\/zz-older"/);

  // Traffic goes to the older Gateway's backend.
  for (let i = 0; i < 5; i++) {
    const r = await request(`http://127.0.0.1:${port}/x`);
    await r.body.text();
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["x-backend"], "older");
  }
  assert.equal(newer.requests.length, 0);

  // Kill `up` outright: the proxy (in its own process group, so not killed with it) notices
  // that its parent is gone and stops, with its worker.
  const proxyPid = Number(/"pid":(\d+)/.exec(started[0]!)![1]);
  assert.ok(running(proxyPid));
  const workers = children(proxyPid);
  assert.equal(workers.length, 1, `the proxy has one worker process: ${JSON.stringify(workers)}`);
  const killedAt = Date.now();
  process.kill(up.pid, "SIGKILL");
  await up.exited;
  await waitFor(() => !running(proxyPid) && !workers.some(running), 5000, "the gateway proxy and its worker to exit after meshgate up was killed");
  const took = Date.now() - killedAt;
  // Its output still reaches the pipe `up` shared with it.
  assert.match(await up.waitForLine(/"msg":"shutting down"/, 1000), /"signal":"parent exited"/);
  assert.ok(await portFree(port), `port ${port} is free again`);
  t.diagnostic(`proxy gone ${took} ms after meshgate up was killed`);
  const refusedConn = await request(`http://127.0.0.1:${port}/x`).then(
    () => "answered",
    (e: Error & { code?: string }) => e.code ?? e.message,
  );
  assert.equal(refusedConn, "ECONNREFUSED");
});
