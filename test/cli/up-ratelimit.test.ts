// `meshgate up --redis`: the rate limit service runs inside `up` and the gateway proxy `up`
// starts enforces a Global BackendTrafficPolicy limit through it, counting in a real
// (password-protected) redis-server; the password never shows; Ctrl-C stops it all.
// A malformed Redis URL is a usage error.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { ROOT, runCli } from "../helpers/cli.js";
import { serviceYaml, startEcho } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS } from "../helpers/gateway-harness.js";
import { startRedis } from "../helpers/redis.js";

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function config(port: number, backendPort: number): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners: [{ name: http, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: per-user, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: [{ headers: [{ name: x-user, type: Distinct }] }]
          limit: { requests: 2, unit: Hour }
${serviceYaml("infra", "app", 80, [{ port: backendPort }])}`;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => (c.destroy(), resolve(true)));
    c.once("error", () => resolve(false));
  });

test("meshgate up --redis runs the rate limit service: the gateway it starts answers 429 past the limit; the password never shows; SIGINT stops it", async (t) => {
  const password = "s3cret-Pa55";
  const redis = await startRedis(undefined, { password });
  t.after(() => redis.stop());
  const backend = await startEcho(t, "app");
  const dir = mkdtempSync(join(tmpdir(), "meshgate-up-rl-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gatewayPort = await freePort();
  const rlsPort = await freePort();
  writeFileSync(join(dir, "config.yaml"), config(gatewayPort, backend.port));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up", "--config", join(dir, "config.yaml"), "--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--state-dir", join(dir, "state"), "--ratelimit-service", `127.0.0.1:${rlsPort}`, "--gateway-workers", "1", "--log-format", "json"],
    // The URL comes from the environment, as a deployment would pass a secret.
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, MESHGATE_REDIS_URL: redis.url } },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  t.after(() => child.kill("SIGKILL"));

  const admin = await until("the admin URL", async () => /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(stdout)?.[1], 20_000);
  const redacted = `redis://:***@127.0.0.1:${redis.port}`;
  assert.ok(stdout.includes(`Global rate limits: rate limit service on 127.0.0.1:${rlsPort}, counters in ${redacted}`), stdout);
  await until("/readyz 200", async () => ((await fetch(`${admin}/readyz`)).status === 200 ? true : undefined), 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${stderr}`);
  });
  const status = await until("the service to reach Redis", async () => {
    const d = (await (await fetch(`${admin}/config_dump`)).json()) as { rateLimitService: { running: boolean; redis: string; redisReady: boolean; policies: string[] } };
    return d.rateLimitService.redisReady ? d.rateLimitService : undefined;
  });
  assert.deepEqual(status, { running: true, address: `127.0.0.1:${rlsPort}`, redis: redacted, redisReady: true, policies: ["infra/per-user"] });

  // Two requests per hour and user; a fresh user if the hour turned over meanwhile.
  let statuses: number[] = [];
  for (let attempt = 0; ; attempt++) {
    const hour = Math.floor(Date.now() / 3_600_000);
    statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(`http://127.0.0.1:${gatewayPort}/`, { headers: { "x-user": `u${attempt}` } });
      await r.body.text();
      statuses.push(r.statusCode);
    }
    if (Math.floor(Date.now() / 3_600_000) === hour) break;
  }
  assert.deepEqual(statuses, [200, 200, 429, 429]);

  child.kill("SIGINT");
  assert.equal(await exited, 0, stderr);
  assert.equal(await listening(rlsPort), false, "the rate limit service is closed");
  assert.ok(!stdout.includes(password) && !stderr.includes(password), "the Redis password never appears in the output");
  assert.match(stderr, /rate limit service listening/);
});

test("meshgate up --redis with a malformed URL exits 2 with a clear message that does not echo the URL", async () => {
  for (const [args, env] of [
    [["--redis", "not a url"], {}],
    [["--redis", "http://:hunter2@127.0.0.1:6379"], {}],
    [[], { MESHGATE_REDIS_URL: "redis://:hunter2@127.0.0.1:6379/?db=1" }],
  ] as const) {
    const r = await runCli(["up", "-c", "examples/bookinfo", "--admin", "127.0.0.1:0", ...args], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redis \(or MESHGATE_REDIS_URL\): the Redis URL for global rate limits is not usable: .+\[ERR_USAGE\]/);
    assert.ok(!r.stderr.includes("hunter2"), r.stderr);
    assert.equal(r.stdout, "", "nothing started");
  }
});
