// `meshgate status` as a subprocess against a real admin endpoint backed by a real ADS
// server with connected proxies (SotW and Delta), synced, stale and NACKing.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { startAdminServer } from "../../src/runtime/admin-server.js";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import type { SyncReport } from "../../src/xds/convergence.js";
import { DeltaClient, SotwClient } from "../helpers/ads-client.js";
import { startAds, waitFor } from "../helpers/ads-server.js";
import { runCli } from "../helpers/cli.js";
import { node, res, snapshotSet } from "../helpers/xds-snapshots.js";

const GW = "gateway~infra~edge";
const CART = "sidecar~shop~cart";

const set = (v: string, timeout = 1) =>
  snapshotSet(v, {
    [GW]: node(v, { listener: [res.listener("edge/http", "edge/http")], route: [res.route("edge/http", "shop/cart")], cluster: [res.cluster("shop/cart", timeout)], endpoint: [res.endpoints("shop/cart", "10.0.0.1:8080")] }),
    [CART]: node(v, { cluster: [res.cluster("shop/cart", timeout)] }),
  });

async function admin(t: import("node:test").TestContext, syncz?: () => unknown, trustz?: () => unknown): Promise<string> {
  const a = await startAdminServer("127.0.0.1", 0, { ready: () => ({ ready: true, reason: "ok" }), configDump: () => ({}), ...(syncz ? { syncz } : {}), ...(trustz ? { trustz } : {}) });
  t.after(() => closeServer(a.server));
  return `127.0.0.1:${a.address.port}`;
}

function closeServer(s: Server): Promise<void> {
  return new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });
}

test("meshgate status: a table per proxy and type, the summary line, exit 0 when all are SYNCED, 1 after a NACK", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const addr = await admin(t, () => server.syncz());
  const ch = channel();
  const gw = new SotwClient(ch, GW);
  for (const [typeUrl, resourceNames] of [[TYPE_URLS.cluster, []], [TYPE_URLS.endpoint, ["shop/cart"]], [TYPE_URLS.listener, []], [TYPE_URLS.route, ["edge/http"]]] as const) {
    gw.send({ typeUrl, resourceNames: [...resourceNames] });
    gw.ack(await gw.next());
  }
  const cart = new DeltaClient(ch, CART);
  cart.send({ typeUrl: TYPE_URLS.cluster });
  cart.ack(await cart.next());
  await waitFor(() => server.syncz().summary.converged);

  const ok = await runCli(["status", "--admin", addr]);
  assert.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.split("\n");
  assert.match(lines[0]!, /^PROXY\s+ROLE\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION\s+XDS$/);
  assert.match(ok.stdout, /^gateway~infra~edge\s+gateway\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+-\s+v1\s+sotw$/m);
  assert.match(ok.stdout, /^sidecar~shop~cart\s+sidecar\s+SYNCED\s+-\s+-\s+-\s+-\s+v1\s+delta$/m);
  assert.match(ok.stdout, /^config version v1 is live on all 2 proxies \(converged in [\d.]+ ms\)$/m);

  // v2 changes the cluster; the gateway rejects it, the sidecar has not answered yet.
  server.update(set("v2", 7));
  const bad = await gw.next();
  gw.send({ typeUrl: TYPE_URLS.cluster, versionInfo: "v1", responseNonce: bad.nonce, errorDetail: { code: 3, message: "connect_timeout: value out of range" } });
  await cart.next();
  await waitFor(() => server.syncz().summary.nacked === 1 && server.syncz().summary.stale === 1);
  const nack = await runCli(["status", "--admin", addr]);
  assert.equal(nack.code, 1);
  assert.match(nack.stdout, /^gateway~infra~edge\s+gateway\s+NACKED\s+SYNCED\s+SYNCED\s+SYNCED\s+-\s+v2\s+sotw$/m);
  assert.match(nack.stdout, /^sidecar~shop~cart\s+sidecar\s+STALE\s/m);
  assert.match(nack.stdout, /Rejected \(NACK\):\n {2}gateway~infra~edge CDS version v2: connect_timeout: value out of range/);
  assert.match(nack.stdout, /^config version v2 is live on 0 of 2 proxies; not yet: gateway~infra~edge \(NACKED\), sidecar~shop~cart \(STALE\)$/m);

  const json = await runCli(["status", "--admin", addr, "--output", "json"]);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as SyncReport;
  assert.equal(report.summary.version, "v2");
  assert.deepEqual([report.summary.nacked, report.summary.stale, report.summary.synced], [1, 1, 0]);
  const gwReport = report.proxies.find((p) => p.id === GW)!;
  assert.equal(gwReport.types.CDS!.nacked!.detail, "connect_timeout: value out of range");
  assert.equal(gwReport.types.CDS!.acked!.version, "v1");
  gw.close();
  cart.close();
});

test("meshgate status: no proxies connected is not a failure", async (t) => {
  const { server } = await startAds(t, set("v9"));
  const addr = await admin(t, () => server.syncz());
  const r = await runCli(["status", "--admin", addr]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "config version v9: no proxies connected\n");
});

test("meshgate status: the control plane's trust problems follow the summary, with their fixes; they do not change the exit status", async (t) => {
  const { server } = await startAds(t, set("v9"));
  const problem = {
    caller: "Gateway edge/gw",
    message: "Gateway edge/gw (Mesh edge) calls Service shop/cart:9080 (Mesh shop) over mTLS, but the gateway does not trust Mesh shop's root",
    fixes: ["one root: same rootName", "trust both roots: a BackendTLSPolicy"],
    doctor: "meshgate trust doctor --client state/pki/meshes/edge --server state/pki/meshes/shop",
  };
  const addr = await admin(t, () => server.syncz(), () => ({ problems: [problem] }));
  const r = await runCli(["status", "--admin", addr]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `config version v9: no proxies connected

Trust problems (mTLS on these links fails):
  ${problem.message}
    fix: one root: same rootName
    fix: trust both roots: a BackendTLSPolicy
    diagnose: ${problem.doctor}
`,
  );
  const json = await runCli(["status", "--admin", addr, "--output", "json"]);
  assert.deepEqual((JSON.parse(json.stdout) as { trust: unknown }).trust, [problem]);
});

test("meshgate status: an admin endpoint without xDS, or none at all, is ERR_ADMIN_UNREACHABLE (exit 1); bad --admin is a usage error", async (t) => {
  const noXds = await admin(t);
  const a = await runCli(["status", "--admin", noXds]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /serves no xDS .*\[ERR_ADMIN_UNREACHABLE\]/);
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const b = await runCli(["status", "--admin", `127.0.0.1:${closedPort}`]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, new RegExp(`cannot read http://127\\.0\\.0\\.1:${closedPort}/debug/syncz: ECONNREFUSED \\[ERR_ADMIN_UNREACHABLE\\]`));
  const c = await runCli(["status", "--admin", "nope"]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--admin must be HOST:PORT/);
});

test("meshgate status --help shows examples and the exit status", async () => {
  const r = await runCli(["status", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /meshgate status --admin 127\.0\.0\.1:15000 --output json/);
  assert.match(r.stdout, /Exit status: 0 when every proxy is SYNCED, 1 when any is STALE or NACKED/);
});
