// The HTTP/1.1 upstream pool against real servers: node:http backends (helpers.ts) and
// raw TCP servers that answer with exactly the bytes a test needs.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { PassThrough, type Duplex } from "node:stream";
import { test } from "node:test";
import { createConnector, type ConnectTarget } from "../../../src/proxy/upstream/connector.js";
import type { DispatchHandler, DispatchOptions, RawHeaders } from "../../../src/proxy/upstream/dispatcher.js";
import { Http1Pool, type Http1PoolOptions } from "../../../src/proxy/upstream/http1-pool.js";
import { headersFromRaw, trailersFromRaw } from "../../../src/proxy/upstream/raw-headers.js";
import { failureFromDispatchError, UpstreamFailure } from "../../../src/proxy/upstream/upstream-error.js";
import { closedPort, sleep, startBackend } from "./helpers.js";

type T = { after: (fn: () => unknown) => void };

function target(port: number): ConnectTarget {
  return { dialAddress: () => "127.0.0.1", port, label: `127.0.0.1:${port}`, clusterName: "c1", onConnectFailure: () => {}, onConnected: () => {} };
}

function pool(t: T, port: number, over: Partial<Http1PoolOptions> = {}): Http1Pool {
  const p = new Http1Pool({
    connect: createConnector(target(port), { connectTimeoutMs: 1000, http2: false }),
    maxConnections: 10,
    idleTimeoutMs: 60_000,
    label: `127.0.0.1:${port}`,
    clusterName: "c1",
    ...over,
  });
  t.after(() => p.destroy());
  return p;
}

class Collector implements DispatchHandler {
  status = 0;
  headerCalls = 0;
  raw: RawHeaders = [];
  chunks: Buffer[] = [];
  trailers: unknown = null;
  error: Error | undefined;
  connects = 0;
  abort: ((err?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  onDataHook: ((chunk: Buffer) => boolean) | undefined;
  readonly done: Promise<void>;
  private settle!: () => void;

  constructor() {
    this.done = new Promise((r) => (this.settle = r));
  }
  onConnect(abort: (err?: Error) => void): void {
    this.connects++;
    this.abort = abort;
  }
  onHeaders(status: number, raw: RawHeaders, resume: () => void): boolean {
    this.headerCalls++;
    this.status = status;
    this.raw = raw;
    this.resume = resume;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return this.onDataHook ? this.onDataHook(chunk) : true;
  }
  onComplete(trailers: unknown): void {
    this.trailers = trailers;
    this.settle();
  }
  onError(err: Error): void {
    this.error = err;
    this.settle();
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

function req(path = "/", over: Partial<DispatchOptions> = {}): DispatchOptions {
  return { method: "GET", path, headers: { host: "backend.test" }, body: null, ...over };
}

/** Dispatches and waits for the outcome. */
async function send(p: Http1Pool, options: DispatchOptions = req()): Promise<Collector> {
  const c = new Collector();
  p.dispatch(options, c);
  await c.done;
  return c;
}

interface RawServer {
  port: number;
  connections: number;
  sockets: net.Socket[];
  /** Request lines seen, in order. */
  requests: string[];
}

/**
 * A TCP server reading request heads (no bodies) and answering each with `answer`'s bytes;
 * `answer` may also act on the socket itself and return null.
 */
async function rawServer(t: T, answer: (line: string, socket: net.Socket, connIndex: number) => string | null): Promise<RawServer> {
  const s: RawServer = { port: 0, connections: 0, sockets: [], requests: [] };
  const server = net.createServer((socket) => {
    const index = s.connections++;
    s.sockets.push(socket);
    let buf = "";
    socket.on("error", () => {});
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      let end: number;
      while ((end = buf.indexOf("\r\n\r\n")) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const line = head.split("\r\n")[0]!;
        s.requests.push(line);
        const out = answer(line, socket, index);
        if (out !== null && !socket.destroyed) socket.write(out, "latin1");
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  s.port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    for (const so of s.sockets) so.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return s;
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test("keep-alive: N sequential requests travel on one connection; headers, status and body come through", async (t) => {
  const b = await startBackend(t, (r, res) => {
    res.setHeader("x-path", r.url!);
    res.setHeader("set-cookie", ["a=1", "b=2"]);
    res.end(`hello ${r.url}`);
  });
  const p = pool(t, b.port);
  for (let i = 0; i < 5; i++) {
    const c = await send(p, req(`/r${i}`));
    assert.equal(c.status, 200);
    assert.equal(c.body, `hello /r${i}`);
    const h = headersFromRaw(c.raw);
    assert.equal(h["x-path"], `/r${i}`);
    assert.deepEqual(h["set-cookie"], ["a=1", "b=2"]);
  }
  assert.equal(b.connections, 1);
  assert.equal(b.hits, 5);
  assert.deepEqual(p.stats, { open: 1, connecting: 0, idle: 1, queued: 0, upgraded: 0 });
});

test("maxConnections caps the connections; requests beyond wait and are served in order", async (t) => {
  const held: Array<() => void> = [];
  const seen: string[] = [];
  const b = await startBackend(t, (r, res) => {
    seen.push(r.url!);
    held.push(() => res.end(r.url));
  });
  const p = pool(t, b.port, { maxConnections: 2 });
  const cs = [0, 1, 2, 3, 4].map((i) => {
    const c = new Collector();
    p.dispatch(req(`/${i}`), c);
    return c;
  });
  await until(() => held.length === 2, "two requests at the backend");
  await sleep(30);
  assert.equal(held.length, 2, "no third request while two connections are busy");
  assert.equal(p.stats.queued, 3);
  while (cs.some((c) => c.status === 0 && c.error === undefined)) {
    await until(() => held.length > 0, "a held request");
    held.shift()!();
    await sleep(5);
  }
  await Promise.all(cs.map((c) => c.done));
  assert.deepEqual(cs.map((c) => c.body), ["/0", "/1", "/2", "/3", "/4"]);
  assert.deepEqual(seen.slice(2), ["/2", "/3", "/4"], "queued requests leave the queue first in, first out");
  assert.equal(b.connections, 2);
});

test("Connection: close from the upstream: the response completes and the connection is not reused", async (t) => {
  const b = await startBackend(t, (_r, res) => {
    res.setHeader("connection", "close");
    res.end("bye");
  });
  const p = pool(t, b.port);
  assert.equal((await send(p)).body, "bye");
  assert.equal((await send(p)).body, "bye");
  assert.equal(b.connections, 2);
});

test("HTTP/1.0: a response without keep-alive closes the connection; a body delimited by the close completes", async (t) => {
  const s = await rawServer(t, (line, socket) => {
    if (line.includes("/eof")) {
      socket.end("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
      return null;
    }
    return "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"; // the server leaves the socket open
  });
  const p = pool(t, s.port);
  assert.equal((await send(p, req("/a"))).body, "ok");
  assert.equal((await send(p, req("/b"))).body, "ok");
  assert.equal(s.connections, 2, "an HTTP/1.0 connection is not reused");
  const eof = await send(p, req("/eof"));
  assert.equal(eof.error, undefined);
  assert.equal(eof.body, "until the end");
});

test("chunked response with trailers: the body and the trailers ([name, value] pairs) arrive", async (t) => {
  const b = await startBackend(t, (r, res) => {
    if (r.url === "/plain") return res.end("no trailers");
    res.writeHead(200, { trailer: "X-Checksum" });
    res.write("chunk one,");
    setTimeout(() => {
      res.addTrailers({ "X-Checksum": "abc123" });
      res.end("chunk two");
    }, 10);
  });
  const p = pool(t, b.port);
  const c = await send(p);
  assert.equal(c.body, "chunk one,chunk two");
  assert.equal(headersFromRaw(c.raw)["transfer-encoding"], "chunked");
  assert.deepEqual(c.trailers, ["X-Checksum", "abc123"]);
  assert.deepEqual(trailersFromRaw(c.trailers as RawHeaders), { "x-checksum": "abc123" });
  const plain = await send(p, req("/plain"));
  assert.equal(plain.body, "no trailers");
  assert.equal(trailersFromRaw(plain.trailers as RawHeaders | null), undefined);
});

test("204, 304 and HEAD responses have no body whatever their headers say; the connection carries on", async (t) => {
  const s = await rawServer(t, (line) => {
    if (line.startsWith("HEAD")) return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    if (line.includes("/304")) return "HTTP/1.1 304 Not Modified\r\nETag: x\r\nContent-Length: 5\r\n\r\n";
    if (line.includes("/204")) return "HTTP/1.1 204 No Content\r\n\r\n";
    return OK;
  });
  const p = pool(t, s.port);
  const head = await send(p, req("/h", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.bytes, 0);
  assert.equal(headersFromRaw(head.raw)["content-length"], "100");
  const nm = await send(p, req("/304"));
  assert.equal(nm.status, 304);
  assert.equal(nm.bytes, 0);
  const nc = await send(p, req("/204"));
  assert.equal(nc.status, 204);
  assert.equal((await send(p, req("/after"))).body, "ok");
  assert.equal(s.connections, 1);
});

test("1xx responses are skipped; the final response is the one reported; 101 without an upgrade request is an error", async (t) => {
  const s = await rawServer(t, (line) =>
    line.includes("/101")
      ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      : "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK,
  );
  const p = pool(t, s.port);
  const c = await send(p);
  assert.equal(c.headerCalls, 1);
  assert.equal(c.status, 200);
  assert.equal(c.body, "ok");
  const up = await send(p, req("/101"));
  assert.match(up.error!.message, /switched protocols/);
});

test("request bodies: a stream is sent chunked (or with its declared Content-Length); a Buffer with its length", async (t) => {
  const b = await startBackend(t, (r, res) => {
    const chunks: Buffer[] = [];
    r.on("data", (c: Buffer) => chunks.push(c));
    r.on("end", () => res.end(JSON.stringify({ te: r.headers["transfer-encoding"], cl: r.headers["content-length"], body: Buffer.concat(chunks).toString() })));
  });
  const p = pool(t, b.port);
  const stream = new PassThrough();
  const c1 = new Collector();
  p.dispatch(req("/", { method: "POST", body: stream }), c1);
  stream.write("hello ");
  setTimeout(() => stream.end("world"), 20);
  await c1.done;
  assert.deepEqual(JSON.parse(c1.body), { te: "chunked", body: "hello world" });

  const declared = new PassThrough();
  const c2 = new Collector();
  p.dispatch(req("/", { method: "PUT", headers: { host: "b", "content-length": "11" }, body: declared }), c2);
  declared.end("hello world");
  await c2.done;
  assert.deepEqual(JSON.parse(c2.body), { cl: "11", body: "hello world" });

  // A Buffer is sent with its own length, whatever length the headers claimed.
  const c3 = await send(p, req("/", { method: "POST", headers: { host: "b", "content-length": "999" }, body: Buffer.from("abc") }));
  assert.deepEqual(JSON.parse(c3.body), { cl: "3", body: "abc" });
  const c4 = await send(p, req("/", { method: "POST", body: null }));
  assert.deepEqual(JSON.parse(c4.body), { cl: "0", body: "" });
  assert.equal(b.connections, 1, "every request reused the one connection");

  // A stream longer than its Content-Length is cut off: the excess would be a second request.
  const long = new PassThrough();
  const c5 = new Collector();
  p.dispatch(req("/", { method: "POST", headers: { host: "b", "content-length": "3" }, body: long }), c5);
  long.end("hello");
  await c5.done;
  assert.match(c5.error!.message, /longer than its content-length/);
});

test("backpressure: a handler returning false pauses the socket (the server's writes block) until resume", async (t) => {
  const total = 32 * 1024 * 1024;
  const piece = Buffer.alloc(64 * 1024, 97);
  let blocked = false;
  let finished = false;
  const b = await startBackend(t, (_r, res) => {
    res.setHeader("content-length", total);
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += piece.length;
        if (!res.write(piece)) {
          blocked = true;
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    res.on("finish", () => (finished = true));
    pump();
  });
  const p = pool(t, b.port);
  const c = new Collector();
  let paused = true;
  c.onDataHook = () => !paused;
  p.dispatch(req(), c);
  await until(() => c.bytes > 0, "the first body bytes");
  await sleep(300);
  const whilePaused = c.bytes;
  assert.equal(blocked, true, "the server's writes blocked");
  assert.equal(finished, false);
  assert.ok(whilePaused < total / 2, `only what was in flight arrived while paused (${whilePaused} bytes)`);
  await sleep(100);
  assert.ok(c.bytes - whilePaused < 256 * 1024, "nothing more than one read's worth arrives while paused");
  paused = false;
  c.resume!();
  await c.done;
  assert.equal(c.error, undefined);
  assert.equal(c.bytes, total);
  assert.equal((await send(p)).status, 200, "the connection carries on after a paused response");
  assert.equal(b.connections, 1);
});

test("a keep-alive connection the server closes while idle is dropped; the next request opens a new one", async (t) => {
  const s = await rawServer(t, (_line, socket) => {
    setTimeout(() => socket.end(), 50);
    return OK;
  });
  const p = pool(t, s.port);
  assert.equal((await send(p)).body, "ok");
  await until(() => p.stats.open === 0, "the pool to drop the closed connection");
  assert.equal((await send(p)).body, "ok");
  assert.equal(s.connections, 2);
});

test("keep-alive race: a request written as the server closed an idle connection is sent once more on a new connection", async (t) => {
  const s = await rawServer(t, () => OK);
  const p = pool(t, s.port, { raceRetryMinIdleMs: 20 });
  assert.equal((await send(p)).body, "ok");
  await sleep(50);
  // The server closes the idle connection and the request goes out in the same tick: the
  // pool has not seen the close yet, so the request is written into the closed connection.
  s.sockets[0]!.destroy();
  const c = new Collector();
  p.dispatch(req("/raced"), c);
  await c.done;
  assert.equal(c.error, undefined);
  assert.equal(c.body, "ok");
  assert.equal(c.connects, 2, "the handler got the new connection's abort");
  assert.equal(s.connections, 2);

  // A stream body cannot be sent again: the race is a reset for the retry policy to judge.
  await sleep(50);
  s.sockets[1]!.destroy();
  const body = new PassThrough();
  const streamed = new Collector();
  p.dispatch(req("/stream", { method: "POST", body }), streamed);
  body.end("x");
  await streamed.done;
  assert.equal(failureFromDispatchError(streamed.error!).kind, "reset");
});

test("keep-alive race retry happens once, and only after the connection sat idle", async (t) => {
  // Every connection after the first is closed as soon as a request arrives.
  const s = await rawServer(t, (_line, socket, index) => {
    if (index === 0) return OK;
    socket.destroy();
    return null;
  });
  const p = pool(t, s.port, { raceRetryMinIdleMs: 20 });
  assert.equal((await send(p)).body, "ok");
  await sleep(50);
  s.sockets[0]!.destroy();
  const c = await send(p, req("/raced"));
  assert.match(c.error!.message, /closed the connection before responding/);
  assert.equal(failureFromDispatchError(c.error!).kind, "reset");
  assert.equal(s.connections, 2, "one retry, not two");

  // A connection closed right after a request that followed closely on the last one is
  // the server's answer to that request: no retry.
  const quick = await rawServer(t, (_line, socket) => {
    if (quick.requests.length === 1) return OK;
    socket.destroy();
    return null;
  });
  const q = pool(t, quick.port); // default: at least 1 s idle
  assert.equal((await send(q)).body, "ok");
  const second = await send(q);
  assert.equal(failureFromDispatchError(second.error!).kind, "reset");
  assert.equal(quick.connections, 1);
});

test("the parser reads the socket itself: part of a response then a close is not a keep-alive race (no retry); bytes nobody asked for drop the connection", async (t) => {
  const s = await rawServer(t, (_line, socket, index) => {
    if (s.requests.length === 1) return OK;
    if (index === 0) {
      // The second request on the connection gets half a response head, then the close.
      socket.write("HTTP/1.1 200 OK\r\nContent-Le");
      setTimeout(() => socket.destroy(), 20);
      return null;
    }
    return OK;
  });
  const p = pool(t, s.port, { raceRetryMinIdleMs: 20 });
  assert.equal((await send(p)).body, "ok");
  await sleep(50);
  const cut = await send(p, req("/cut"));
  assert.match(cut.error!.message, /closed the connection before the response completed/);
  assert.equal(s.connections, 1, "not sent again on a new connection");

  const chatty = await rawServer(t, (_line, socket) => {
    // After the answer, bytes no request asked for.
    setTimeout(() => socket.writable && socket.write("HTTP/1.1 200 OK\r\n"), 30);
    return OK;
  });
  const q = pool(t, chatty.port);
  assert.equal((await send(q)).body, "ok");
  await until(() => q.stats.open === 0, "the out-of-step connection to be dropped");
  assert.equal((await send(q)).body, "ok");
  assert.equal(chatty.connections, 2);
});

test("a response header block larger than the limit (60 KiB by default) is an error, not a hang", async (t) => {
  const s = await rawServer(t, () => `HTTP/1.1 200 OK\r\nX-Big: ${"x".repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`);
  const p = pool(t, s.port);
  const c = await send(p);
  assert.match(c.error!.message, /response headers larger than 61440 bytes/);
  assert.match(c.error!.message, /127\.0\.0\.1:\d+ \(cluster c1\)/);
  assert.equal(failureFromDispatchError(c.error!).kind, "reset");
  const fits = await rawServer(t, () => `HTTP/1.1 200 OK\r\nX-Big: ${"x".repeat(50 * 1024)}\r\nContent-Length: 0\r\n\r\n`);
  assert.equal((await send(pool(t, fits.port))).status, 200);
});

test("a malformed response and a connection closed mid-response are resets naming the endpoint", async (t) => {
  const bad = await rawServer(t, () => "HELLO THERE\r\n\r\n");
  const c = await send(pool(t, bad.port));
  assert.match(c.error!.message, /malformed HTTP\/1\.1 response: .*\(HPE_/);
  assert.equal(failureFromDispatchError(c.error!).kind, "reset");
  const cut = await rawServer(t, (_line, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    setTimeout(() => socket.destroy(), 20);
    return null;
  });
  const c2 = await send(pool(t, cut.port));
  assert.equal(c2.body, "partial");
  assert.match(c2.error!.message, /closed the connection before the response completed/);
  assert.equal(failureFromDispatchError(c2.error!).kind, "reset");
});

test("abort mid-response: the handler gets the error and the connection is not reused", async (t) => {
  let serverClosed = 0;
  const b = await startBackend(t, (r, res) => {
    if (r.url === "/slow") {
      res.writeHead(200, { "content-length": 100 });
      res.write("part");
      res.socket!.on("close", () => serverClosed++);
      return;
    }
    res.end("fine");
  });
  const p = pool(t, b.port);
  const c = new Collector();
  const stop = new Error("stop");
  c.onDataHook = () => {
    c.abort!(stop);
    return true;
  };
  p.dispatch(req("/slow"), c);
  await c.done;
  assert.equal(c.error, stop);
  await until(() => serverClosed === 1, "the server to see the connection closed");
  assert.equal((await send(p)).body, "fine");
  assert.equal(b.connections, 2);
  // An abort before the request was written leaves the connection clean.
  const early = new Collector();
  early.onConnect = (abort) => abort(new Error("gave up while queued"));
  p.dispatch(req("/never"), early);
  await early.done;
  assert.match(early.error!.message, /gave up while queued/);
  assert.equal((await send(p)).body, "fine");
  assert.equal(b.connections, 2);
  assert.equal(b.hits, 3);
});

test("a handler that throws under a parser callback gets its own error back, and the connection is dropped", async (t) => {
  const b = await startBackend(t);
  const p = pool(t, b.port);
  const c = new Collector();
  const own = Object.assign(new Error("sink failed"), { code: "ERR_SINK" });
  c.onHeaders = () => {
    throw own;
  };
  p.dispatch(req(), c);
  await c.done;
  assert.equal(c.error, own);
  assert.equal((await send(p)).status, 200);
  assert.equal(b.connections, 2);
});

test("idle timeout closes idle connections; Keep-Alive: timeout=N closes them before the server does", async (t) => {
  const s = await rawServer(t, () => OK);
  let closed = 0;
  const p = pool(t, s.port, { idleTimeoutMs: 100 });
  assert.equal((await send(p)).body, "ok");
  s.sockets[0]!.on("end", () => closed++);
  await until(() => closed === 1, "the idle connection to be closed", 2000);
  assert.equal(p.stats.open, 0);

  const hinted = await rawServer(t, () => "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok");
  const q = pool(t, hinted.port);
  const started = Date.now();
  assert.equal((await send(q)).body, "ok");
  let hintedClosed = 0;
  hinted.sockets[0]!.on("end", () => hintedClosed++);
  await until(() => hintedClosed === 1, "the pool to close the connection 1 s before the server's 2 s", 3000);
  const after = Date.now() - started;
  assert.ok(after >= 900 && after < 1900, `closed after ${after} ms`);
});

test("CR or LF in a header value, a header name or the path is refused before anything is written", async (t) => {
  const b = await startBackend(t);
  const p = pool(t, b.port);
  const c = await send(p, req("/", { headers: { host: "b", "x-evil": "a\r\nx-injected: 1" } }));
  assert.ok(c.error instanceof UpstreamFailure);
  assert.equal(c.error.detail, "invalid-request");
  assert.match(c.error.message, /the value of header "x-evil" contains CR or LF/);
  const lf = await send(p, req("/", { headers: { host: "b", "x-list": ["ok", "bad\nvalue"] } }));
  assert.match(lf.error!.message, /"x-list"/);
  const path = await send(p, req("/a HTTP/1.1\r\nHost: other\r\n\r\nGET /b"));
  assert.match(path.error!.message, /the path contains CR or LF/);
  assert.equal(b.hits, 0);
  assert.equal((await send(p)).status, 200);
  assert.equal(b.connections, 1, "a refused request leaves the connection usable");
});

test("a connect failure fails the requests waiting for that connection with a connect-failure", async (t) => {
  const port = await closedPort();
  const p = pool(t, port, { maxConnections: 1 });
  const cs = [new Collector(), new Collector(), new Collector()];
  for (const c of cs) p.dispatch(req(), c);
  await Promise.all(cs.map((c) => c.done));
  for (const c of cs) {
    const f = failureFromDispatchError(c.error!);
    assert.equal(f.kind, "connect-failure");
    assert.match(f.message, new RegExp(`upstream connect to 127\\.0\\.0\\.1:${port} \\(cluster c1\\) failed`));
  }
  assert.deepEqual(p.stats, { open: 0, connecting: 0, idle: 0, queued: 0, upgraded: 0 });
});

test("close(): requests in flight finish, then the connections close; later requests are refused", async (t) => {
  const held: Array<() => void> = [];
  const b = await startBackend(t, (_r, res) => held.push(() => res.end("late")));
  const p = pool(t, b.port);
  const c = new Collector();
  p.dispatch(req(), c);
  await until(() => held.length === 1, "the request at the backend");
  let closed = false;
  const closing = p.close().then(() => (closed = true));
  await sleep(20);
  assert.equal(closed, false);
  held.shift()!();
  await c.done;
  assert.equal(c.body, "late");
  await closing;
  assert.equal(p.stats.open, 0);
  const after = await send(p);
  assert.equal(failureFromDispatchError(after.error!).kind, "connect-failure");
});

test("a proxy with only HTTP/1.1 clusters never loads undici", () => {
  const script = `
    import { createRequire } from "node:module";
    import * as http from "node:http";
    const require = createRequire(import.meta.url);
    const loaded = () => Object.keys(require.cache).some((k) => k.includes("/node_modules/undici/"));
    await import("./src/proxy/data-plane.ts");
    const { Host } = await import("./src/proxy/upstream/host.ts");
    const server = http.createServer((_q, s) => s.end("ok")).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const h1 = new Host("c", "127.0.0.1", server.address().port, 1, true, { connectTimeoutMs: 1000, http2: false, idleTimeoutMs: 1000, maxConnections: 4 }, undefined);
    const status = await new Promise((resolve) => h1.pool.dispatch({ method: "GET", path: "/", headers: { host: "x" }, body: null }, {
      onConnect() {}, onHeaders(s) { this.s = s; return true; }, onData() { return true; }, onComplete() { resolve(this.s); }, onError(e) { resolve(e.message); },
    }));
    const before = loaded();
    new Host("c", "127.0.0.1", 1, 1, true, { connectTimeoutMs: 1000, http2: true, idleTimeoutMs: 1000, maxConnections: 4 }, undefined);
    await h1.drain();
    server.close();
    process.stdout.write(JSON.stringify({ status, before, after: loaded() }));
  `;
  const out = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { status: 200, before: false, after: true });
});


// ---- upgrades ------------------------------------------------------------------------

class UpgradeCollector extends Collector {
  upgrades = 0;
  upgradeStatus = 0;
  upgradeRaw: RawHeaders = [];
  socket: Duplex | undefined;
  onUpgrade(status: number, raw: RawHeaders, socket: Duplex): void {
    this.upgrades++;
    this.upgradeStatus = status;
    this.upgradeRaw = raw;
    this.socket = socket;
    socket.on("error", () => {});
    this.onComplete(null);
  }
}

const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

function upgradeReq(headers: DispatchOptions["headers"] = { host: "backend.test", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }): DispatchOptions {
  return { method: "GET", path: "/ws", headers, body: null, upgrade: "websocket" };
}

interface UpgradeServer {
  port: number;
  /** Request heads as received, in order. */
  heads: string[];
  sockets: net.Socket[];
  closed: number;
}

/**
 * A TCP server answering each request head with `answer`'s bytes (null: no answer yet).
 * After an answer that switches protocols (101), it echoes every byte as `echo:<bytes>`.
 */
async function upgradeServer(t: T, answer: (head: string, socket: net.Socket) => string | null): Promise<UpgradeServer> {
  const s: UpgradeServer = { port: 0, heads: [], sockets: [], closed: 0 };
  const server = net.createServer((socket) => {
    s.sockets.push(socket);
    socket.on("error", () => {});
    socket.on("close", () => s.closed++);
    let buf = "";
    let switched = false;
    socket.on("data", (d: Buffer) => {
      if (switched) return void socket.write(`echo:${d.toString("latin1")}`);
      buf += d.toString("latin1");
      let end: number;
      while (!switched && (end = buf.indexOf("\r\n\r\n")) >= 0) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        s.heads.push(head);
        const out = answer(head, socket);
        if (out === null || socket.destroyed) continue;
        socket.write(out, "latin1");
        switched = out.includes(" 101 ");
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  s.port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    for (const so of s.sockets) so.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return s;
}

async function readAtLeast(socket: Duplex, bytes: number): Promise<string> {
  let got = "";
  const signal = AbortSignal.timeout(3000);
  while (got.length < bytes) {
    const [d] = (await once(socket, "data", { signal })) as [Buffer];
    got += d.toString("latin1");
  }
  return got;
}

test("upgrade: Connection: upgrade and Upgrade go out; a 101 (after skipped 1xx) hands the socket over with the bytes read past its head first; it never returns to the pool", async (t) => {
  const s = await upgradeServer(t, (head) => (head.startsWith("GET /ws ") ? "HTTP/1.1 100 Continue\r\n\r\n" + SWITCH + "early-frame" : OK));
  const p = pool(t, s.port);
  const c = new UpgradeCollector();
  // The caller's own connection and upgrade fields give way to the upgrade's.
  p.dispatch(upgradeReq({ host: "backend.test", connection: "keep-alive", upgrade: "h2c", "sec-websocket-key": "k" }), c);
  await c.done;
  assert.equal(c.error, undefined);
  assert.equal(c.headerCalls, 0, "neither the 100 nor the 101 is an ordinary response");
  assert.equal(c.upgrades, 1);
  assert.equal(c.upgradeStatus, 101);
  assert.equal(headersFromRaw(c.upgradeRaw)["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const lines = s.heads[0]!.split("\r\n");
  assert.equal(lines[0], "GET /ws HTTP/1.1");
  assert.deepEqual(lines.filter((l) => /^(connection|upgrade):/i.test(l)), ["connection: upgrade", "upgrade: websocket"]);
  assert.ok(lines.includes("sec-websocket-key: k"));

  // The bytes that came with the 101 are the new protocol's first bytes, then both ways.
  const socket = c.socket!;
  assert.equal(await readAtLeast(socket, "early-frame".length), "early-frame");
  socket.write("ping");
  assert.equal(await readAtLeast(socket, "echo:ping".length), "echo:ping");
  assert.deepEqual(p.stats, { open: 0, connecting: 0, idle: 0, queued: 0, upgraded: 1 });

  // An ordinary request meanwhile opens a connection of its own.
  assert.equal((await send(p)).body, "ok");
  assert.equal(s.sockets.length, 2);
  assert.deepEqual(p.stats, { open: 1, connecting: 0, idle: 1, queued: 0, upgraded: 1 });

  // The tunnel is the handler's: close() does not wait for it, and it goes on working.
  await p.close();
  socket.write("after close");
  assert.equal(await readAtLeast(socket, "echo:after close".length), "echo:after close");
  socket.destroy();
  await until(() => p.stats.upgraded === 0, "the tunnel's close to be counted");
});

test("upgrade: a tunnel counts against maxConnections until it closes", async (t) => {
  const s = await upgradeServer(t, (head) => (head.startsWith("GET /ws ") ? SWITCH : OK));
  const p = pool(t, s.port, { maxConnections: 1 });
  const c = new UpgradeCollector();
  p.dispatch(upgradeReq(), c);
  await c.done;
  const waiting = new Collector();
  p.dispatch(req("/plain"), waiting);
  await sleep(50);
  assert.equal(p.stats.queued, 1, "no connection beyond the tunnel's");
  assert.equal(s.sockets.length, 1);
  c.socket!.destroy();
  await waiting.done;
  assert.equal(waiting.body, "ok");
  assert.equal(s.sockets.length, 2);
});

test("upgrade: any other answer is an ordinary response, and its connection is closed, not reused", async (t) => {
  const s = await upgradeServer(t, (head) =>
    head.startsWith("GET /ws ") ? "HTTP/1.1 426 Upgrade Required\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nnope" : OK,
  );
  const p = pool(t, s.port);
  const c = new UpgradeCollector();
  p.dispatch(upgradeReq(), c);
  await c.done;
  assert.equal(c.upgrades, 0);
  assert.equal(c.status, 426);
  assert.equal(c.body, "nope");
  assert.equal(c.error, undefined);
  await until(() => s.closed === 1, "the declined upgrade's connection to close");
  assert.equal((await send(p)).body, "ok");
  assert.equal(s.sockets.length, 2);
  assert.deepEqual(p.stats, { open: 1, connecting: 0, idle: 1, queued: 0, upgraded: 0 });
});

test("upgrade: an abort before the 101 closes the connection; a 101 arriving then goes nowhere", async (t) => {
  const held: net.Socket[] = [];
  const s = await upgradeServer(t, (head, socket) => (head.startsWith("GET /ws ") ? (held.push(socket), null) : OK));
  const p = pool(t, s.port);
  const c = new UpgradeCollector();
  p.dispatch(upgradeReq(), c);
  await until(() => held.length === 1, "the upgrade request at the server");
  const stop = new Error("client left");
  c.abort!(stop);
  await c.done;
  assert.equal(c.error, stop);
  held[0]!.write(SWITCH + "late");
  await until(() => s.closed === 1, "the aborted connection to close");
  await sleep(20);
  assert.equal(c.upgrades, 0);
  assert.deepEqual(p.stats, { open: 0, connecting: 0, idle: 0, queued: 0, upgraded: 0 });
  assert.equal((await send(p)).body, "ok");
});

test("upgrade: CR or LF in the protocol is refused; a handler that takes no upgrade gets an error and the socket is closed", async (t) => {
  const s = await upgradeServer(t, (head) => (head.startsWith("GET /ws ") ? SWITCH : OK));
  const p = pool(t, s.port);
  const refused = await send(p, { ...upgradeReq(), upgrade: "websocket\r\nx-injected: 1" });
  assert.equal((refused.error as UpstreamFailure).detail, "invalid-request");
  assert.match(refused.error!.message, /the upgrade protocol contains CR or LF/);
  assert.equal(s.heads.length, 0);

  const plain = await send(p, upgradeReq());
  assert.match(plain.error!.message, /switched protocols \(101\) for a handler that takes no upgrade/);
  await until(() => s.closed === 1 && p.stats.upgraded === 0, "the unwanted tunnel to close");
});
