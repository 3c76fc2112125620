// Moving a listener to another address on the same port in one update (0.0.0.0:P <->
// 127.0.0.1:P): the old socket is released before the new one is bound, its open
// connections finish, other listeners are untouched; a bind that still fails rejects the
// update and the old listener accepts again.

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { MeshgateError } from "../../../src/errors.js";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef } from "../../../src/proxy/contracts.js";
import { conflicts, ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { chain, echoHandler, listener, mapOf, portOf, type Echo } from "./helpers.js";

async function freePort(): Promise<number> {
  // Probed on the wildcard address: free there means free on every loopback address.
  const s = net.createServer().listen(0, "0.0.0.0");
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, "close");
  return port;
}

function get(host: string, port: number, path: string, agent?: http.Agent): Promise<{ status: number; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, ...(agent ? { agent } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, socket: req.socket! }));
    });
    req.on("error", reject);
  });
}

/** Requests to /slow wait for release(); everything else is echoed. */
function slowHandler() {
  const waiting: (() => void)[] = [];
  let arrived: () => void = () => {};
  let arrivals = new Promise<void>((r) => (arrived = r));
  const handler = (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef): void => {
    if (!req.rawPath.startsWith("/slow")) return echoHandler(req, res, ref);
    req.body.resume();
    waiting.push(() => {
      const body = Buffer.from(`${ref.listenerName}:${req.rawPath}`);
      res.writeHead(200, { "content-length": String(body.length) });
      res.end(body);
    });
    arrived();
  };
  return {
    handler,
    /** Resolves once `n` slow requests are waiting. */
    async started(n: number): Promise<void> {
      while (waiting.length < n) {
        await arrivals;
        arrivals = new Promise<void>((r) => (arrived = r));
      }
    },
    releaseAll(): void {
      for (const w of waiting.splice(0)) w();
    },
  };
}

test("address conflicts: same port with the same host or a wildcard", () => {
  assert.equal(conflicts({ host: "0.0.0.0", port: 80 }, { host: "127.0.0.1", port: 80 }), true);
  assert.equal(conflicts({ host: "127.0.0.1", port: 80 }, { host: "::", port: 80 }), true);
  assert.equal(conflicts({ host: "127.0.0.1", port: 80 }, { host: "127.0.0.2", port: 80 }), false);
  assert.equal(conflicts({ host: "0.0.0.0", port: 80 }, { host: "0.0.0.0", port: 81 }), false);
  assert.equal(conflicts({ host: "0.0.0.0", port: 0 }, { host: "0.0.0.0", port: 0 }), false);
});

test("0.0.0.0:P -> 127.0.0.1:P in one apply: the move works, in-flight requests on both listeners finish, the other listener is untouched", async (t) => {
  const port = await freePort();
  const slow = slowHandler();
  const m = new ListenerManager({ drainTimeoutMs: 5000 });
  t.after(() => m.close());
  const other = listener("other", [chain({ name: "plain" })]);
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "0.0.0.0"), other), new Map(), slow.handler);
  const otherPort = portOf(m.bound(), "other");
  // 127.0.0.2 is a loopback address only the wildcard listener covers.
  assert.equal((await get("127.0.0.2", port, "/before")).status, 200);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const idle = await get("127.0.0.1", port, "/idle", agent);
  const idleClosed = once(idle.socket, "close");
  const onOld = get("127.0.0.1", port, "/slow-old");
  const onOther = get("127.0.0.1", otherPort, "/slow-other");
  await slow.started(2);

  await m.apply(mapOf(listener("web", [chain({ name: "moved" })], port, "127.0.0.1"), other), new Map(), slow.handler);
  assert.deepEqual(
    m
      .bound()
      .map((b) => `${b.name} ${b.address}:${b.port}`)
      .sort(),
    [`other 127.0.0.1:${otherPort}`, `web 127.0.0.1:${port}`],
  );
  const moved = await get("127.0.0.1", port, "/after");
  assert.equal((JSON.parse(moved.body) as Echo).chain, "moved");
  // Only 127.0.0.1 now: the rest of the loopback network is no longer served.
  await assert.rejects(get("127.0.0.2", port, "/gone"), /ECONNREFUSED/);
  await idleClosed; // the old listener's idle keep-alive connection was drained

  slow.releaseAll();
  assert.deepEqual([await onOld, await onOther].map((r) => [r.status, r.body]), [
    [200, "web:/slow-old"],
    [200, "other:/slow-other"],
  ]);
  assert.equal((await get("127.0.0.1", otherPort, "/other-after")).status, 200);
});

test("127.0.0.1:P -> 0.0.0.0:P in one apply (the reverse), and a host change on the same port without a conflict", async (t) => {
  const port = await freePort();
  const m = new ListenerManager({ drainTimeoutMs: 1000 });
  t.after(() => m.close());
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "127.0.0.1")), new Map(), echoHandler);
  await assert.rejects(get("127.0.0.2", port, "/"), /ECONNREFUSED/);
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "0.0.0.0")), new Map(), echoHandler);
  assert.equal((await get("127.0.0.2", port, "/wide")).status, 200);
  assert.equal((await get("127.0.0.1", port, "/wide")).status, 200);
  // 0.0.0.0:P -> 127.0.0.3:P, then 127.0.0.3:P -> 127.0.0.4:P (no conflict between those two).
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "127.0.0.3")), new Map(), echoHandler);
  assert.equal((await get("127.0.0.3", port, "/three")).status, 200);
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "127.0.0.4")), new Map(), echoHandler);
  assert.equal((await get("127.0.0.4", port, "/four")).status, 200);
  await assert.rejects(get("127.0.0.3", port, "/"), /ECONNREFUSED/);
  assert.deepEqual(m.bound(), [{ name: "web", address: "127.0.0.4", port }]);
});

test("a move whose bind still fails rejects the whole update (ERR_PROXY_LISTENER_BIND) and the old listener accepts again", async (t) => {
  const port = await freePort();
  // Something else holds 127.0.0.2:P: 0.0.0.0:P cannot be bound even once 127.0.0.1:P is released.
  const blocker = net.createServer().listen(port, "127.0.0.2");
  await once(blocker, "listening");
  t.after(() => blocker.close());

  const slow = slowHandler();
  const m = new ListenerManager({ drainTimeoutMs: 2000 });
  t.after(() => m.close());
  await m.apply(mapOf(listener("web", [chain({ name: "plain" })], port, "127.0.0.1")), new Map(), slow.handler);
  const inFlight = get("127.0.0.1", port, "/slow-during");
  await slow.started(1);

  const update = mapOf(listener("web", [chain({ name: "plain" })], port, "0.0.0.0"), listener("extra", [chain({ name: "plain" })]));
  const err = await m.apply(update, new Map(), slow.handler).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof MeshgateError);
  assert.equal(err.code, "ERR_PROXY_LISTENER_BIND");
  assert.match(err.message, new RegExp(`listener web cannot listen on 0\\.0\\.0\\.0:${port}: the address is already in use`));
  // Nothing of the update stays: the old listener is back, the extra one was not kept.
  assert.deepEqual(m.bound(), [{ name: "web", address: "127.0.0.1", port }]);
  assert.equal((await get("127.0.0.1", port, "/after-failure")).status, 200);
  slow.releaseAll();
  assert.equal((await inFlight).body, "web:/slow-during");

  // Once the address is free the same update applies.
  blocker.close();
  await once(blocker, "close");
  await m.apply(update, new Map(), slow.handler);
  assert.deepEqual(m.bound().map((b) => `${b.name} ${b.address}`).sort(), ["extra 127.0.0.1", "web 0.0.0.0"]);
  assert.equal((await get("127.0.0.2", port, "/wide")).status, 200);
});

test("node:cluster workers move a shared listener 0.0.0.0:P -> 127.0.0.1:P: every worker prepares (releases), then applies", async (t) => {
  const { spawn } = await import("node:child_process");
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./fixtures/cluster-listeners.ts", import.meta.url).pathname, String(port), "0.0.0.0", "127.0.0.1"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => {
    child.kill();
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  const lines = (n: number) =>
    new Promise<string[]>((resolve, reject) => {
      const check = () => {
        const l = out.split("\n").filter(Boolean);
        if (l.length >= n) resolve(l);
      };
      child.stdout.on("data", (d: string) => {
        out += d;
        check();
      });
      child.on("exit", () => reject(new Error(`exited early: ${out}`)));
      check();
    });
  type Result = { ok: boolean; pid: number; bound: { address: string; port: number }[]; error?: string };
  const [first] = await lines(1);
  assert.deepEqual((JSON.parse(first!) as Result[]).map((r) => [r.ok, r.error, r.bound[0]?.address]), [
    [true, undefined, "0.0.0.0"],
    [true, undefined, "0.0.0.0"],
  ]);
  const [, second] = await lines(2);
  const moved = JSON.parse(second!) as Result[];
  assert.deepEqual(moved.map((r) => [r.ok, r.error, r.bound[0]?.address, r.bound[0]?.port]), [
    [true, undefined, "127.0.0.1", port],
    [true, undefined, "127.0.0.1", port],
  ]);
  const pids = new Set<string>();
  for (let i = 0; i < 20 && pids.size < 2; i++) pids.add((await get("127.0.0.1", port, "/")).body);
  assert.equal(pids.size, 2, "both workers answer on the new address");
  await assert.rejects(get("127.0.0.2", port, "/"), /ECONNREFUSED/);
});
