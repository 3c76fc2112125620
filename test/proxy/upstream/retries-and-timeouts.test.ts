import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, constants } from "node:http2";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import { backoffMs, compileRetry } from "../../../src/proxy/upstream/retry-policy.js";
import type { RetryPolicy } from "../../../src/proxy/contracts.js";
import { closedPort, config, endpoint, irCluster, request, send, sleep, startBackend } from "./helpers.js";

function retry(retryOn: string[], over: Partial<RetryPolicy> = {}): RetryPolicy {
  return { retryOn, numRetries: 2, retriableStatusCodes: [], backoffBaseMs: 5, backoffMaxMs: 20, ...over };
}

async function manager(t: { after: (fn: () => unknown) => void }) {
  const m = new ClusterManager();
  t.after(() => m.close());
  return m;
}

test("connect-failure: a refused connection is retried on the other endpoint", async (t) => {
  const dead = await closedPort();
  const live = await startBackend(t);
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(dead), endpoint(live.port)] })]));
  for (let i = 0; i < 6; i++) {
    const out = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["connect-failure"]) });
    assert.equal(out.status, 200);
  }
  assert.equal(live.hits, 6);
  // Without a retry policy the failure reaches the sink as a connect-failure.
  const kinds = new Set<string>();
  for (let i = 0; i < 4; i++) kinds.add((await send(m.get("c")!)).error?.kind ?? "ok");
  assert.deepEqual([...kinds].sort(), ["connect-failure", "ok"]);
});

test("reset: a connection closed before the response is retried", async (t) => {
  let n = 0;
  const b = await startBackend(t, (req, res) => {
    if (n++ === 0) return req.socket.destroy();
    res.end("second time lucky");
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const out = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["reset"]) });
  assert.equal(out.status, 200);
  assert.equal(out.body, "second time lucky");
  assert.equal(out.headerCalls, 1);
  n = 0;
  const noRetry = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["connect-failure"]) });
  assert.equal(noRetry.error?.kind, "reset");
});

test("5xx and retriable status codes are retried; the discarded response never reaches the sink", async (t) => {
  let n = 0;
  const b = await startBackend(t, (_req, res) => {
    n++;
    if (n <= 2) {
      res.statusCode = n === 1 ? 500 : 503;
      return res.end(`fail ${n}`);
    }
    res.end(`ok after ${n}`);
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const out = await send(m.get("c")!, request("/", { method: "POST", body: Buffer.from("payload"), headers: { host: "x", "content-length": "7" } }), { timeoutMs: 5000, retry: retry(["5xx"]) });
  assert.equal(out.status, 200);
  assert.equal(out.body, "ok after 3");
  assert.equal(out.headerCalls, 1);

  // retriable-status-codes retries only the listed codes.
  n = 0;
  const listed = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["retriable-status-codes"], { retriableStatusCodes: [500, 503] }) });
  assert.equal(listed.body, "ok after 3");
  n = 0;
  const unlisted = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["retriable-status-codes"], { retriableStatusCodes: [503] }) });
  assert.equal(unlisted.status, 500);
  assert.equal(unlisted.body, "fail 1");
  // gateway-error: 500 is not a gateway error.
  n = 0;
  assert.equal((await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["gateway-error"]) })).status, 500);
});

test("when retries run out the last attempt's response is what the sink gets", async (t) => {
  let n = 0;
  const b = await startBackend(t, (_req, res) => {
    res.statusCode = 503;
    res.end(`attempt ${++n}`);
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const out = await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["5xx"], { numRetries: 2 }) });
  assert.equal(out.status, 503);
  assert.equal(out.body, "attempt 3");
  assert.equal(out.headerCalls, 1);
  assert.equal(b.hits, 3);
});

test("a streamed body is sent once: no retry", async (t) => {
  const b = await startBackend(t, (req, res) => {
    req.resume();
    req.on("end", () => {
      res.statusCode = 503;
      res.end("no");
    });
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const out = await send(m.get("c")!, request("/", { method: "POST", body: Readable.from([Buffer.from("abc")]) }), { timeoutMs: 5000, retry: retry(["5xx"]) });
  assert.equal(out.status, 503);
  assert.equal(b.hits, 1);
});

test("backoff is exponential with full jitter between base and max", async (t) => {
  const c = compileRetry(retry(["5xx"], { backoffBaseMs: 100, backoffMaxMs: 500 }));
  assert.equal(backoffMs(c, 1, () => 1), 100);
  assert.equal(backoffMs(c, 2, () => 1), 300);
  assert.equal(backoffMs(c, 3, () => 1), 500);
  assert.equal(backoffMs(c, 3, () => 0.5), 250);
  assert.equal(backoffMs(c, 1, () => 0), 0);
  // End to end: three attempts with a 60 ms base take measurably longer than without backoff.
  const b = await startBackend(t, (_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const random = Math.random;
  Math.random = () => 1;
  t.after(() => (Math.random = random));
  const started = Date.now();
  await send(m.get("c")!, request(), { timeoutMs: 5000, retry: retry(["5xx"], { backoffBaseMs: 60, backoffMaxMs: 1000 }) });
  Math.random = random;
  assert.ok(Date.now() - started >= 60 + 180 - 5, `took ${Date.now() - started} ms`);
});

test("per-try timeout gives up on a slow attempt and retries; the route timeout ends the exchange", async (t) => {
  let n = 0;
  const b = await startBackend(t, (_req, res) => {
    if (n++ === 0) return void setTimeout(() => res.end("too late"), 1000);
    res.end("fast");
  });
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const out = await send(m.get("c")!, request(), { timeoutMs: 3000, retry: retry(["5xx"], { perTryTimeoutMs: 100 }) });
  assert.equal(out.status, 200);
  assert.equal(out.body, "fast");

  n = 0;
  const noRetry = await send(m.get("c")!, request(), { timeoutMs: 3000, retry: retry(["connect-failure"], { perTryTimeoutMs: 100 }) });
  assert.equal(noRetry.error?.kind, "timeout");
  assert.match(noRetry.error!.message, /per-try timeout/);

  n = 0;
  const started = Date.now();
  const route = await send(m.get("c")!, request(), { timeoutMs: 150 });
  assert.equal(route.error?.kind, "timeout");
  assert.match(route.error!.message, /upstream request timeout/);
  assert.ok(Date.now() - started < 900);
});

test("an aborted signal cancels the upstream request", async (t) => {
  let closed = false;
  const b = await startBackend(t, (req) => req.socket.on("close", () => (closed = true)));
  const m = await manager(t);
  m.apply(...config([irCluster("c", { endpoints: [endpoint(b.port)] })]));
  const ac = new AbortController();
  const p = send(m.get("c")!, request(), { timeoutMs: 5000, signal: ac.signal });
  while (b.hits === 0) await sleep(5);
  ac.abort();
  const out = await p;
  assert.equal(out.error?.kind, "cancelled");
  for (let i = 0; i < 50 && !closed; i++) await sleep(10);
  assert.ok(closed, "the upstream connection of the cancelled request was closed");
});

test("mirror sends a copy and never affects the main request", async (t) => {
  const main = await startBackend(t);
  const seen: string[] = [];
  const shadow = await startBackend(t, (req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d));
    req.on("end", () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      res.statusCode = 500;
      res.end();
    });
  });
  const dead = await closedPort();
  const m = await manager(t);
  m.apply(...config([irCluster("main", { endpoints: [endpoint(main.port)] }), irCluster("shadow", { endpoints: [endpoint(shadow.port)] }), irCluster("gone", { endpoints: [endpoint(dead)] }), irCluster("empty")]));
  const req = request("/m", { method: "POST", body: Buffer.from("copy"), headers: { host: "x", "content-length": "4" } });
  m.get("shadow")!.mirror(req);
  m.get("gone")!.mirror(req);
  m.get("empty")!.mirror(req);
  const out = await send(m.get("main")!, req);
  assert.equal(out.status, 200);
  for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(10);
  assert.deepEqual(seen, ["POST /m copy"]);
});

test("refused-stream: an HTTP/2 stream the server refuses is retried", async (t) => {
  let n = 0;
  const server = createServer();
  server.on("stream", (stream) => {
    // Node reports a stream it closed with an error code as an error on its own side too.
    stream.on("error", () => {});
    if (n++ === 0) return stream.close(constants.NGHTTP2_REFUSED_STREAM);
    stream.respond({ ":status": 200 });
    stream.end("accepted");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const m = await manager(t);
  m.apply(...config([irCluster("h2", { protocol: "http2", endpoints: [endpoint(port)] })]));
  const out = await send(m.get("h2")!, request(), { timeoutMs: 5000, retry: retry(["refused-stream"]) });
  assert.equal(out.body, "accepted");
  n = 0;
  const noRetry = await send(m.get("h2")!, request(), { timeoutMs: 5000, retry: retry(["connect-failure"]) });
  assert.equal(noRetry.error?.kind, "reset");
});
