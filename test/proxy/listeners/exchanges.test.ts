// DownstreamRequest / DownstreamResponse behaviour over real HTTP/1.1 and HTTP/2
// connections: backpressure, the client going away, trailers, resets.

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef, RequestHandler } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { chain, listener, mapOf, portOf } from "./helpers.js";

type Route = (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef) => void;

async function serve(t: { after: (fn: () => Promise<void>) => void }, routes: Record<string, Route>): Promise<number> {
  const m = new ListenerManager({ drainTimeoutMs: 1000 });
  t.after(() => m.close());
  const handler: RequestHandler = (req, res, ref) => {
    const route = routes[req.rawPath];
    if (route) route(req, res, ref);
    else {
      res.writeHead(404, {});
      res.end();
    }
  };
  await m.apply(mapOf(listener("l", [chain({ name: "plain" })])), new Map(), handler);
  return portOf(m.bound(), "l");
}

const TARGET = 64 * 1024 * 1024;

/** Streams TARGET bytes, honouring write() === false by waiting for onDrain. */
function pump(state: { written: number; pauses: number; done: boolean }): Route {
  return (_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const chunk = new Uint8Array(64 * 1024);
    const more = (): void => {
      while (state.written < TARGET) {
        state.written += chunk.length;
        if (!res.write(chunk)) {
          state.pauses++;
          res.onDrain(more);
          return;
        }
      }
      res.end();
      state.done = true;
    };
    more();
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function assertStallsThenFinishes(state: { written: number; pauses: number; done: boolean }, resume: () => void, ended: Promise<unknown>): Promise<void> {
  await sleep(400);
  const stalledAt = state.written;
  await sleep(300);
  assert.equal(state.written, stalledAt, "nothing more is written while the client does not read");
  assert.ok(stalledAt < TARGET && !state.done, `stalled at ${stalledAt} bytes`);
  resume();
  await ended;
  assert.equal(state.done, true);
  assert.ok(state.pauses > 0);
}

test("HTTP/1.1 backpressure: a client that does not read stalls the writer (write() false, onDrain), reading lets it finish", async (t) => {
  const state = { written: 0, pauses: 0, done: false };
  const port = await serve(t, { "/big": pump(state) });
  const s = net.connect(port, "127.0.0.1");
  s.pause();
  s.write("GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  await assertStallsThenFinishes(state, () => s.resume(), once(s, "end"));
  s.destroy();
});

test("HTTP/2 backpressure: the same through the stream's flow control", async (t) => {
  const state = { written: 0, pauses: 0, done: false };
  const port = await serve(t, { "/big": pump(state) });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(async () => {
    session.close();
  });
  const stream = session.request({ ":path": "/big" });
  stream.pause();
  await assertStallsThenFinishes(state, () => stream.resume(), once(stream, "end"));
});

test("the client going away: closed becomes true and onClose runs (HTTP/1.1 and HTTP/2)", async (t) => {
  const seen: string[] = [];
  const waiting: Route = (req, res) => {
    res.onClose(() => seen.push(`${req.protocol} closed=${res.closed}`));
  };
  const port = await serve(t, { "/wait": waiting });
  const s = net.connect(port, "127.0.0.1");
  s.write("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n");
  await new Promise((r) => setTimeout(r, 200));
  s.destroy();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  const stream = session.request({ ":path": "/wait" });
  stream.on("error", () => {});
  await new Promise((r) => setTimeout(r, 200));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  for (let i = 0; i < 40 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  session.close();
  assert.deepEqual(seen.sort(), ["h2 closed=true", "http/1.1 closed=true"]);
});

test("a completed response does not run onClose", async (t) => {
  let called = false;
  const port = await serve(t, {
    "/ok": (_req, res) => {
      res.onClose(() => (called = true));
      res.writeHead(200, { "content-length": "2" });
      res.end(Buffer.from("ok"));
    },
  });
  const body = await new Promise<string>((resolve) => http.get(`http://127.0.0.1:${port}/ok`, (r) => r.on("data", (d: Buffer) => resolve(d.toString()))));
  assert.equal(body, "ok");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(called, false);
});

test("trailers: HTTP/1.1 chunked trailers and HTTP/2 trailers (request with te: trailers)", async (t) => {
  const withTrailers: Route = (_req, res) => {
    res.writeHead(200, { "content-type": "application/grpc", trailer: "grpc-status" });
    res.write(Buffer.from("part"));
    res.end(undefined, { "grpc-status": "0", "grpc-message": "fine", ignored: undefined });
  };
  const port = await serve(t, { "/t": withTrailers });
  const h1 = await new Promise<Record<string, string | undefined>>((resolve) =>
    http.get(`http://127.0.0.1:${port}/t`, { headers: { te: "trailers" } }, (r) => {
      r.resume();
      r.on("end", () => resolve(r.trailers));
    }),
  );
  assert.equal(h1["grpc-status"], "0");
  assert.equal(h1["grpc-message"], "fine");

  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(async () => {
    session.close();
  });
  const stream = session.request({ ":path": "/t", te: "trailers" });
  let body = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => (body += d));
  const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];
  assert.equal(body, "part");
  assert.equal(trailers["grpc-status"], "0");
  assert.equal(trailers["grpc-message"], "fine");
});

test("HTTP/2 response headers: connection-specific fields are dropped, a body-less response ends with the headers", async (t) => {
  const port = await serve(t, {
    "/h": (_req, res) => {
      res.writeHead(204, { connection: "keep-alive", "keep-alive": "timeout=5", "transfer-encoding": "chunked", "x-kept": "yes", "x-undefined": undefined });
      res.end();
    },
  });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(async () => {
    session.close();
  });
  const stream = session.request({ ":path": "/h" });
  const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  assert.equal(headers[":status"], 204);
  assert.equal(headers["x-kept"], "yes");
  assert.equal(headers.connection, undefined);
  assert.equal(headers["x-undefined"], undefined);
  stream.resume();
  await once(stream, "end");
});

test("destroy(): HTTP/2 resets the stream (the session survives); HTTP/1.1 resets the connection", async (t) => {
  const broken: Route = (_req, res) => {
    res.writeHead(200, {});
    res.write(Buffer.from("partial"));
    setTimeout(() => res.destroy(new Error("upstream reset")), 50);
  };
  const port = await serve(t, { "/broken": broken, "/fine": (_q, r) => (r.writeHead(200, { "content-length": "0" }), r.end()) });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(async () => {
    session.close();
  });
  const stream = session.request({ ":path": "/broken" });
  stream.resume();
  const closed = new Promise((resolve) => stream.on("close", resolve));
  stream.on("error", () => {});
  await closed;
  assert.equal(stream.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  const ok = session.request({ ":path": "/fine" });
  const [h] = (await once(ok, "response")) as [http2.IncomingHttpHeaders];
  assert.equal(h[":status"], 200);
  ok.resume();

  const err = await new Promise<Error>((resolve) => {
    const req = http.get(`http://127.0.0.1:${port}/broken`, (r) => {
      r.resume();
      r.on("error", resolve);
      r.on("aborted", () => resolve(new Error("aborted")));
    });
    req.on("error", resolve);
  });
  assert.ok(err instanceof Error);
});

test("a handler that throws: 500 for the client, the process keeps going", async (t) => {
  const port = await serve(t, {
    "/throw": () => {
      throw new Error("bug");
    },
  });
  const status = await new Promise<number>((resolve) => http.get(`http://127.0.0.1:${port}/throw`, (r) => (r.resume(), resolve(r.statusCode!))));
  assert.equal(status, 500);
});
