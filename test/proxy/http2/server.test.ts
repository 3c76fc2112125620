// meshgate's own HTTP/2 server through real sockets: interop with real clients (h2load,
// curl, node:http2) and, with a raw frame writer, the protocol rules RFC 9113 sets for
// what a client may send: flow control both ways, malformed requests (stream errors),
// connection errors with their GOAWAY codes, and the floods a server must survive
// (rapid reset, CONTINUATION, oversized header lists).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import type { DownstreamRequest, DownstreamResponse, RequestHandler } from "../../../src/proxy/contracts.js";
import { HpackDecoder } from "../../../src/proxy/http2/hpack-decoder.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { createLogger, type Logger } from "../../../src/telemetry/logger.js";
import { FRAME, literalBlock, RawH2 } from "../../helpers/raw-h2.js";
import { chain, curl, echoHandler, listener, mapOf, portOf } from "../listeners/helpers.js";

const run = promisify(execFile);
const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FRAME_SIZE_ERROR, NGHTTP2_FLOW_CONTROL_ERROR, NGHTTP2_COMPRESSION_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

async function serve(t: { after: (fn: () => Promise<void>) => void }, handler: RequestHandler = echoHandler, hcmExtra: Record<string, unknown> = {}, logger?: Logger): Promise<{ port: number; m: ListenerManager }> {
  const m = new ListenerManager({ drainTimeoutMs: 500, ...(logger ? { logger } : {}) });
  t.after(() => m.close());
  await m.apply(mapOf(listener("l", [chain({ name: "plain", hcmExtra: { codecType: "HTTP2", ...hcmExtra } })])), new Map(), handler);
  return { port: portOf(m.bound(), "l"), m };
}

function raw(t: { after: (fn: () => void) => void }, port: number, settings: [number, number][] = []): RawH2 {
  const r = new RawH2(port, true, settings);
  t.after(() => r.socket.destroy());
  return r;
}

const GET = (path: string, extra: [string, string][] = []): [string, string][] => [[":method", "GET"], [":scheme", "http"], [":path", path], [":authority", "a"], ...extra];
const POST = (path: string, extra: [string, string][] = []): [string, string][] => [[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "a"], ...extra];

/** The :status of the response HEADERS on `stream` (one decoder per connection, in frame order). */
function statuses(r: RawH2): Map<number, number> {
  const d = new HpackDecoder(4096, 1 << 20);
  const out = new Map<number, number>();
  for (const f of r.frames) {
    if (f.type !== FRAME.HEADERS) continue;
    const fields = d.decode(f.payload, 0, f.payload.length)!;
    const i = fields.indexOf(":status");
    if (i !== -1 && i % 2 === 0) out.set(f.stream, Number(fields[i + 1]));
  }
  return out;
}

/** Answers `size` bytes of 'x' (or the path's ?n=). */
const bulk =
  (size: number): RequestHandler =>
  (req, res) => {
    req.body.resume();
    const body = Buffer.alloc(size, 120);
    res.writeHead(200, { "content-length": String(size) });
    res.end(body);
  };

test("h2load: thousands of multiplexed requests over several connections, all answered (HPACK tables in use both ways)", { timeout: 60_000 }, async (t) => {
  const { port } = await serve(t);
  const { stdout } = await run("h2load", ["-n", "4000", "-c", "4", "-m", "20", "-H", "x-varying: abc", `http://127.0.0.1:${port}/load`], { timeout: 50_000 });
  assert.match(stdout, /requests: 4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored/);
  assert.match(stdout, /status codes: 4000 2xx/);
});

test("curl over h2c prior knowledge: headers, body and status round-trip", async (t) => {
  const { port } = await serve(t);
  const r = await curl(["-s", "--http2-prior-knowledge", "-H", "x-test: one", "--data-binary", "hello body", "-w", "\n%{http_code} %{http_version}", `http://127.0.0.1:${port}/c?q=1`]);
  assert.equal(r.code, 0, r.stderr);
  const [json, status] = r.stdout.split("\n");
  assert.equal(status, "200 2");
  const echo = JSON.parse(json!) as { protocol: string; method: string; rawPath: string; headers: Record<string, string>; body: string };
  assert.equal(echo.protocol, "h2");
  assert.equal(echo.method, "POST");
  assert.equal(echo.rawPath, "/c?q=1");
  assert.equal(echo.headers["x-test"], "one");
  assert.equal(echo.body, "hello body");
});

test("flow control both ways with node:http2: a 3 MiB upload echoed back through 16 KiB client windows arrives intact", { timeout: 30_000 }, async (t) => {
  const handler: RequestHandler = (req: DownstreamRequest, res: DownstreamResponse) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    req.body.on("data", (c: Buffer) => {
      if (!res.write(c)) {
        req.body.pause();
        res.onDrain(() => req.body.resume());
      }
    });
    req.body.on("end", () => res.end());
  };
  const { port } = await serve(t, handler);
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16_384 } });
  t.after(() => client.destroy());
  const payload = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 10)) & 0xff;
  const s = client.request({ ":method": "POST", ":path": "/echo" });
  s.end(payload);
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  await once(s, "end");
  assert.equal(Buffer.compare(Buffer.concat(chunks), payload), 0);
});

test("send windows: with SETTINGS_INITIAL_WINDOW_SIZE 0 the response waits after its HEADERS; WINDOW_UPDATEs let it out", async (t) => {
  const { port } = await serve(t, bulk(1000));
  const r = raw(t, port, [[4, 0]]);
  r.headers(1, GET("/w"), { endStream: true });
  assert.ok(await r.until(() => r.answered(1), 2000));
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.body(1).data.length, 0, "no DATA without a stream window");
  r.windowUpdate(1, 600);
  assert.ok(await r.until(() => r.body(1).data.length === 600, 2000));
  assert.equal(r.body(1).ended, false);
  r.windowUpdate(1, 400);
  assert.ok(await r.until(() => r.body(1).ended, 2000));
  assert.equal(r.body(1).data.length, 1000);
  assert.equal(statuses(r).get(1), 200);
});

test("PING is answered with the same payload", async (t) => {
  const { port } = await serve(t);
  const r = raw(t, port);
  r.send(FRAME.PING, 0, 0, Buffer.from("12345678"));
  assert.ok(await r.until(() => r.frames.some((f) => f.type === FRAME.PING && f.flags === 1), 2000));
  assert.equal(r.frames.find((f) => f.type === FRAME.PING && f.flags === 1)!.payload.toString(), "12345678");
});

test("malformed requests are stream errors (RST_STREAM PROTOCOL_ERROR); the connection serves the next stream", async (t) => {
  let seen = 0;
  const { port } = await serve(t, (req, res, ref) => {
    seen++;
    echoHandler(req, res, ref);
  });
  const r = raw(t, port);
  const cases: [string, [string, string][]][] = [
    ["uppercase name", GET("/", [["X-Up", "1"]])],
    ["connection-specific field", GET("/", [["connection", "keep-alive"]])],
    ["te other than trailers", GET("/", [["te", "gzip"]])],
    ["missing :scheme", GET("/").filter(([n]) => n !== ":scheme")],
    ["pseudo-header after a regular field", [[":method", "GET"], ["x", "1"], [":scheme", "http"], [":path", "/"]]],
    ["unknown pseudo-header", GET("/", [[":foo", "1"]]).sort((a, b) => (a[0] < b[0] ? -1 : 1))],
    ["value with a line feed", GET("/", [["x", "a\nb"]])],
    ["value with leading space", GET("/", [["x", " a"]])],
    ["invalid content-length", GET("/", [["content-length", "12a"]])],
  ];
  let id = 1;
  for (const [, fields] of cases) {
    r.headers(id, fields, { endStream: true });
    id += 2;
  }
  assert.ok(await r.until(() => r.rstCode(id - 2) !== undefined, 3000));
  for (let i = 0, s = 1; i < cases.length; i++, s += 2) assert.equal(r.rstCode(s), NGHTTP2_PROTOCOL_ERROR, cases[i]![0]);
  assert.equal(seen, 0);
  r.headers(id, GET("/fine"), { endStream: true });
  assert.ok(await r.until(() => r.body(id).ended, 2000));
  assert.equal(statuses(r).get(id), 200);
  assert.equal(r.closed, false);
});

test("a body that does not match its Content-Length is reset (PROTOCOL_ERROR) and the handler sees the request fail", async (t) => {
  let bodyError: Error | undefined;
  const { port } = await serve(t, (req) => {
    req.body.on("error", (e: Error) => (bodyError = e));
    req.body.resume();
  });
  const r = raw(t, port);
  r.headers(1, POST("/cl", [["content-length", "3"]]));
  r.data(1, "toolong", true);
  assert.ok(await r.until(() => r.rstCode(1) !== undefined, 2000));
  assert.equal(r.rstCode(1), NGHTTP2_PROTOCOL_ERROR);
  await new Promise((res) => setTimeout(res, 50));
  assert.match(String(bodyError?.message), /reset/);
  r.headers(3, POST("/short", [["content-length", "10"]]));
  r.data(3, "abc", true);
  assert.ok(await r.until(() => r.rstCode(3) !== undefined, 2000));
  assert.equal(r.rstCode(3), NGHTTP2_PROTOCOL_ERROR);
});

test("connection errors end with GOAWAY and the right error code, and are logged at debug with the reason", async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", level: "debug", destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const { port } = await serve(t, echoHandler, {}, logger);
  const cases: [string, (r: RawH2) => void, number][] = [
    ["DATA on stream 0", (r) => r.data(0, "x"), NGHTTP2_PROTOCOL_ERROR],
    ["a frame over 16 KiB", (r) => r.send(FRAME.DATA, 0, 1, Buffer.alloc(20_000)), NGHTTP2_FRAME_SIZE_ERROR],
    ["PUSH_PROMISE from a client", (r) => r.send(FRAME.PUSH_PROMISE, 4, 1, Buffer.alloc(4)), NGHTTP2_PROTOCOL_ERROR],
    ["CONTINUATION without HEADERS", (r) => r.send(FRAME.CONTINUATION, 4, 1, literalBlock([["a", "b"]])), NGHTTP2_PROTOCOL_ERROR],
    ["a frame inside a header block", (r) => (r.headers(1, GET("/"), { unfinished: true }), r.send(FRAME.PING, 0, 0, Buffer.alloc(8))), NGHTTP2_PROTOCOL_ERROR],
    ["HEADERS on an even stream", (r) => r.headers(2, GET("/"), { endStream: true }), NGHTTP2_PROTOCOL_ERROR],
    ["connection window overflow", (r) => r.windowUpdate(0, 0x7fffffff), NGHTTP2_FLOW_CONTROL_ERROR],
    ["an HPACK index that does not exist", (r) => r.send(FRAME.HEADERS, 5, 1, Buffer.from([0xff, 0x7f])), NGHTTP2_COMPRESSION_ERROR],
    ["SETTINGS of the wrong size", (r) => r.send(FRAME.SETTINGS, 0, 0, Buffer.alloc(5)), NGHTTP2_FRAME_SIZE_ERROR],
    ["PING of the wrong size", (r) => r.send(FRAME.PING, 0, 0, Buffer.alloc(7)), NGHTTP2_FRAME_SIZE_ERROR],
  ];
  for (const [what, act, code] of cases) {
    const r = raw(t, port);
    await r.until(() => r.frames.some((f) => f.type === FRAME.SETTINGS), 2000);
    act(r);
    assert.ok(await r.until(() => r.goaway() !== undefined && r.closed, 3000), `${what}: GOAWAY and close`);
    assert.equal(r.goaway()![1], code, what);
  }
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; errorCode?: number; reason?: string }).filter((l) => l.msg === "HTTP/2 connection closed for a protocol error");
  assert.equal(logged.length, cases.length);
  assert.deepEqual(logged[1], { ...logged[1], errorCode: NGHTTP2_FRAME_SIZE_ERROR, reason: "frame of 20000 bytes" });
});

test("rapid reset: a client that opens and resets streams without end gets GOAWAY ENHANCE_YOUR_CALM", { timeout: 15_000 }, async (t) => {
  let started = 0;
  const { port } = await serve(t, (req) => {
    started++;
    req.body.resume(); // never answers
  });
  const r = raw(t, port);
  for (let id = 1; id < 2 * 2000; id += 2) {
    r.headers(id, GET("/r"), { endStream: true });
    r.rst(id, 8);
  }
  assert.ok(await r.until(() => r.goaway() !== undefined, 5000), "GOAWAY");
  assert.equal(r.goaway()![1], NGHTTP2_ENHANCE_YOUR_CALM);
  assert.ok(started < 2000, `the handler saw ${started} of 2000 streams`);
});

test("CONTINUATION flood: a header block that never ends is cut off at its size cap (GOAWAY ENHANCE_YOUR_CALM)", { timeout: 15_000 }, async (t) => {
  const { port } = await serve(t);
  const r = raw(t, port);
  r.headers(1, GET("/"), { unfinished: true });
  const piece = Buffer.alloc(16_000, 0x61);
  for (let i = 0; i < 200 && !r.closed; i++) r.send(FRAME.CONTINUATION, 0, 1, piece);
  assert.ok(await r.until(() => r.goaway() !== undefined, 5000));
  assert.equal(r.goaway()![1], NGHTTP2_ENHANCE_YOUR_CALM);
});

test("a header list over maxRequestHeadersKb gets 431; the connection goes on", async (t) => {
  const { port } = await serve(t, echoHandler, { maxRequestHeadersKb: { value: 4 } });
  const r = raw(t, port);
  r.headers(1, GET("/big", [["x-big", "v".repeat(6000)]]), { endStream: true });
  assert.ok(await r.until(() => r.body(1).ended, 2000));
  assert.equal(statuses(r).get(1), 431);
  r.headers(3, GET("/ok"), { endStream: true });
  assert.ok(await r.until(() => r.body(3).ended, 2000));
  assert.equal(statuses(r).get(3), 200);
});

test("a response complete before its request body ends the stream with RST_STREAM(NO_ERROR) after END_STREAM", async (t) => {
  const { port } = await serve(t, (_req, res) => {
    res.writeHead(403, { "content-length": "6" });
    res.end(Buffer.from("denied"));
  });
  const r = raw(t, port);
  r.headers(1, POST("/upload"));
  r.data(1, "part one");
  assert.ok(await r.until(() => r.rstCode(1) !== undefined, 2000));
  assert.equal(r.rstCode(1), NGHTTP2_NO_ERROR);
  const i = r.frames.findIndex((f) => f.type === FRAME.RST_STREAM);
  assert.ok(r.frames.slice(0, i).some((f) => f.stream === 1 && (f.flags & 1) === 1), "END_STREAM before the RST_STREAM");
  assert.equal(r.body(1).data.toString(), "denied");
  // Data still in flight for the stream is dropped; the connection is fine.
  r.data(1, "late", true);
  r.headers(3, GET("/after"), { endStream: true });
  assert.ok(await r.until(() => r.body(3).ended, 2000));
  assert.equal(r.closed, false);
});

test("draining: GOAWAY(NO_ERROR) names the last stream; the open stream completes, then the connection closes", async (t) => {
  let release: () => void = () => {};
  const { port, m } = await serve(t, (_req, res) => {
    release = () => {
      res.writeHead(200, { "content-length": "4" });
      res.end(Buffer.from("done"));
    };
  });
  const r = raw(t, port);
  r.headers(1, GET("/slow"), { endStream: true });
  await new Promise((res) => setTimeout(res, 100));
  void m.apply(new Map(), new Map(), echoHandler); // removing the listener drains its connections
  assert.ok(await r.until(() => r.goaway() !== undefined, 2000));
  assert.deepEqual(r.goaway(), [1, NGHTTP2_NO_ERROR]);
  assert.equal(r.closed, false);
  release();
  assert.ok(await r.until(() => r.closed, 3000), "closed once the stream is done");
  assert.equal(r.body(1).data.toString(), "done");
});

test("idle_timeout: a connection without streams is sent GOAWAY and closed", async (t) => {
  const { port } = await serve(t, echoHandler, { commonHttpProtocolOptions: { idleTimeout: { nanos: 300_000_000 } } });
  const r = raw(t, port);
  r.headers(1, GET("/once"), { endStream: true });
  assert.ok(await r.until(() => r.body(1).ended, 2000));
  const started = Date.now();
  assert.ok(await r.until(() => r.closed, 3000));
  assert.ok(Date.now() - started >= 200);
  assert.deepEqual(r.goaway(), [1, NGHTTP2_NO_ERROR]);
});

test("padding, the PRIORITY flag and request trailers are read as RFC 9113 says; padding counts against the windows", async (t) => {
  const { port } = await serve(t);
  const r = raw(t, port);
  // HEADERS: PADDED (8 bytes of padding) + PRIORITY (5 bytes) + END_HEADERS.
  const block = literalBlock(POST("/padded"));
  const payload = Buffer.concat([Buffer.from([8]), Buffer.from([0, 0, 0, 0, 15]), block, Buffer.alloc(8)]);
  r.send(FRAME.HEADERS, 0x8 | 0x20 | 0x4, 1, payload);
  // DATA with 100 bytes of padding around "abc", then more body, then trailers ending the stream.
  r.send(FRAME.DATA, 0x8, 1, Buffer.concat([Buffer.from([100]), Buffer.from("abc"), Buffer.alloc(100)]));
  r.data(1, "def");
  r.send(FRAME.HEADERS, 0x1 | 0x4, 1, literalBlock([["x-checksum", "abcdef"]]));
  assert.ok(await r.until(() => r.body(1).ended, 2000));
  assert.equal(statuses(r).get(1), 200);
  assert.equal((JSON.parse(r.body(1).data.toString()) as { body: string }).body, "abcdef");
  // The 101 bytes of padding (and the pad length byte) came back as stream window at once.
  const streamUpdates = r.frames.filter((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 1).reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
  assert.equal(streamUpdates, 101);
});

test("stream errors: PRIORITY of the wrong size, WINDOW_UPDATE of 0, a stream sending past its window; the connection survives each", async (t) => {
  const { port } = await serve(t, (req) => req.body.pause()); // never reads, never answers
  const r = raw(t, port);
  r.headers(1, POST("/a"));
  r.send(FRAME.PRIORITY, 0, 1, Buffer.alloc(4));
  r.headers(3, POST("/b"));
  r.windowUpdate(3, 0);
  r.headers(5, POST("/c"));
  // The connection window is 1 MiB; the stream's is 256 KiB: 300 KiB in 16 KiB frames oversteps it.
  for (let i = 0; i < 19; i++) r.data(5, Buffer.alloc(16_000));
  assert.ok(await r.until(() => [1, 3, 5].every((id) => r.rstCode(id) !== undefined), 3000), JSON.stringify([1, 3, 5].map((id) => r.rstCode(id))));
  assert.equal(r.rstCode(1), NGHTTP2_FRAME_SIZE_ERROR);
  assert.equal(r.rstCode(3), NGHTTP2_PROTOCOL_ERROR);
  assert.equal(r.rstCode(5), NGHTTP2_FLOW_CONTROL_ERROR);
  assert.equal(r.goaway(), undefined);
  assert.equal(r.closed, false);
});

test("connection errors on idle streams: DATA, RST_STREAM and WINDOW_UPDATE for a stream never opened", async (t) => {
  const { port } = await serve(t);
  for (const act of [(r: RawH2) => r.data(9, "x"), (r: RawH2) => r.rst(9, 8), (r: RawH2) => r.windowUpdate(9, 10), (r: RawH2) => r.windowUpdate(0, 0)]) {
    const r = raw(t, port);
    act(r);
    assert.ok(await r.until(() => r.goaway() !== undefined, 2000));
    assert.equal(r.goaway()![1], NGHTTP2_PROTOCOL_ERROR);
  }
});

test("SETTINGS mid-response: a smaller initial window stalls the stream, a larger one and a bigger MAX_FRAME_SIZE let it out in larger frames", async (t) => {
  const { port } = await serve(t, bulk(200_000));
  const r = raw(t, port);
  const settings = (pairs: [number, number][]): void => {
    const p = Buffer.alloc(pairs.length * 6);
    pairs.forEach(([k, v], i) => (p.writeUInt16BE(k, i * 6), p.writeUInt32BE(v, i * 6 + 2)));
    r.send(FRAME.SETTINGS, 0, 0, p);
  };
  r.windowUpdate(0, 10_000_000);
  settings([[4, 0]]); // INITIAL_WINDOW_SIZE 0 before the request: the response stalls after its headers
  r.headers(1, GET("/bulk"), { endStream: true });
  assert.ok(await r.until(() => r.answered(1), 2000));
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.body(1).data.length, 0);
  settings([[4, 1_000_000], [5, 65_536]]); // the stream's window grows by the difference; frames up to 64 KiB
  assert.ok(await r.until(() => r.body(1).ended, 3000));
  assert.equal(r.body(1).data.length, 200_000);
  const sizes = r.frames.filter((f) => f.type === FRAME.DATA && f.stream === 1).map((f) => f.payload.length);
  assert.ok(Math.max(...sizes) > 16_384 && Math.max(...sizes) <= 65_536, `DATA frame sizes ${sizes.join(",")}`);
});

test("a client flooding PINGs without reading the answers stops being read (its own writes back up); reading again resumes it", { timeout: 30_000 }, async (t) => {
  const { port } = await serve(t);
  const r = raw(t, port);
  await r.until(() => r.frames.some((f) => f.type === FRAME.SETTINGS), 2000);
  r.socket.pause(); // the client does not read anything from now on
  const ping = Buffer.concat([Buffer.from([0, 0, 8, FRAME.PING, 0, 0, 0, 0, 0]), Buffer.alloc(8)]);
  const burst = Buffer.concat(Array.from({ length: 4096 }, () => ping));
  let sent = 0;
  while (sent < 64 * 1024 * 1024 && r.socket.writableLength < 8 * 1024 * 1024) {
    r.socket.write(burst);
    sent += burst.length;
    if (sent % (4 * 1024 * 1024) < burst.length) await new Promise((res) => setImmediate(res));
  }
  await new Promise((res) => setTimeout(res, 500));
  assert.ok(r.socket.writableLength > 1024 * 1024, `the server stopped reading: ${r.socket.writableLength} bytes wait on the client side after ${sent} sent`);
  assert.equal(r.closed, false);
  // Reading the answers lets the server drain and read on: the client's backlog clears.
  r.socket.resume();
  assert.ok(await r.until(() => r.socket.writableLength === 0, 20_000), `backlog left: ${r.socket.writableLength}`);
});
