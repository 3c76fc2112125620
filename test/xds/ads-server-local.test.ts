// The local ADS mode: a Unix domain socket only the same user can open, on which a proxy
// gets the secrets of the node id it claims. The socket is created 0600, a stale one is
// replaced, a live one or another file is not, and it is removed again on close.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, renameSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MeshgateError } from "../../src/errors.js";
import { AdsServer } from "../../src/xds/ads-server.js";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { names, SotwClient } from "../helpers/ads-client.js";
import { node, res, snapshotSet } from "../helpers/xds-snapshots.js";
import { tempDir } from "../pki/helpers.js";

const GW = "gateway~infra~gw";
const cert = res.secret("infra/shop-cert", "CHAIN", "KEY");
const snapshot = snapshotSet("v1", { [GW]: node("v1", { cluster: [res.cluster("app")], secret: [cert] }) });

function localChannel(t: import("node:test").TestContext, path: string): grpc.Client {
  const c = new grpc.Client(`unix://${path}`, grpc.credentials.createInsecure());
  t.after(() => c.close());
  return c;
}

async function startLocal(t: import("node:test").TestContext, path: string): Promise<AdsServer> {
  const server = new AdsServer({ security: { mode: "local" }, snapshot, debounceMs: 10 });
  assert.equal(await server.listen(path), 0);
  t.after(() => server.close());
  return server;
}

test("local: the socket is created with mode 0600 and serves the secrets of the node id the client claims; close removes it", async (t) => {
  const dir = join(tempDir(t), "state"); // created by listen
  const path = join(dir, "xds.sock");
  const server = await startLocal(t, path);
  const st = statSync(path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700, "a state directory the server creates is private too");

  const c = new SotwClient(localChannel(t, path), GW);
  c.send({ typeUrl: TYPE_URLS.secret, resourceNames: ["infra/shop-cert"] });
  const r = await c.next();
  assert.deepEqual(names(r), ["infra/shop-cert"]);
  assert.deepEqual(Buffer.from(r.resources[0]!.value), Buffer.from(cert.value));
  c.ack(r);
  assert.equal(server.syncz().proxies[0]!.id, GW);
  c.close();

  await server.close();
  assert.equal(existsSync(path), false, "the socket file is removed on close");
});

test("local: a stale socket file is replaced; a socket a process still serves, or a file that is not a socket, is refused", async (t) => {
  const dir = tempDir(t);
  // Stale: the socket file a killed process leaves behind.
  const stale = join(dir, "stale.sock");
  const holder = spawn(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(stale)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((r) => holder.stdout.once("data", () => r()));
  holder.kill("SIGKILL");
  await new Promise((r) => holder.once("exit", r));
  assert.ok(statSync(stale).isSocket(), "the stale socket file is left behind");
  const server = await startLocal(t, stale);
  const c = new SotwClient(localChannel(t, stale), GW);
  c.send({ typeUrl: TYPE_URLS.cluster });
  assert.deepEqual(names(await c.next()), ["app"]);
  c.close();

  // Live: the server just started still answers there.
  const second = new AdsServer({ security: { mode: "local" }, snapshot });
  await assert.rejects(second.listen(stale), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_LISTEN" && /another process is serving/.test(e.message));
  await second.close();
  assert.ok(existsSync(stale), "the live socket is left alone");

  const file = join(dir, "not-a-socket");
  writeFileSync(file, "data");
  const third = new AdsServer({ security: { mode: "local" }, snapshot });
  await assert.rejects(third.listen(file), (e: unknown) => e instanceof MeshgateError && e.code === "ERR_XDS_LISTEN" && /not a socket/.test(e.message));
  await third.close();
  assert.equal(statSync(file).size, 4, "the file is untouched");
  await server.close();
});

test("local: closing a server does not remove a socket a newer server has put at the same path", async (t) => {
  const path = join(tempDir(t), "xds.sock");
  const first = await startLocal(t, path);
  // Someone moved the first server's socket aside and a second server took the path.
  renameSync(path, `${path}.old`);
  const second = await startLocal(t, path);
  await first.close();
  assert.ok(existsSync(path));
  const c = new SotwClient(localChannel(t, path), GW);
  c.send({ typeUrl: TYPE_URLS.cluster });
  assert.deepEqual(names(await c.next()), ["app"]);
  c.close();
  await second.close();
  assert.equal(existsSync(path), false);
});
