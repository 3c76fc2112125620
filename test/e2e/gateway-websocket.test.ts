// WebSocket through the embedded gateway: HTTPRoutes carry WebSocket upgrades with no
// extra configuration (the translator enables them, as Envoy Gateway does), to a plain
// backend and to one behind TLS (BackendTLSPolicy). The upgrade request is routed and
// authorized like any other — no route: 404, an AuthorizationPolicy DENY: 403, both
// before anything reaches a backend — and once switched, messages flow both ways, past
// the route timeout, until either side closes. Real clients and servers (`ws`).

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpsServer } from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { serviceYaml } from "../helpers/echo-backend.js";
import { edgeGatewayYaml, freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";
import { caConfigMapYaml, createTestPki } from "../helpers/test-pki.js";

interface WsBackend {
  readonly name: string;
  readonly port: number;
  /** Upgrade requests that reached the backend. */
  readonly upgrades: { path: string; headers: IncomingMessage["headers"]; servername?: string }[];
  /** Close codes the backend saw from clients. */
  readonly closes: number[];
}

/** Greets each client, then answers every message with `<name>: <message>`; "bye" makes it close with 4001. */
async function startWsBackend(t: TestContext, name: string, tls?: { chain: string; key: string }): Promise<WsBackend> {
  const https = tls ? createHttpsServer({ cert: tls.chain, key: tls.key }) : undefined;
  const wss = https ? new WebSocketServer({ server: https }) : new WebSocketServer({ host: "127.0.0.1", port: 0 });
  const backend: WsBackend = { name, port: 0, upgrades: [], closes: [] };
  wss.on("connection", (ws, req) => {
    const servername = (req.socket as TLSSocket).servername;
    backend.upgrades.push({ path: req.url ?? "", headers: req.headers, ...(typeof servername === "string" ? { servername } : {}) });
    ws.send(`hello from ${name}`);
    ws.on("message", (data: RawData, isBinary) => {
      if (!isBinary && data.toString() === "bye") return ws.close(4001, "bye");
      ws.send(isBinary ? data : `${name}: ${data.toString()}`, { binary: isBinary });
    });
    ws.on("close", (code) => backend.closes.push(code));
  });
  if (https) await new Promise<void>((r) => https.listen(0, "127.0.0.1", () => r()));
  else await once(wss, "listening");
  (backend as { port: number }).port = ((https ?? wss).address() as AddressInfo).port;
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    if (https) await new Promise<void>((r) => https.close(() => r()));
  });
  return backend;
}

function config(port: number, chat: WsBackend, secure: WsBackend, ca: string): string {
  return `${GATEWAY_CLASS}---
${edgeGatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: chat, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /chat } }]
      timeouts: { request: 1s }
      backendRefs: [{ name: chat, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /secure } }]
      backendRefs: [{ name: secure, port: 443 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: secure-tls, namespace: infra }
spec:
  targetRefs: [{ group: "", kind: Service, name: secure }]
  validation:
    caCertificateRefs: [{ group: "", kind: ConfigMap, name: backend-ca }]
    hostname: backend.test.local
${caConfigMapYaml("infra", "backend-ca", ca)}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/chat/admin", "/chat/admin/*"] } }] }]
${serviceYaml("infra", "chat", 80, [chat])}${serviceYaml("infra", "secure", 443, [secure])}`;
}

async function setup(t: TestContext) {
  const pki = createTestPki("ws");
  t.after(() => pki.close());
  const chat = await startWsBackend(t, "chat");
  const secure = await startWsBackend(t, "secure", pki.leaf("backend.test.local", "DNS:backend.test.local", "serverAuth"));
  const port = await freePort();
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, chat, secure, pki.root) });
  return { port, chat, secure, h };
}

/** A connected client with a queue of the messages it received. */
async function connect(url: string): Promise<{ ws: WebSocket; next: () => Promise<string | Buffer>; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  const queue: (string | Buffer)[] = [];
  const waiting: ((m: string | Buffer) => void)[] = [];
  ws.on("message", (data: RawData, isBinary) => {
    const m = isBinary ? (data as Buffer) : data.toString();
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await once(ws, "open");
  return { ws, next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))), closed };
}

/** The status of an upgrade the gateway refused, and its body. */
function refused(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on("open", () => reject(new Error(`${url} was upgraded`)));
    ws.on("error", () => {});
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

test("WebSocket through the gateway: messages both ways to a plain backend and one behind BackendTLSPolicy; the route timeout ends at the upgrade; closes pass both ways", async (t) => {
  const { port, chat, secure } = await setup(t);

  const c = await connect(`ws://127.0.0.1:${port}/chat/room?x=1`);
  assert.equal(await c.next(), "hello from chat", "the backend speaks first");
  c.ws.send("ping 1");
  assert.equal(await c.next(), "chat: ping 1");
  const bytes = Buffer.from([0, 1, 2, 250, 255]);
  c.ws.send(bytes);
  assert.deepEqual(await c.next(), bytes);
  // Longer than the route's 1 s request timeout: the timeout covered the upgrade only.
  await new Promise((r) => setTimeout(r, 1300));
  c.ws.send("ping 2");
  assert.equal(await c.next(), "chat: ping 2");
  c.ws.close(1000, "done");
  assert.equal((await c.closed).code, 1000);

  assert.equal(chat.upgrades.length, 1);
  const seen = chat.upgrades[0]!;
  assert.equal(seen.path, "/chat/room?x=1");
  assert.equal(seen.headers.host, `127.0.0.1:${port}`);
  assert.equal(seen.headers.upgrade, "websocket");
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
  assert.ok(seen.headers["x-request-id"]);
  await waitFor(() => chat.closes.length === 1);
  assert.deepEqual(chat.closes, [1000], "the client's close reached the backend");

  // Upstream TLS: the gateway verified the backend as backend.test.local (the SNI it sent).
  const s = await connect(`ws://127.0.0.1:${port}/secure/room`);
  assert.equal(await s.next(), "hello from secure");
  s.ws.send("over tls");
  assert.equal(await s.next(), "secure: over tls");
  assert.equal(secure.upgrades[0]?.servername, "backend.test.local");
  // The backend closes: the client sees its code and reason.
  s.ws.send("bye");
  assert.deepEqual(await s.closed, { code: 4001, reason: "bye" });
});

test("WebSocket upgrades are routed and authorized first: no route -> 404, an AuthorizationPolicy DENY -> 403, nothing reaches the backend", async (t) => {
  const { port, chat, secure } = await setup(t);
  const none = await refused(`ws://127.0.0.1:${port}/nope`);
  assert.equal(none.status, 404);
  const denied = await refused(`ws://127.0.0.1:${port}/chat/admin/console`);
  assert.equal(denied.status, 403);
  assert.equal(denied.body, "RBAC: access denied");
  assert.equal(chat.upgrades.length + secure.upgrades.length, 0, "no backend saw an upgrade request");
  // The same path prefix outside the denied paths is upgraded.
  const ok = await connect(`ws://127.0.0.1:${port}/chat/lobby`);
  assert.equal(await ok.next(), "hello from chat");
  ok.ws.close();
  await ok.closed;
  assert.deepEqual(
    chat.upgrades.map((u) => u.path),
    ["/chat/lobby"],
  );
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
