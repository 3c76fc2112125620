// End-to-end harness: the real embedded control plane (`startEmbedded`, as `meshgate up`
// runs it, watching a config directory) and an in-process gateway proxy connected to it
// over the trusted local xDS socket; real sockets everywhere. Tests write YAML, wait for
// the gateway to run the new version, and send real requests (curl, undici).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import type { TestContext } from "node:test";
import { ProxyRuntime } from "../../src/proxy/proxy-runtime.js";
import { startEmbedded, type EmbeddedRuntime } from "../../src/runtime/embedded.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { freePort } from "./free-port.js";

export const GATEWAY_CLASS = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
`;

/** Gateway infra/edge with one plain HTTP listener on 127.0.0.1:`port` (one YAML document, no separator). */
export function edgeGatewayYaml(port: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: http, port: ${port}, protocol: HTTP }
`;
}

export { freePort };

export interface GatewayHarness {
  /** The control plane in force (replaced by restartControlPlane). */
  readonly runtime: EmbeddedRuntime;
  readonly proxy: ProxyRuntime;
  readonly configDir: string;
  readonly stateDir: string;
  /** Replaces the configuration file and waits until the gateway ACKed the new version. */
  write(yaml: string): Promise<void>;
  /** Waits until the gateway proxy runs the configuration version in force. */
  converged(timeoutMs?: number): Promise<void>;
  /** Stops the control plane; `startControlPlane` starts a new one on the same socket and state. */
  stopControlPlane(): Promise<void>;
  startControlPlane(): Promise<void>;
  /** Log lines (JSON) written so far by the control plane and the gateway. */
  readonly logs: string[];
}

/**
 * `rateLimit`: run global rate limits as `meshgate up --redis` does (the rate limit
 * service on a free port, counting in `redisUrl`; without it, not enforced).
 */
export async function startGatewayHarness(t: TestContext, opts: { gateway: string; yaml: string; workers?: number; workerReplyTimeoutMs?: number; logLevel?: string; rateLimit?: { redisUrl?: string } }): Promise<GatewayHarness> {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-e2e-"));
  const configDir = join(dir, "config");
  const stateDir = join(dir, "state");
  mkdirSync(configDir);
  writeFileSync(join(configDir, "config.yaml"), opts.yaml);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(line);
      cb();
    },
  });
  const logger = createLogger({ format: "json", level: opts.logLevel ?? "info", destination: sink });
  // The service's own port, kept across control plane restarts (the proxies were told it).
  const rateLimitService = opts.rateLimit ? { host: "127.0.0.1", port: await freePort() } : undefined;
  const startCp = () =>
    startEmbedded({
      configPaths: [configDir],
      admin: { host: "127.0.0.1", port: 0 },
      debounceMs: 10,
      logger,
      gateways: "external",
      controlPlane: { xds: { host: "127.0.0.1", port: 0 }, xdsLocal: join(stateDir, "xds.sock"), stateDir, debounceMs: 5, ...(rateLimitService ? { rateLimitService } : {}) },
      ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    });
  let runtime: EmbeddedRuntime | undefined = await startCp();
  const [ns, name] = opts.gateway.split("/");
  const proxy = await ProxyRuntime.start({
    nodeId: `gateway~${ns}~${name}`,
    xdsTarget: runtime.xdsLocalTarget!,
    credentials: grpc.credentials.createInsecure(),
    workers: opts.workers ?? 0,
    ...(opts.workerReplyTimeoutMs !== undefined ? { workerReplyTimeoutMs: opts.workerReplyTimeoutMs } : {}),
    logger,
  });
  t.after(async () => {
    await proxy.close();
    await runtime?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const h: GatewayHarness = {
    get runtime() {
      if (!runtime) throw new Error("the control plane is stopped");
      return runtime;
    },
    proxy,
    logs,
    async stopControlPlane() {
      await runtime?.close();
      runtime = undefined;
    },
    async startControlPlane() {
      runtime = await startCp();
    },
    configDir,
    stateDir,
    async write(yaml: string) {
      const before = h.runtime.watcher.current?.version ?? 0;
      writeFileSync(join(configDir, "config.yaml"), yaml);
      await waitFor(() => (h.runtime.watcher.current?.version ?? 0) > before, 10_000, "the configuration change to be loaded");
      // The watcher counts a version before the control plane has compiled and served it;
      // until then the old version is "in force" and would count as converged.
      const loaded = String(h.runtime.watcher.current!.version);
      await waitFor(() => h.runtime.controlPlane.syncz().summary.version === loaded, 10_000, `configuration version ${loaded} to be served`);
      await h.converged();
    },
    async converged(timeoutMs = 10_000) {
      const nodeId = `gateway~${ns}~${name}`;
      const why = () => {
        const p = runtime?.controlPlane.syncz().proxies.find((x) => x.id === nodeId);
        const problems = logs.filter((l) => /"level":(40|50)/.test(l)).slice(-5);
        return `; proxy: ${proxy.ready().reason}; control plane sees ${JSON.stringify(p ?? "no stream")}; recent warnings: ${problems.join("\n")}`;
      };
      await waitFor(
        () => {
          if (!runtime) return false;
          const sync = runtime.controlPlane.syncz();
          const p = sync.proxies.find((x) => x.id === nodeId);
          return sync.summary.version !== null && p?.status === "SYNCED" && p.version === sync.summary.version && proxy.ready().ready;
        },
        timeoutMs,
        `gateway ${opts.gateway} to run the configuration in force`,
        why,
      );
    },
  };
  await h.converged(15_000);
  return h;
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, detail?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? detail() : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
