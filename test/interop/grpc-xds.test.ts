// Interop with a real xDS client nobody here wrote: @grpc/grpc-js-xds (proxyless gRPC),
// bootstrapped against meshgate's control plane, resolves LDS -> RDS -> CDS -> EDS, routes
// RPCs to a backend, and follows a live weight shift without restarting.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ConfigWatcher } from "../../src/runtime/config-watcher.js";
import { ControlPlane } from "../../src/runtime/control-plane.js";
import { MeshCertificates } from "../../src/runtime/mesh-ca.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { translate } from "../../src/translate/index.js";
import { AdsServer } from "../../src/xds/ads-server.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { SnapshotBuilder } from "../../src/xds/resources/build-snapshots.js";
import { modelOf } from "../helpers/model.js";
import { ROOT } from "../helpers/cli.js";
import { startEchoBackend } from "./grpc-echo.js";

const TARGET = "echo.interop.svc.cluster.local:50051";

function config(a: number, b: number, weights: [number, number]): string {
  const backend = (name: string, port: number) => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: interop }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: interop, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: grpc, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1] }]
`;
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: interop }
spec: { ports: [{ name: grpc, port: 50051, appProtocol: kubernetes.io/h2c }] }
${backend("echo-a", a)}${backend("echo-b", b)}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo-split, namespace: interop }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 50051 }]
  rules:
    - backendRefs:
        - { name: echo-a, port: 50051, weight: ${weights[0]} }
        - { name: echo-b, port: 50051, weight: ${weights[1]} }
`;
}

interface Answer {
  ok: boolean;
  backend?: string;
  error?: string;
}

/** Starts the client process; `next(pred)` resolves with the first answer satisfying it. */
function startClient(xdsPort: number, nodeId: string): { child: ChildProcess; answers: Answer[]; waitFor: (pred: (a: Answer[]) => boolean, what: string, ms?: number) => Promise<void> } {
  const bootstrap = { xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }], node: { id: nodeId, locality: {} } };
  const child = spawn(process.execPath, ["--import", "tsx", "test/interop/xds-grpc-client.ts", TARGET], {
    cwd: ROOT,
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const answers: Answer[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    answers.push(JSON.parse(line) as Answer);
    for (const w of waiters) w();
  });
  const waitFor = (pred: (a: Answer[]) => boolean, what: string, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pred(answers)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; last answers: ${JSON.stringify(answers.slice(-5))}; client stderr: ${stderr.slice(-2000)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { child, answers, waitFor };
}

const lastN = (n: number, pred: (a: Answer) => boolean) => (answers: Answer[]) => answers.length >= n && answers.slice(-n).every(pred);

test("proxyless gRPC follows meshgate: LDS -> RDS -> CDS -> EDS, then a live weight shift", { timeout: 90_000 }, async (t) => {
  const [a, b] = await Promise.all([startEchoBackend("a"), startEchoBackend("b")]);
  const dir = mkdtempSync(join(tmpdir(), "meshgate-interop-"));
  const file = join(dir, "echo.yaml");
  writeFileSync(file, config(a.port, b.port, [100, 0]));
  const watcher = new ConfigWatcher([dir], { debounceMs: 50 });
  const cp = await ControlPlane.start({ stateDir: join(dir, "state"), xds: { host: "127.0.0.1", port: 0 }, debounceMs: 20, logger: createLogger({ level: "silent" }) });
  watcher.on("applied", (c) => void cp.apply(c));
  await watcher.start();
  const client = startClient(cp.ports.xds, "grpc-client-1");
  t.after(async () => {
    client.child.kill("SIGTERM");
    await watcher.close();
    await cp.close();
    await Promise.all([a.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  await client.waitFor(lastN(5, (x) => x.ok && x.backend === "a"), "RPCs answered by backend a");
  const first = cp.syncz().proxies.find((p) => p.id === "grpc-client-1");
  assert.ok(first, "the client is tracked by its node id");
  assert.equal(first.status, "SYNCED");
  for (const type of ["LDS", "RDS", "CDS", "EDS"]) assert.equal(first.types[type]?.acked?.version, "1", `${type} ACKed`);

  // Shift all traffic to b by editing the file: the same client process follows.
  const seenBefore = client.answers.length;
  writeFileSync(file, config(a.port, b.port, [0, 100]));
  await client.waitFor((xs) => xs.length > seenBefore && lastN(5, (x) => x.ok && x.backend === "b")(xs), "RPCs answered by backend b after the shift");
  assert.equal(client.child.exitCode, null, "the client was not restarted");
  assert.ok(client.answers.slice(seenBefore).every((x) => x.ok), "no RPC failed during the shift");
  const after = cp.syncz().proxies.find((p) => p.id === "grpc-client-1")!;
  assert.equal(after.status, "SYNCED");
  assert.equal(after.types["RDS"]?.acked?.version, "2");
  const summary = cp.syncz().summary;
  assert.equal(summary.version, "2");
  assert.ok(summary.converged);
  assert.match(summary.text, /config version 2 is live on all 1 proxy \(converged in [0-9.]+ ms\)/);
});

test("a resource the gRPC client cannot use is NACKed: meshgate reports it, the client keeps its last good config", { timeout: 90_000 }, async (t) => {
  const a = await startEchoBackend("a");
  const dir = mkdtempSync(join(tmpdir(), "meshgate-interop-"));
  const certs = new MeshCertificates(join(dir, "pki"));
  const model = modelOf(config(a.port, a.port, [100, 0])).model!;
  const good = new SnapshotBuilder(certs).build(translate(model, 1));
  const server = new AdsServer({ security: { mode: "plaintext" }, snapshot: good, debounceMs: 10 });
  const port = await server.listen("127.0.0.1:0");
  const client = startClient(port, "grpc-client-nack");
  t.after(async () => {
    client.child.kill("SIGTERM");
    await server.close();
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await client.waitFor(lastN(3, (x) => x.ok && x.backend === "a"), "RPCs answered with the good configuration");

  // Version 2 puts a filter the client does not implement, marked required, in front of the router.
  const listener = good.fallback.resources.listener.get(TARGET)!;
  const decoded = decodeResource(TYPE_URLS.listener, listener.value) as { apiListener: { apiListener: { httpFilters: unknown[] } } };
  decoded.apiListener.apiListener.httpFilters.unshift({ name: "envoy.filters.http.jwt_authn", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication" } });
  const value = encodeResource(TYPE_URLS.listener, decoded);
  const bad = { ...listener, version: "bad-listener", value };
  server.update({ ...good, version: "2", fallback: { version: "2", resources: { ...good.fallback.resources, listener: new Map([[TARGET, bad]]) } } });

  const deadline = Date.now() + 20_000;
  let lds;
  while (Date.now() < deadline) {
    lds = server.syncz().proxies.find((p) => p.id === "grpc-client-nack")?.types["LDS"];
    if (lds?.status === "NACKED") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(lds?.status, "NACKED", JSON.stringify(lds));
  assert.equal(lds!.nacked!.version, "2");
  assert.match(lds!.nacked!.detail, /jwt_authn|filter/i, "the client's own error detail is recorded");
  assert.equal(lds!.acked!.version, "1", "the last good version is still the ACKed one");
  assert.match(server.syncz().summary.text, /NACK|nacked/i);
  const seen = client.answers.length;
  await client.waitFor((xs) => xs.length >= seen + 5, "more RPCs after the NACK");
  assert.ok(client.answers.slice(seen).every((x) => x.ok && x.backend === "a"), "the client keeps serving with its last good configuration");

  // A good version 3 clears the NACK.
  server.update({ ...good, version: "3", fallback: { ...good.fallback, version: "3" } });
  const until = Date.now() + 20_000;
  while (Date.now() < until && server.syncz().proxies.find((p) => p.id === "grpc-client-nack")?.status !== "SYNCED") await new Promise((r) => setTimeout(r, 50));
  assert.equal(server.syncz().proxies.find((p) => p.id === "grpc-client-nack")?.types["LDS"]?.acked?.version, "3");
});
