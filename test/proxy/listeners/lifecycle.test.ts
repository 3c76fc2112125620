import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { MeshgateError } from "../../../src/errors.js";
import type { DownstreamRequest, DownstreamResponse, EnvoyResource, FilterChainRef } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { asReceived, certSecret, chain, echoHandler, hcm, issue, listener, makePki, mapOf, portOf, rawExchange, tlsConnect, type Echo } from "./helpers.js";

const pki = await makePki();

/** HTTP/1.1 keep-alive client on one socket. */
function keepAliveAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

function get(port: number, path: string, agent?: http.Agent): Promise<{ status: number; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, socket: req.socket! }));
    });
    req.on("error", reject);
  });
}

test("a changed certificate secret: new handshakes get the new certificate, an open keep-alive connection keeps working", async (t) => {
  const first = await issue(pki, "spiffe://example.org/gw", ["shop.example"]);
  const second = await issue(pki, "spiffe://example.org/gw", ["shop.example"]);
  const m = new ListenerManager();
  t.after(() => m.close());
  const listeners = mapOf(listener("https", [chain({ name: "tls", certs: ["cert"], alpn: ["http/1.1"] })]));
  await m.apply(listeners, mapOf(certSecret("cert", first)), echoHandler);
  const port = portOf(m.bound(), "https");

  const open = await tlsConnect(port, { servername: "shop.example", ca: pki.rootPem });
  assert.equal(new X509Certificate(open.getPeerCertificate().raw).serialNumber, first.serialNumber);
  const request = (path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let data = "";
      const onData = (d: Buffer): void => {
        data += d.toString("latin1");
        const i = data.indexOf("\r\n\r\n");
        const len = Number(/content-length: (\d+)/i.exec(data)?.[1] ?? -1);
        if (i >= 0 && len >= 0 && data.length >= i + 4 + len) {
          open.removeListener("data", onData);
          resolve(data.slice(i + 4));
        }
      };
      open.on("data", onData);
      open.once("error", reject);
      open.write(`GET ${path} HTTP/1.1\r\nhost: shop.example\r\n\r\n`);
    });
  assert.equal((JSON.parse(await request("/before")) as Echo).rawPath, "/before");

  await m.apply(listeners, mapOf(certSecret("cert", second)), echoHandler);
  const fresh = await tlsConnect(port, { servername: "shop.example", ca: pki.rootPem });
  assert.equal(new X509Certificate(fresh.getPeerCertificate().raw).serialNumber, second.serialNumber);
  fresh.destroy();
  // The connection opened before the swap still serves requests.
  assert.equal((JSON.parse(await request("/after")) as Echo).rawPath, "/after");
  assert.equal(open.destroyed, false);
  open.destroy();
});

test("removing a listener drains it: the in-flight slow request completes, idle keep-alive connections close, no new connections", async (t) => {
  let release: () => void = () => {};
  let slowStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => (slowStarted = resolve));
  const handler = (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef): void => {
    if (req.rawPath !== "/slow") return echoHandler(req, res, ref);
    req.body.resume();
    release = () => {
      res.writeHead(200, { "content-length": "4" });
      res.end(Buffer.from("done"));
    };
    slowStarted();
  };
  const m = new ListenerManager({ drainTimeoutMs: 5000 });
  t.after(() => m.close());
  await m.apply(mapOf(listener("l1", [chain({ name: "plain" })])), new Map(), handler);
  const port = portOf(m.bound(), "l1");

  const idleAgent = keepAliveAgent();
  const idle = await get(port, "/idle", idleAgent);
  assert.equal(idle.status, 200);
  const idleClosed = once(idle.socket, "close");

  const slow = get(port, "/slow");
  await started;
  await m.apply(new Map(), new Map(), echoHandler);
  assert.deepEqual(m.bound(), []);
  await idleClosed; // the idle keep-alive connection was closed by the drain
  // New connections are refused.
  await assert.rejects(get(port, "/new"));
  release();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, "done");
  idleAgent.destroy();
});

test("a bind conflict rejects the whole update with a MeshgateError naming the listener and address; the old listeners keep serving", async (t) => {
  const blocker = net.createServer();
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  t.after(() => blocker.close());
  const taken = (blocker.address() as net.AddressInfo).port;

  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("old", [chain({ name: "plain" })])), new Map(), echoHandler);
  const oldPort = portOf(m.bound(), "old");

  const update = mapOf(listener("old", [chain({ name: "plain" })]), listener("fresh", [chain({ name: "plain" })]), listener("conflict", [chain({ name: "plain" })], taken));
  const err = await m.apply(update, new Map(), echoHandler).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof MeshgateError);
  assert.equal(err.code, "ERR_PROXY_LISTENER_BIND");
  assert.match(err.message, new RegExp(`listener conflict cannot listen on 127\\.0\\.0\\.1:${taken}: the address is already in use`));
  assert.deepEqual(
    m.bound().map((b) => b.name),
    ["old"],
  );
  const r = await get(oldPort, "/still");
  assert.equal((JSON.parse(r.body) as Echo).rawPath, "/still");

  // Nothing the failed update bound is left behind: applying it without the conflict works.
  update.delete("conflict");
  await m.apply(update, new Map(), echoHandler);
  assert.deepEqual(m.bound().map((b) => b.name).sort(), ["fresh", "old"]);
});

test("same address, new filter chain config: open connections stay and their next request sees the new HCM", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  const blocker = net.createServer();
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  const port = (blocker.address() as net.AddressInfo).port;
  blocker.close();
  await once(blocker, "close");

  const v1 = asReceived("listener", { name: "l", address: { socketAddress: { address: "127.0.0.1", portValue: port } }, filterChains: [{ name: "plain", filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: hcm("v1") }] }] });
  const v2 = asReceived("listener", { name: "l", address: { socketAddress: { address: "127.0.0.1", portValue: port } }, filterChains: [{ name: "plain", filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: hcm("v2") }] }] });
  await m.apply(mapOf(v1), new Map(), echoHandler);
  const agent = keepAliveAgent();
  t.after(() => agent.destroy());
  const a = await get(port, "/a", agent);
  assert.equal((JSON.parse(a.body) as Echo).statPrefix, "v1");
  await m.apply(mapOf(v2), new Map(), echoHandler);
  const b = await get(port, "/b", agent);
  assert.equal(b.socket, a.socket, "same connection");
  assert.equal((JSON.parse(b.body) as Echo).statPrefix, "v2");
});

test("invalid listeners are rejected before anything changes (ERR_PROXY_LISTENER_INVALID); API listeners are ignored", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("good", [chain({ name: "plain" })])), new Map(), echoHandler);
  const port = portOf(m.bound(), "good");
  const bad: [EnvoyResource, RegExp][] = [
    [
      // Decoded by hand: the control plane's protobuf set has no TcpProxy.
      { name: "tcp", address: { socketAddress: { address: "127.0.0.1", portValue: 0 } }, filterChains: [{ name: "tcp", filters: [{ name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy" } }] }] },
      /filters\[0\]\.name: envoy\.filters\.network\.tcp_proxy is not supported/,
    ],
    [listener("nosecret", [chain({ name: "tls", certs: ["missing"] })]), /secret missing is not known/],
    [listener("match", [{ ...chain({ name: "p" }), filterChainMatch: { destinationPort: { value: 80 } } }]), /filterChainMatch\.destinationPort: not supported/],
    [listener("twoplain", [chain({ name: "a" }), chain({ name: "b" })]), /second plaintext filter chain/],
  ];
  for (const [l, message] of bad) {
    await assert.rejects(m.apply(mapOf(listener("good", [chain({ name: "plain" })]), l), new Map(), echoHandler), (e: unknown) => {
      assert.ok(e instanceof MeshgateError);
      assert.equal(e.code, "ERR_PROXY_LISTENER_INVALID");
      assert.match(e.message, message);
      return true;
    });
  }
  assert.deepEqual(m.bound(), [{ name: "good", address: "127.0.0.1", port }]);
  const api = asReceived("listener", { name: "api", apiListener: { apiListener: hcm("api") } });
  await m.apply(mapOf(listener("good", [chain({ name: "plain" })]), api), new Map(), echoHandler);
  assert.deepEqual(m.bound().map((b) => b.name), ["good"]);
});

test("slowloris: a client trickling headers is cut off after the headers timeout (408), and an idle new connection too", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra: { requestHeadersTimeout: { seconds: 1 } } })])), new Map(), echoHandler);
  const port = portOf(m.bound(), "l");
  const s = net.connect(port, "127.0.0.1");
  await once(s, "connect");
  let got = "";
  s.on("data", (d: Buffer) => (got += d.toString("latin1")));
  const started = Date.now();
  s.write("GET / HTTP/1.1\r\nHost: a\r\n");
  const trickle = setInterval(() => s.writable && s.write("X-Slow: 1\r\n"), 200);
  await once(s, "close");
  clearInterval(trickle);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 4000, `closed after ${elapsed} ms`);
  assert.match(got, /^HTTP\/1\.1 408/);

  // A TCP connection that sends nothing is closed as well (no request ever starts).
  const quiet = await rawExchange(port, "", 6000);
  assert.equal(quiet.closedByServer, true);
});

test("node:cluster workers share a listener's port (listen() through the primary)", async (t) => {
  const { spawn } = await import("node:child_process");
  const probe = net.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  await once(probe, "close");
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./fixtures/cluster-listeners.ts", import.meta.url).pathname, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => {
    child.kill();
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) resolve();
    });
    child.on("exit", () => reject(new Error(`exited early: ${out}`)));
  });
  const results = JSON.parse(out) as { ok: boolean; pid: number; bound: { port: number }[]; error?: string }[];
  assert.deepEqual(results.map((r) => [r.ok, r.error]), [[true, undefined], [true, undefined]]);
  for (const r of results) assert.equal(r.bound[0]?.port, port);
  const pids = new Set<string>();
  for (let i = 0; i < 20 && pids.size < 2; i++) pids.add((await get(port, "/")).body);
  assert.deepEqual([...pids].sort(), results.map((r) => String(r.pid)).sort(), "both workers answer");
});

test("idle timeout from commonHttpProtocolOptions closes an idle keep-alive connection", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra: { commonHttpProtocolOptions: { idleTimeout: { nanos: 300_000_000 } } } })])), new Map(), echoHandler);
  const port = portOf(m.bound(), "l");
  // A raw socket: node:http's agent would itself close on the server's Keep-Alive hint.
  const s = net.connect(port, "127.0.0.1");
  s.setEncoding("latin1");
  let got = "";
  const answered = new Promise<void>((resolve) => s.on("data", (d: string) => ((got += d), got.includes('"rawPath":"/a"') && resolve())));
  s.write("GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
  await answered;
  const started = Date.now();
  await once(s, "close");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 200 && elapsed < 2000, `closed after ${elapsed} ms`);
});
