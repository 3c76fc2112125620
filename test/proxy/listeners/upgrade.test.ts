// HTTP/1.1 Upgrade at the listener: only the protocols the chain's upgradeConfigs enable
// reach the handler as upgrades (switchProtocols gives the raw connection); any other
// Upgrade is an ordinary request on a connection that stays usable; an upgrade request
// that is answered without switching ends its connection.

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { MeshgateError } from "../../../src/errors.js";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef, RequestHandler } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { chain, echoHandler, listener, mapOf, portOf, rawExchange, type Echo } from "./helpers.js";

const WEBSOCKET = { upgradeConfigs: [{ upgradeType: "websocket" }] };

/** /tunnel switches and echoes bytes back upper-cased; /deny answers 403; other upgrades 500; the rest is echoed as JSON. */
const handler: RequestHandler = (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef) => {
  if (req.upgrade !== undefined && req.rawPath === "/tunnel") {
    const sock = res.switchProtocols!({ "x-chain": ref.chainName, "sec-websocket-accept": "abc" }, req.upgrade);
    sock.on("data", (d: Buffer) => sock.write(d.toString("latin1").toUpperCase()));
    return;
  }
  if (req.upgrade !== undefined && req.rawPath !== "/deny") {
    res.writeHead(500, { "content-length": "0" });
    res.end();
    return;
  }
  if (req.rawPath === "/deny") {
    res.writeHead(403, { "content-length": "6" });
    res.end(Buffer.from("denied"));
    return;
  }
  echoHandler(req, res, ref);
};

async function serve(t: { after: (fn: () => Promise<void>) => void }, hcmExtra: Record<string, unknown>) {
  const m = new ListenerManager({ drainTimeoutMs: 500 });
  t.after(() => m.close());
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra })])), new Map(), handler);
  return { m, port: portOf(m.bound(), "l") };
}

function upgradeRequest(path: string, protocol = "websocket", extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

test("an enabled upgrade switches protocols: 101 with the handler's headers, then bytes both ways (including those sent with the request)", async (t) => {
  const { m, port } = await serve(t, WEBSOCKET);
  const s = net.connect(port, "127.0.0.1");
  t.after(() => s.destroy());
  let got = "";
  s.setEncoding("latin1");
  s.on("data", (d: string) => (got += d));
  s.write(upgradeRequest("/tunnel") + "early");
  await waitFor(() => got.includes("EARLY"));
  assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(got, /\r\nx-chain: plain\r\n/);
  assert.match(got, /\r\nsec-websocket-accept: abc\r\n/);
  assert.match(got, /\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n/);
  s.write("more bytes");
  await waitFor(() => got.includes("MORE BYTES"));
  assert.equal(m.stats.downstreamCxUpgradesTotal, 1);
  assert.equal(m.stats.downstreamCxUpgradesActive, 1);
  s.end();
  await once(s, "close");
  await waitFor(() => m.stats.downstreamCxUpgradesActive === 0);
});

test("an upgrade answered without switching (403) ends the connection after the answer", async (t) => {
  const { port } = await serve(t, WEBSOCKET);
  const r = await rawExchange(port, upgradeRequest("/deny"));
  assert.match(r.response, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(r.response, /\r\nConnection: close\r\n/i);
  assert.ok(r.response.endsWith("\r\n\r\ndenied"));
  assert.equal(r.closedByServer, true);
});

test("an upgrade request with a body is refused (400): node:http would not read the body", async (t) => {
  const { port } = await serve(t, WEBSOCKET);
  const r = await rawExchange(port, upgradeRequest("/tunnel", "websocket", "Content-Length: 5\r\n") + "hello");
  assert.match(r.response, /^HTTP\/1\.1 400 /);
  assert.equal(r.closedByServer, true);
});

test("an Upgrade the chain does not enable is an ordinary request (no `upgrade`): body read, the connection kept alive", async (t) => {
  for (const extra of [WEBSOCKET, {}]) {
    const { port } = await serve(t, extra);
    const s = net.connect(port, "127.0.0.1");
    t.after(() => s.destroy());
    let got = "";
    s.setEncoding("latin1");
    s.on("data", (d: string) => (got += d));
    // h2c is not enabled anywhere; without upgradeConfigs, websocket is not either.
    const protocol = extra === WEBSOCKET ? "h2c" : "websocket";
    s.write(`POST /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${protocol}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 5\r\n\r\nhello`);
    await waitFor(() => got.includes("}"));
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    const echo = JSON.parse(got.slice(got.indexOf("\r\n\r\n") + 4)) as Echo;
    assert.equal(echo.body, "hello");
    assert.equal(echo.rawPath, "/plain");
    assert.doesNotMatch(got, /Connection: close/i);
    // The same connection takes the next request.
    got = "";
    s.write("GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => got.includes("}"));
    assert.equal((JSON.parse(got.slice(got.indexOf("\r\n\r\n") + 4)) as Echo).rawPath, "/second");
  }
});

test("upgradeConfigs the proxy cannot honour are refused (ERR_PROXY_LISTENER_INVALID)", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  for (const [upgradeConfigs, message] of [
    [[{ upgradeType: "CONNECT" }], /upgradeConfigs\[0\]\.upgradeType: CONNECT is not supported/],
    [[{ upgradeType: "websocket", filters: [{ name: "envoy.filters.http.router" }] }], /upgradeConfigs\[0\]\.filters: per-upgrade filter chains are not supported/],
  ] as const) {
    await assert.rejects(m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra: { upgradeConfigs } })])), new Map(), handler), (e: unknown) => {
      assert.ok(e instanceof MeshgateError);
      assert.equal(e.code, "ERR_PROXY_LISTENER_INVALID");
      assert.match(e.message, message);
      return true;
    });
  }
  // Disabled: the type is not forwarded.
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra: { upgradeConfigs: [{ upgradeType: "websocket", enabled: { value: false } }] } })])), new Map(), handler);
  const r = await rawExchange(portOf(m.bound(), "l"), upgradeRequest("/tunnel"), 1000);
  assert.match(r.response, /^HTTP\/1\.1 200 OK/);
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
