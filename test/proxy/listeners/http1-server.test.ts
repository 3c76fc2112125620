// meshgate's HTTP/1.1 server on its own: real TCP connections handed to an Http1Server,
// raw bytes in and out. Every test runs twice: with the parser reading the socket's
// native stream (how listeners run it) and fed from the socket's 'data' events (the
// fallback for a socket whose stream another parser already reads).

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import type { Readable } from "node:stream";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef, RequestHandler } from "../../../src/proxy/contracts.js";
import { Connection, type ConnectionOwner } from "../../../src/proxy/listeners/connection.js";
import { Http1Server } from "../../../src/proxy/listeners/http1-server.js";
import { DEFAULT_LIMITS, type CompiledChain, type HttpLimits } from "../../../src/proxy/listeners/listener-config.js";
import { ListenerStats } from "../../../src/proxy/listeners/listener-stats.js";

type Mode = "native stream" | "data events";
const MODES: Mode[] = ["native stream", "data events"];
type T = { after: (fn: () => void | Promise<void>) => void };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Served {
  port: number;
  stats: ListenerStats;
  conns: Connection[];
}

/** A TCP server whose connections go to an Http1Server with `limits`, and `handler`. */
async function serve(t: T, mode: Mode, handler: RequestHandler, limits: Partial<HttpLimits> = {}): Promise<Served> {
  const stats = new ListenerStats();
  const all: HttpLimits = { ...DEFAULT_LIMITS, ...limits };
  const server = new Http1Server(all, stats, undefined);
  const ref: FilterChainRef = { listenerName: "l", chainName: "c", hcm: {} };
  const chain = { name: "c", ref, tls: undefined, limits: all, codec: "AUTO" } as CompiledChain;
  const owner: ConnectionOwner = { handler, connectionClosed: () => {} };
  const conns: Connection[] = [];
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    const conn = new Connection(owner, socket);
    conn.chain = chain;
    conn.app = socket;
    conns.push(conn);
    // Another reader already holds the native stream: the server falls back to 'data' events.
    if (mode === "data events") (socket as unknown as { _handle: { _consumed: boolean } })._handle._consumed = true;
    server.accept(conn, socket);
  });
  tcp.listen(0, "127.0.0.1");
  await once(tcp, "listening");
  t.after(async () => {
    server.close();
    for (const c of conns) c.socket.destroy();
    await new Promise<void>((r) => tcp.close(() => r()));
  });
  return { port: (tcp.address() as net.AddressInfo).port, stats, conns };
}

/** A raw client: everything read is kept as latin1 text. */
class Client {
  readonly socket: net.Socket;
  text = "";
  closed = false;
  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.setEncoding("latin1");
    this.socket.on("data", (d: string) => (this.text += d));
    this.socket.on("error", () => {});
    this.socket.on("close", () => (this.closed = true));
  }
  write(s: string | Buffer): void {
    this.socket.write(s);
  }
  async until(re: RegExp, what = String(re)): Promise<RegExpExecArray> {
    let m: RegExpExecArray | null = null;
    await waitFor(() => (m = re.exec(this.text)) !== null, `${what} in ${JSON.stringify(this.text.slice(0, 500))}`);
    return m!;
  }
  async untilClosed(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.closed, `the server to close the connection (got ${JSON.stringify(this.text.slice(0, 300))})`, timeoutMs);
  }
  /** Responses received so far: status, headers (lowercase names, first value), body; chunked and length-delimited bodies. */
  responses(): { status: number; headers: Record<string, string>; body: string; raw: string }[] {
    const out: { status: number; headers: Record<string, string>; body: string; raw: string }[] = [];
    let rest = this.text;
    while (rest.length > 0) {
      const end = rest.indexOf("\r\n\r\n");
      if (end < 0) break;
      const lines = rest.slice(0, end).split("\r\n");
      const status = Number(lines[0]!.split(" ")[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] ??= l.slice(i + 1).trim();
      }
      let at = end + 4;
      let body = "";
      if (headers["transfer-encoding"] === "chunked") {
        for (;;) {
          const le = rest.indexOf("\r\n", at);
          if (le < 0) return out;
          const size = parseInt(rest.slice(at, le), 16);
          at = le + 2;
          if (size === 0) {
            const te = rest.indexOf("\r\n\r\n", at - 2);
            if (te < 0) return out;
            at = te + 4;
            break;
          }
          body += rest.slice(at, at + size);
          at += size + 2;
        }
      } else if (headers["content-length"] !== undefined && status !== 304 && status >= 200 && status !== 204) {
        const n = Number(headers["content-length"]);
        if (rest.length < at + n) break;
        body = rest.slice(at, at + n);
        at += n;
      } else if (status >= 200 && status !== 204 && status !== 304 && headers["content-length"] === undefined) {
        body = rest.slice(at);
        at = rest.length;
      }
      out.push({ status, headers, body, raw: rest.slice(0, at) });
      rest = rest.slice(at);
    }
    return out;
  }
}

function client(t: T, port: number): Client {
  const c = new Client(port);
  t.after(() => void c.socket.destroy());
  return c;
}

/** Answers with method, path and body read (after the whole body). */
const echo: RequestHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.body.on("data", (c: Buffer) => chunks.push(c));
  req.body.on("end", () => {
    const body = Buffer.from(`${req.method} ${req.rawPath} ${Buffer.concat(chunks).toString("latin1")}`, "latin1");
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(body.length) });
    res.end(body);
  });
};

for (const mode of MODES) {
  test(`[${mode}] pipelining: requests sent together are handled one at a time and answered in order`, async (t) => {
    const seen: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { port } = await serve(t, mode, (req, res) => {
      seen.push(req.rawPath);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // The first answer is the slowest: order must come from the server, not from timing.
      const delay = req.rawPath === "/1" ? 150 : 0;
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { "content-length": String(req.rawPath.length) });
        res.end(Buffer.from(req.rawPath));
      }, delay);
    });
    const c = client(t, port);
    c.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => c.responses().length === 3, "three responses");
    assert.deepEqual(
      c.responses().map((r) => r.body),
      ["/1", "/2", "/3"],
    );
    assert.deepEqual(seen, ["/1", "/2", "/3"]);
    assert.equal(maxInFlight, 1, "one request at a time");
    assert.equal(c.closed, false, "kept alive");
  });

  test(`[${mode}] partial reads: a request arriving a byte at a time, and a chunked body split anywhere, parse the same`, async (t) => {
    const { port } = await serve(t, mode, echo);
    const c = client(t, port);
    const request = "POST /split?q=1 HTTP/1.1\r\nHost: a\r\nX-Long: " + "v".repeat(100) + "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    for (const byte of request) {
      c.write(byte);
      await sleep(1);
    }
    const [r] = (await waitFor(() => c.responses().length === 1, "the response"), c.responses());
    assert.equal(r!.body, "POST /split?q=1 abcdefg");
  });

  test(`[${mode}] responses: one socket write for head and a small body; Content-Length from end(); chunked and trailers otherwise`, async (t) => {
    const writes: number[] = [];
    const { port, conns } = await serve(t, mode, (req, res) => {
      const socket = conns[0]!.socket;
      const before = writes.length;
      const orig = socket.write.bind(socket) as (...a: unknown[]) => boolean;
      (socket as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
        writes.push(before);
        return orig(...a);
      };
      if (req.rawPath === "/small") {
        res.writeHead(200, { "x-a": "1" });
        res.end(Buffer.from("hello"));
      } else {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write(Buffer.from("part1-"));
        res.write(Buffer.from("part2"));
        res.end(undefined, { "x-checksum": "42", "x-none": undefined });
      }
      (socket as unknown as { write: unknown }).write = orig;
    });
    const c = client(t, port);
    c.write("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => c.responses().length === 1, "the first response");
    assert.equal(writes.length, 1, "head and body in one write");
    const small = c.responses()[0]!;
    assert.equal(small.headers["content-length"], "5");
    assert.equal(small.headers["x-a"], "1");
    assert.match(small.headers.date ?? "", /GMT$/);
    assert.equal(small.body, "hello");
    c.write("GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => c.responses().length === 2, "the second response");
    const chunked = c.responses()[1]!;
    assert.equal(chunked.headers["transfer-encoding"], "chunked");
    assert.equal(chunked.body, "part1-part2");
    assert.match(chunked.raw, /\r\n0\r\nx-checksum: 42\r\n\r\n$/);
  });

  test(`[${mode}] HEAD, 204 and 304 carry no body; a response longer than its Content-Length is cut and the connection closed`, async (t) => {
    const { port } = await serve(t, mode, (req, res) => {
      if (req.rawPath === "/204") {
        res.writeHead(204, {});
        res.end(Buffer.from("ignored"));
      } else if (req.rawPath === "/304") {
        res.writeHead(304, { etag: '"x"' });
        res.end();
      } else if (req.rawPath === "/long") {
        res.writeHead(200, { "content-length": "3" });
        res.end(Buffer.from("abcdef"));
      } else {
        res.writeHead(200, {});
        res.end(Buffer.from("body of a GET"));
      }
    });
    const c = client(t, port);
    c.write("HEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.until(/HTTP\/1\.1 304 Not Modified\r\n[^]*\r\n\r\n$/);
    const [head, noContent, notModified] = c.text.split(/(?=HTTP\/1\.1 )/);
    assert.match(head!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head!, /\r\ncontent-length: 13\r\n/);
    assert.ok(head!.endsWith("\r\n\r\n"), "no body after HEAD");
    assert.doesNotMatch(noContent!, /content-length|transfer-encoding|ignored/);
    assert.doesNotMatch(notModified!, /transfer-encoding/);
    c.write("GET /long HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.untilClosed();
    assert.ok(c.text.endsWith("\r\n\r\nabc"), JSON.stringify(c.text.slice(-40)));
  });

  test(`[${mode}] parser errors: a malformed request after a good one gets 400 after the good one's answer, then the connection closes`, async (t) => {
    const seen: string[] = [];
    const { port } = await serve(t, mode, (req, res) => {
      seen.push(req.rawPath);
      setTimeout(() => {
        res.writeHead(200, { "content-length": "2" });
        res.end(Buffer.from("ok"));
      }, 50);
    });
    const c = client(t, port);
    c.write("GET /good HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.untilClosed();
    assert.deepEqual(
      c.responses().map((r) => r.status),
      [200, 400],
    );
    assert.equal(c.responses()[1]!.headers.connection, "close");
    assert.deepEqual(seen, ["/good"]);
  });

  test(`[${mode}] a malformed body (bad chunk) of the request being handled: 400 if nothing was answered yet, the handler's exchange is closed`, async (t) => {
    let closed = false;
    let bodyError = false;
    const { port } = await serve(t, mode, (req, res) => {
      res.onClose(() => (closed = true));
      req.body.on("error", () => (bodyError = true));
      req.body.resume();
    });
    const c = client(t, port);
    c.write("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
    await c.untilClosed();
    assert.match(c.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(closed, true);
    assert.equal(bodyError, true);
  });

  test(`[${mode}] limits: header block over the limit (request line included) 431, more fields than allowed 431, a chunk extension over 16 KiB 413`, async (t) => {
    const seen: string[] = [];
    const { port } = await serve(t, mode, (req, res) => (seen.push(req.rawPath), echo(req, res, { listenerName: "", chainName: "", hcm: {} })), { maxHeaderBytes: 1024, maxHeadersCount: 5 });
    const cases: [string, number][] = [
      [`GET /${"u".repeat(1100)} HTTP/1.1\r\nHost: a\r\n\r\n`, 431],
      [`GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(1100)}\r\n\r\n`, 431],
      [`GET /many HTTP/1.1\r\nHost: a\r\n${"X-A: 1\r\n".repeat(5)}\r\n`, 431],
      [`POST /ext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(17_000)}\r\nx\r\n0\r\n\r\n`, 413],
    ];
    for (const [data, status] of cases) {
      const c = client(t, port);
      c.write(data);
      await c.untilClosed();
      assert.match(c.text, new RegExp(`^HTTP/1\\.1 ${status} `), data.slice(0, 40));
    }
    // Header problems never reach the handler; a chunk extension is in the body, after it.
    assert.deepEqual(seen, ["/ext"]);
    // At the limits exactly: accepted.
    const ok = client(t, port);
    ok.write(`GET /fine HTTP/1.1\r\nHost: a\r\n${"X-A: 1\r\n".repeat(4)}\r\n`);
    await waitFor(() => ok.responses().length === 1, "the response");
    assert.equal(ok.responses()[0]!.status, 200);
  });

  test(`[${mode}] versions and methods: HTTP/1.0 keep-alive only when asked, close-delimited bodies for it; HTTP/2.0 on this port 505; CONNECT 501; no Host in 1.1 400`, async (t) => {
    const { port } = await serve(t, mode, (req, res) => {
      res.writeHead(200, {});
      if (req.rawPath === "/stream") {
        res.write(Buffer.from("a"));
        res.end(Buffer.from("b"));
      } else res.end(Buffer.from("x"));
    });
    const keep = client(t, port);
    keep.write("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await waitFor(() => keep.responses().length === 1, "the response");
    assert.equal(keep.responses()[0]!.headers.connection, "keep-alive");
    keep.write("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await keep.untilClosed();
    const streamed = keep.text.slice(keep.text.indexOf("HTTP/1.1", 10));
    assert.match(streamed, /\r\nconnection: close\r\n/);
    assert.doesNotMatch(streamed, /transfer-encoding/);
    assert.ok(streamed.endsWith("\r\n\r\nab"));

    const plain10 = client(t, port);
    plain10.write("GET /once HTTP/1.0\r\n\r\n");
    await plain10.untilClosed();
    assert.match(plain10.text, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n/);

    for (const [data, status] of [
      ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
      ["CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501],
      ["GET / HTTP/1.1\r\n\r\n", 400],
    ] as const) {
      const c = client(t, port);
      c.write(data);
      await c.untilClosed();
      assert.match(c.text, new RegExp(`^HTTP/1\\.1 ${status} `), data);
    }
  });

  test(`[${mode}] Connection: close from the client: the answer says so and the connection ends; what follows is not read`, async (t) => {
    const seen: string[] = [];
    const { port } = await serve(t, mode, (req, res) => {
      seen.push(req.rawPath);
      res.writeHead(200, { "content-length": "0" });
      res.end();
    });
    const c = client(t, port);
    c.write("GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.untilClosed();
    assert.equal(c.responses().length, 1);
    assert.equal(c.responses()[0]!.headers.connection, "close");
    assert.deepEqual(seen, ["/last"]);
  });

  test(`[${mode}] 100-continue: answered when the body is first read; a request answered without reading it gets no 100 and the connection closes`, async (t) => {
    const { port } = await serve(t, mode, (req, res) => {
      if (req.rawPath === "/deny") {
        res.writeHead(403, { "content-length": "0" });
        res.end();
        return;
      }
      echo(req, res, { listenerName: "", chainName: "", hcm: {} });
    });
    const c = client(t, port);
    c.write("POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    c.write("data");
    await c.until(/POST \/upload data$/);
    const denied = client(t, port);
    denied.write("POST /deny HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    await denied.untilClosed();
    assert.match(denied.text, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(denied.text, /\r\nconnection: close\r\n/);
    assert.doesNotMatch(denied.text, /100 Continue/);
    const other = client(t, port);
    other.write("GET / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n");
    await other.untilClosed();
    assert.match(other.text, /^HTTP\/1\.1 417 /);
  });

  test(`[${mode}] request headers: lowercase names, repeated fields joined as node:http joins them`, async (t) => {
    let headers: DownstreamRequest["headers"] = {};
    const { port } = await serve(t, mode, (req, res) => {
      headers = req.headers;
      res.writeHead(204, {});
      res.end();
    });
    const c = client(t, port);
    c.write("GET / HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nx-multi: 2\r\nCookie: a=1\r\nCookie: b=2\r\nSet-Cookie: s=1\r\nSet-Cookie: s=2\r\nUser-Agent: first\r\nUser-Agent: second\r\nConstructor: c\r\n\r\n");
    await c.until(/^HTTP\/1\.1 204 /);
    assert.equal(headers["x-multi"], "1, 2");
    assert.equal(headers.cookie, "a=1; b=2");
    assert.deepEqual(headers["set-cookie"], ["s=1", "s=2"]);
    assert.equal(headers["user-agent"], "first");
    assert.equal(headers.constructor, "c");
    assert.equal(headers.host, "a");
  });

  test(`[${mode}] response head validation: a field value with CR/LF or a bad name is refused (writeHead throws; the handler's failure is a 500)`, async (t) => {
    const errors: string[] = [];
    const { port } = await serve(t, mode, (req, res) => {
      try {
        res.writeHead(200, req.rawPath === "/value" ? { "x-a": "1\r\nx-injected: 1" } : { "bad name": "1" });
      } catch (e) {
        errors.push((e as Error).message);
        throw e;
      }
    });
    for (const path of ["/value", "/name"]) {
      const c = client(t, port);
      c.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await c.untilClosed();
      assert.match(c.text, /^HTTP\/1\.1 500 /);
      assert.doesNotMatch(c.text, /x-injected/);
    }
    assert.equal(errors.length, 2);
  });

  test(`[${mode}] backpressure both ways: a request body is not read faster than its consumer takes it`, async (t) => {
    let body: Readable | undefined;
    const { port } = await serve(t, mode, (req) => {
      body = req.body;
    });
    const c = client(t, port);
    const total = 32 * 1024 * 1024;
    c.write(`POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    let blocked = false;
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!c.socket.write(chunk)) {
          blocked = true;
          c.socket.once("drain", pump);
          return;
        }
      }
    };
    pump();
    await waitFor(() => body !== undefined, "the request");
    await sleep(500);
    assert.equal(blocked, true, "the client is held back while nobody reads the body");
    assert.ok(body!.readableLength <= 4 * 1024 * 1024, `buffered ${body!.readableLength}`);
    let received = 0;
    body!.on("data", (d: Buffer) => (received += d.length));
    await waitFor(() => received === total, "the whole body", 20_000);
  });

  test(`[${mode}] half-close: a client that ends its side gets an answer already made, and one still pending is aborted`, async (t) => {
    const closes: string[] = [];
    const { port } = await serve(t, mode, (req, res) => {
      if (req.rawPath === "/now") {
        res.writeHead(200, { "content-length": "3" });
        res.end(Buffer.from("now"));
        return;
      }
      res.onClose(() => closes.push(req.rawPath));
    });
    const answered = client(t, port);
    answered.socket.end("GET /now HTTP/1.1\r\nHost: a\r\n\r\n");
    await answered.untilClosed();
    assert.equal(answered.responses()[0]?.body, "now");
    const pending = client(t, port);
    pending.socket.end("GET /later HTTP/1.1\r\nHost: a\r\n\r\n");
    await pending.untilClosed();
    await waitFor(() => closes.length === 1, "the pending exchange to be closed");
    assert.deepEqual(closes, ["/later"]);
    assert.equal(pending.text, "");
  });

  test(`[${mode}] a client gone mid-body: the body fails, the exchange closes (so the upstream call is cancelled)`, async (t) => {
    const events: string[] = [];
    const { port } = await serve(t, mode, (req, res) => {
      res.onClose(() => events.push(`closed=${res.closed}`));
      req.body.on("error", () => events.push("body error"));
      req.body.on("data", () => {});
    });
    const c = client(t, port);
    c.write("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly some bytes");
    await sleep(100);
    c.socket.destroy();
    await waitFor(() => events.length === 2, "both events");
    assert.deepEqual(events.sort(), ["body error", "closed=true"]);
  });

  test(`[${mode}] timeouts: headers timeout 408 and counted; request timeout 408 for a trickled body (the exchange closed); idle timeout closes`, { timeout: 30_000 }, async (t) => {
    let closedByTimeout = 0;
    const { port, stats } = await serve(
      t,
      mode,
      (req, res) => {
        if (req.rawPath === "/idle") {
          res.writeHead(204, {});
          res.end();
          return;
        }
        res.onClose(() => closedByTimeout++);
        req.body.resume();
      },
      { headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 600 },
    );
    const slowHead = client(t, port);
    const started = Date.now();
    slowHead.write("GET / HTTP/1.1\r\nHost: a\r\n");
    await slowHead.untilClosed();
    assert.ok(Date.now() - started >= 350, `after ${Date.now() - started} ms`);
    assert.match(slowHead.text, /^HTTP\/1\.1 408 /);
    assert.equal(stats.downstreamRqHeaderTimeout, 1);

    const slowBody = client(t, port);
    slowBody.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
    const trickle = setInterval(() => slowBody.socket.writable && slowBody.write("x"), 100);
    await slowBody.untilClosed();
    clearInterval(trickle);
    assert.match(slowBody.text, /^HTTP\/1\.1 408 /);
    assert.equal(stats.downstreamRqTimeout, 1);
    assert.equal(closedByTimeout, 1);

    const idle = client(t, port);
    await once(idle.socket, "connect");
    idle.write("GET /idle HTTP/1.1\r\nHost: a\r\n\r\n");
    await idle.until(/^HTTP\/1\.1 204 /);
    const idleStart = Date.now();
    await idle.untilClosed(5000);
    assert.ok(Date.now() - idleStart >= 500, `idle connection closed after ${Date.now() - idleStart} ms`);
  });

  test(`[${mode}] draining: an idle connection closes at once; a busy one answers with connection: close, then closes`, async (t) => {
    let release: () => void = () => {};
    const { port, conns } = await serve(t, mode, (req, res) => {
      if (req.rawPath === "/slow")
        release = () => {
          res.writeHead(200, { "content-length": "4" });
          res.end(Buffer.from("done"));
        };
      else {
        res.writeHead(200, { "content-length": "0" });
        res.end();
      }
    });
    const idle = client(t, port);
    idle.write("GET /quick HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => idle.responses().length === 1, "the quick answer");
    const busy = client(t, port);
    busy.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => conns.length === 2, "both connections");
    await sleep(50);
    for (const c of conns) c.drain();
    await idle.untilClosed();
    assert.equal(busy.closed, false);
    release();
    await busy.untilClosed();
    assert.equal(busy.responses()[0]?.headers.connection, "close");
    assert.equal(busy.responses()[0]?.body, "done");
  });
}

test("the stream handed over after a 101 reads on its own, with the bytes sent behind the request first", async (t) => {
  for (const mode of MODES) {
    const { port, stats } = await serve(
      t,
      mode,
      (req: DownstreamRequest, res: DownstreamResponse) => {
        const socket = res.switchProtocols!({ "x-up": "1" }, req.upgrade!);
        socket.on("data", (d: Buffer) => socket.write(d.toString("latin1").toUpperCase()));
      },
      { upgradeTypes: ["websocket"] },
    );
    const c = client(t, port);
    c.write("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfirst");
    await c.until(/FIRST$/);
    assert.match(c.text, /^HTTP\/1\.1 101 Switching Protocols\r\nx-up: 1\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n/);
    c.write("second");
    await c.until(/SECOND$/);
    assert.equal(stats.downstreamCxUpgradesActive, 1, mode);
    c.socket.destroy();
    await waitFor(() => stats.downstreamCxUpgradesActive === 0, "the tunnel to close");
  }
});
