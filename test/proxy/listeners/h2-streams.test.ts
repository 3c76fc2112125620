// HTTP/2 per-stream limits through real sockets: the HttpConnectionManager's
// stream_idle_timeout and request_timeout per stream (408 before the response, a reset
// after), request_headers_timeout for header blocks left unfinished, and
// SETTINGS_MAX_CONCURRENT_STREAMS (100 by default, http2ProtocolOptions when given).
// Clients: node:http2, and a raw frame writer for what node:http2 would not send.

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef, RequestHandler } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { chain, echoHandler, listener, mapOf, portOf } from "./helpers.js";
import { FRAME, RawH2 } from "../../helpers/raw-h2.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ms = (n: number) => ({ nanos: n * 1_000_000 });

async function serve(t: { after: (fn: () => Promise<void>) => void }, hcmExtra: Record<string, unknown>, handler: RequestHandler = echoHandler): Promise<{ port: number; m: ListenerManager }> {
  const m = new ListenerManager({ drainTimeoutMs: 500 });
  t.after(() => m.close());
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra })])), new Map(), handler);
  return { port: portOf(m.bound(), "l"), m };
}

function connect(t: { after: (fn: () => void) => void }, port: number): http2.ClientHttp2Session {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on("error", () => {});
  t.after(() => client.destroy());
  return client;
}

interface Answer {
  status: number;
  body: string;
  rstCode: number;
  elapsedMs: number;
}

/** Reads a stream's response to its end (or reset). */
function answer(stream: http2.ClientHttp2Stream): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve) => {
    let status = 0;
    let body = "";
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => (body += d));
    stream.on("error", () => {});
    stream.on("close", () => resolve({ status, body, rstCode: stream.rstCode ?? -1, elapsedMs: Date.now() - started }));
  });
}

test("stream idle timeout: a request body that never comes gets 408 'stream timeout' and the stream is freed; the connection goes on", { timeout: 15_000 }, async (t) => {
  const { port, m } = await serve(t, { streamIdleTimeout: ms(300) });
  const client = connect(t, port);
  const hung = client.request({ ":method": "POST", ":path": "/hang" }, { endStream: false });
  const a = await answer(hung);
  assert.equal(a.status, 408);
  assert.equal(a.body, "stream timeout");
  assert.equal(a.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  assert.ok(a.elapsedMs >= 250 && a.elapsedMs < 3000, `answered after ${a.elapsedMs} ms`);
  assert.equal(m.stats.downstreamRqIdleTimeout, 1);
  // Same connection, next stream: served.
  const ok = await answer(client.request({ ":path": "/next" }));
  assert.equal(ok.status, 200);
  assert.equal(client.destroyed, false);
});

test("request timeout: a body trickled within the idle timeout is cut off at the request timeout (408 'request timeout'); a complete request is not timed", { timeout: 15_000 }, async (t) => {
  let slowDone = 0;
  const handler: RequestHandler = (req, res, ref) => {
    if (req.rawPath !== "/slow-answer") return echoHandler(req, res, ref);
    // The request is complete; the answer comes after the request timeout.
    setTimeout(() => {
      slowDone++;
      res.writeHead(200, { "content-length": "2" });
      res.end(Buffer.from("ok"));
    }, 700);
  };
  const { port, m } = await serve(t, { streamIdleTimeout: ms(1000), requestTimeout: ms(400) }, handler);
  const client = connect(t, port);
  const trickled = client.request({ ":method": "POST", ":path": "/trickle" }, { endStream: false });
  const writer = setInterval(() => !trickled.closed && trickled.write("x"), 100);
  t.after(() => clearInterval(writer));
  const a = await answer(trickled);
  clearInterval(writer);
  assert.equal(a.status, 408);
  assert.equal(a.body, "request timeout");
  assert.ok(a.elapsedMs >= 350 && a.elapsedMs < 3000, `answered after ${a.elapsedMs} ms`);
  assert.equal(m.stats.downstreamRqTimeout, 1);
  assert.equal(m.stats.downstreamRqIdleTimeout, 0);

  const complete = await answer(client.request({ ":path": "/slow-answer" }));
  assert.equal(complete.status, 200);
  assert.equal(complete.body, "ok");
  assert.equal(slowDone, 1);
  assert.equal(m.stats.downstreamRqTimeout, 1);
});

test("a response that started and then stalls is reset when the stream goes idle; the handler sees the exchange closed", { timeout: 15_000 }, async (t) => {
  let sawClose = false;
  const handler = (req: DownstreamRequest, res: DownstreamResponse, _ref: FilterChainRef): void => {
    req.body.resume();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write(Buffer.from("partial"));
    res.onClose(() => (sawClose = true));
  };
  const { port, m } = await serve(t, { streamIdleTimeout: ms(300) }, handler);
  const client = connect(t, port);
  const a = await answer(client.request({ ":path": "/stall" }));
  assert.equal(a.status, 200);
  assert.equal(a.body, "partial");
  assert.notEqual(a.rstCode, http2.constants.NGHTTP2_NO_ERROR, "reset, not a complete response");
  assert.equal(m.stats.downstreamRqIdleTimeout, 1);
  await sleep(50);
  assert.equal(sawClose, true);
});

test("SETTINGS_MAX_CONCURRENT_STREAMS: 100 by default, http2ProtocolOptions.maxConcurrentStreams when set", { timeout: 15_000 }, async (t) => {
  const def = await serve(t, {});
  const c1 = connect(t, def.port);
  await once(c1, "remoteSettings");
  assert.equal(c1.remoteSettings.maxConcurrentStreams, 100);

  const set = await serve(t, { http2ProtocolOptions: { maxConcurrentStreams: { value: 3 } } });
  const c2 = connect(t, set.port);
  await once(c2, "remoteSettings");
  assert.equal(c2.remoteSettings.maxConcurrentStreams, 3);
});

const GET = (path: string): [string, string][] => [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", path],
  [":authority", "a"],
];

test("streams beyond maxConcurrentStreams are refused (RST_STREAM REFUSED_STREAM) even from a client ignoring the setting", { timeout: 15_000 }, async (t) => {
  let seen = 0;
  const handler = (req: DownstreamRequest): void => {
    seen++;
    req.body.resume(); // never answered: the streams stay open
  };
  const { port } = await serve(t, { http2ProtocolOptions: { maxConcurrentStreams: { value: 3 } } }, handler);
  const raw = new RawH2(port, true);
  t.after(() => raw.socket.destroy());
  for (const id of [1, 3, 5, 7]) raw.headers(id, GET(`/s${id}`));
  assert.ok(await raw.until(() => raw.rstCode(7) !== undefined, 3000), "stream 7 is reset");
  assert.equal(raw.rstCode(7), http2.constants.NGHTTP2_REFUSED_STREAM);
  await sleep(100);
  assert.equal(seen, 3);
  for (const id of [1, 3, 5]) assert.equal(raw.rstCode(id), undefined);
});

test("request_headers_timeout: a header block left unfinished closes the connection and is counted", { timeout: 15_000 }, async (t) => {
  const { port, m } = await serve(t, { requestHeadersTimeout: ms(300) });
  // A client that stops inside a header block cannot answer PINGs either.
  const raw = new RawH2(port, false);
  t.after(() => raw.socket.destroy());
  raw.headers(1, GET("/complete"), { endStream: true });
  assert.ok(await raw.until(() => raw.answered(1), 2000));
  const started = Date.now();
  raw.headers(3, GET("/never-finished"), { endStream: true, unfinished: true });
  assert.ok(await raw.until(() => raw.closed, 5000), "the connection is closed");
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 300 && elapsed < 4000, `closed after ${elapsed} ms`);
  assert.equal(m.stats.downstreamRqHeaderTimeout, 1);
  assert.ok(raw.frames.some((f) => f.type === FRAME.GOAWAY));
});

test("a stream refused as malformed (no :path) is not taken for an unfinished header block: the connection stays", { timeout: 15_000 }, async (t) => {
  const { port, m } = await serve(t, { requestHeadersTimeout: ms(300) });
  const raw = new RawH2(port, true);
  t.after(() => raw.socket.destroy());
  raw.headers(
    1,
    GET("/x").filter(([n]) => n !== ":path"),
    { endStream: true },
  );
  assert.ok(await raw.until(() => raw.rstCode(1) !== undefined, 2000));
  await sleep(1500); // several headers timeouts
  assert.equal(raw.closed, false);
  raw.headers(3, GET("/after"), { endStream: true });
  assert.ok(await raw.until(() => raw.answered(3), 2000), "a later stream is served");
  assert.equal(m.stats.downstreamRqHeaderTimeout, 0);
});
