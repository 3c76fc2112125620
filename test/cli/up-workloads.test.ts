import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


test("meshgate up --config examples/bookinfo starts the six Bookinfo applications and their sidecars; the page comes through the gateway; SIGINT stops them all", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-up-apps-"));
  cpSync(join(ROOT, "examples/bookinfo"), dir, { recursive: true });
  // The gateway on a free port, so this test does not contend with others for 8080.
  const gateway = join(dir, "gateway.yaml");
  const gatewayPort = await freePort();
  writeFileSync(gateway, readFileSync(gateway, "utf8").replace("port: 8080", `port: ${gatewayPort}`));
  const ports = [...readFileSync(join(dir, "services.yaml"), "utf8").matchAll(/^ {2}port: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(ports.length, 6);
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up", "--config", dir, "--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--ratelimit-service", `127.0.0.1:${await freePort()}`, "--state-dir", `${dir}-state`, "--gateway-workers", "1", "--log-format", "json"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    for (const port of ports) {
      const body = await until(`the application on ${port}`, async () => {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        return r.status === 200 ? ((await r.json()) as { status: string }) : undefined;
      });
      assert.match(body.status, /is healthy/);
    }
    const admin = /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(stdout)![1];
    const dump = (await (await fetch(`${admin}/config_dump`)).json()) as { workloads: { workload: string; pid: number; restarts: number }[] };
    assert.deepEqual(dump.workloads.map((w) => w.workload).sort(), ["bookinfo/details-v1", "bookinfo/productpage-v1", "bookinfo/ratings-v1", "bookinfo/reviews-v1", "bookinfo/reviews-v2", "bookinfo/reviews-v3"]);
    assert.ok(dump.workloads.every((w) => typeof w.pid === "number" && w.restarts === 0), JSON.stringify(dump.workloads));
    // Each is confirmed by the guard that would end it if `meshgate up` were killed.
    await until("every application guarded", async () => {
      const d = (await (await fetch(`${admin}/config_dump`)).json()) as { workloads: { pid: number; guarded: boolean }[] };
      return d.workloads.length === 6 && d.workloads.every((w) => w.guarded) ? true : undefined;
    });
    // A sidecar per Workload, next to the gateway proxy.
    const proxies = (dump as unknown as { gatewayProxies: { gateway: string; role: string; pid: number }[] }).gatewayProxies;
    assert.deepEqual(proxies.filter((p) => p.role === "sidecar").map((p) => p.gateway).sort(), dump.workloads.map((w) => w.workload).sort());
    // gateway -> productpage's sidecar -> productpage -> its sidecar -> details / reviews
    // (-> ratings), every hop between sidecars mTLS; reviews split across versions.
    const versions = new Set<string>();
    for (let i = 0; i < 30 && versions.size < 2; i++) {
      const page = await until("the Bookinfo page through the gateway", async () => {
        const r = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`);
        const text = await r.text();
        return r.status === 200 && text.includes("Book Details") && text.includes("Reviews served by") ? text : undefined;
      });
      assert.match(page, /William Shakespeare/, "details answered through the mesh");
      versions.add(/Reviews served by:?\s*(?:<[^>]*>\s*)*(reviews-v\d)/.exec(page)?.[1] ?? "?");
    }
    assert.ok(versions.size >= 2 && !versions.has("?"), `reviews traffic is split across versions: ${[...versions].join(", ")}`);
    // The applications' own output is logged under their names, not mixed raw into up's.
    const logged = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { workload?: string; stream?: string });
    assert.ok(logged.some((l) => l.workload === "bookinfo/productpage-v1" && l.stream !== undefined), stderr);

    child.kill("SIGINT");
    assert.equal(await exited, 0, stderr);
    assert.doesNotMatch(stderr, /workload guard process failed/, "an orderly shutdown ends the guard without a warning");
    for (const w of dump.workloads) assert.throws(() => process.kill(w.pid, 0), /ESRCH/, `${w.workload} (pid ${w.pid}) was stopped`);
    for (const p of proxies) assert.throws(() => process.kill(p.pid, 0), /ESRCH/, `${p.role} proxy ${p.gateway} (pid ${p.pid}) was stopped`);
    for (const port of ports) await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-state`, { recursive: true, force: true });
  }
});
