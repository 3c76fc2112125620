// The HTTP/1.1 pool and the downstream HTTP/1.1 server drive Node's native parser through
// `_http_common`, which Node does not document. These tests pin exactly what they rely
// on, so a Node version that changes the binding fails here and not in production.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import { test } from "node:test";
import { consumeSocket, HTTPParser, isParseError, methods, releaseSocket, setReading, type NativeParser } from "../../../src/proxy/upstream/llhttp.js";

interface Events {
  heads: unknown[][];
  flushed: string[][];
  bodies: Buffer[];
  completes: number;
}

function parser(maxHeaderSize = 0, onHeadersComplete?: (...a: unknown[]) => number): { p: NativeParser; ev: Events } {
  const ev: Events = { heads: [], flushed: [], bodies: [], completes: 0 };
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, maxHeaderSize, HTTPParser.kLenientNone);
  p[HTTPParser.kOnHeaders] = (fields: string[]) => void ev.flushed.push(fields);
  p[HTTPParser.kOnHeadersComplete] = (...a: unknown[]) => {
    ev.heads.push(a);
    return onHeadersComplete ? onHeadersComplete(...a) : 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => void ev.bodies.push(b);
  p[HTTPParser.kOnMessageComplete] = () => void ev.completes++;
  return { p, ev };
}

test("the binding has the constructor, constants and methods the pool uses", () => {
  assert.equal(typeof HTTPParser, "function");
  for (const k of ["REQUEST", "RESPONSE", "kOnHeaders", "kOnHeadersComplete", "kOnBody", "kOnMessageComplete", "kOnExecute", "kLenientNone"] as const) {
    assert.equal(Number.isInteger(HTTPParser[k]), true, `HTTPParser.${k} is an integer`);
  }
  const slots = new Set([HTTPParser.kOnHeaders, HTTPParser.kOnHeadersComplete, HTTPParser.kOnBody, HTTPParser.kOnMessageComplete]);
  assert.equal(slots.size, 4, "callback slots are distinct");
  assert.ok(Array.isArray(methods) && methods.includes("GET") && methods.includes("CONNECT"), "methods");
  for (const m of ["initialize", "execute", "finish", "close", "duration", "headersCompleted", "consume", "unconsume", "getCurrentBuffer"]) assert.equal(typeof (HTTPParser.prototype as unknown as Record<string, unknown>)[m], "function", m);
});

test("initialize(RESPONSE, resource, maxHeaderSize, lenientFlags) is accepted (a wrong call aborts Node, so it runs in a child)", () => {
  const script = `
    import { HTTPParser } from "./src/proxy/upstream/llhttp.ts";
    const p = new HTTPParser();
    p.initialize(HTTPParser.RESPONSE, {}, 61440, HTTPParser.kLenientNone);
    const r = p.execute(Buffer.from("HTTP/1.1 204 No Content\\r\\n\\r\\n"));
    p.close();
    process.stdout.write(String(r));
  `;
  const out = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(out.status, 0, `the parser probe failed (Node's HTTPParser binding changed?): signal=${out.signal} stderr=${out.stderr}`);
  assert.equal(out.stdout, "27");
});

test("headers complete: version, fields as [name, value, ...] in wire case, status, reason, upgrade, keep-alive; body chunks are copies", () => {
  const { p, ev } = parser();
  const input = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  assert.equal(p.execute(input.subarray(0, 20)), 20, "execute returns the bytes parsed");
  assert.equal(p.execute(input.subarray(20)), input.length - 20);
  assert.equal(ev.heads.length, 1);
  const [major, minor, fields, method, url, status, reason, upgrade, keepAlive] = ev.heads[0]!;
  assert.deepEqual([major, minor, fields, method, url, status, reason, upgrade, keepAlive], [1, 1, ["Content-Type", "text/plain", "Content-Length", "5"], undefined, undefined, 200, "OK", false, true]);
  assert.equal(Buffer.concat(ev.bodies).toString(), "hello");
  input.fill(0);
  assert.equal(Buffer.concat(ev.bodies).toString(), "hello", "the body Buffer does not alias the input");
  assert.equal(ev.completes, 1);
  p.close();
});

test("HTTP/1.0 and Connection: close are not keep-alive; a close-delimited body completes on finish()", () => {
  const { p, ev } = parser();
  assert.equal(typeof p.execute(Buffer.from("HTTP/1.0 200 OK\r\n\r\nuntil the end")), "number");
  assert.equal(ev.heads[0]![8], false);
  assert.equal(ev.completes, 0);
  assert.equal(p.finish(), undefined);
  assert.equal(ev.completes, 1);
  assert.equal(Buffer.concat(ev.bodies).toString(), "until the end");
  const second = parser();
  second.p.execute(Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  assert.equal(second.ev.heads[0]![8], false);
  const cut = parser();
  cut.p.execute(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  const err = cut.p.finish();
  assert.ok(isParseError(err), "finish() before the announced length is an error");
  assert.equal(err.code, "HPE_INVALID_EOF_STATE");
});

test("more than 32 fields arrive through kOnHeaders and headers is undefined; trailers arrive through kOnHeaders before completion", () => {
  const { p, ev } = parser();
  const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join("");
  p.execute(Buffer.from(`HTTP/1.1 200 OK\r\n${many}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n`));
  assert.equal(ev.heads[0]![2], undefined);
  const flushedHead = ev.flushed.slice(0, -1).flat();
  assert.equal(flushedHead.length, 82);
  assert.deepEqual(flushedHead.slice(0, 2), ["X-H0", "v0"]);
  assert.deepEqual(ev.flushed.at(-1), ["X-Checksum", "42"]);
  assert.equal(ev.completes, 1);
});

test("returning 1 from kOnHeadersComplete means no body; 1xx responses are messages of their own", () => {
  const { p, ev } = parser(0, () => 1);
  p.execute(Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"));
  assert.deepEqual(ev.heads.map((h) => h[5]), [100, 200, 204]);
  assert.equal(ev.completes, 3);
  assert.equal(ev.bodies.length, 0);
});

test("errors: execute returns an Error with code, reason and bytesParsed; maxHeaderSize is enforced; a callback's exception propagates", () => {
  const bad = parser();
  const err = bad.p.execute(Buffer.from("garbage\r\n\r\n"));
  assert.ok(isParseError(err));
  assert.equal(err.code, "HPE_INVALID_CONSTANT");
  assert.equal(typeof err.reason, "string");
  assert.equal(typeof err.bytesParsed, "number");
  const big = parser(100);
  const overflow = big.p.execute(Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${"x".repeat(200)}\r\n\r\n`));
  assert.ok(isParseError(overflow));
  assert.equal(overflow.code, "HPE_HEADER_OVERFLOW");
  const throwing = parser(0, () => {
    throw new Error("from the callback");
  });
  assert.throws(() => throwing.p.execute(Buffer.from("HTTP/1.1 200 OK\r\n\r\n")), /from the callback/);
});

// ---- REQUEST mode, as the downstream HTTP/1.1 server drives it ------------------------

function requestParser(maxHeaderSize = 0): { p: NativeParser; heads: unknown[][]; flushed: [string[], string][]; bodies: Buffer[]; completes: () => number } {
  const heads: unknown[][] = [];
  const flushed: [string[], string][] = [];
  const bodies: Buffer[] = [];
  let completes = 0;
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, HTTPParser.kLenientNone);
  p[HTTPParser.kOnHeaders] = (fields: string[], url: string) => void flushed.push([fields, url]);
  p[HTTPParser.kOnHeadersComplete] = (...a: unknown[]) => (heads.push(a), 0);
  p[HTTPParser.kOnBody] = (b: Buffer) => void bodies.push(b);
  p[HTTPParser.kOnMessageComplete] = () => void completes++;
  return { p, heads, flushed, bodies, completes: () => completes };
}

test("REQUEST mode: method as an index into methods, the target, upgrade and keep-alive; pipelined messages in one execute", () => {
  const { p, heads, completes } = requestParser();
  const input = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
  assert.equal(p.execute(Buffer.from(input)), input.length);
  assert.equal(completes(), 2);
  const [major, minor, fields, method, url, , , upgrade, keepAlive] = heads[0]!;
  assert.deepEqual([major, minor, fields, methods[method as number], url, upgrade, keepAlive], [1, 1, ["Host", "x"], "GET", "/a?b=1", false, true]);
  assert.deepEqual([methods[heads[1]![3] as number], heads[1]![8]], ["POST", false]);
  p.close();
});

test("REQUEST mode: more than 32 fields and the target come through kOnHeaders; headers and url are then undefined", () => {
  const { p, heads, flushed } = requestParser();
  p.execute(Buffer.from(`GET /many HTTP/1.1\r\n${Array.from({ length: 40 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`));
  assert.equal(heads[0]![2], undefined);
  assert.equal(heads[0]![4], undefined);
  assert.equal(flushed.map(([, url]) => url).join(""), "/many");
  assert.equal(flushed.flatMap(([f]) => f).length, 80);
  p.close();
});

test("REQUEST mode: an upgrade stops execute after the message (the rest is not parsed); the next execute goes on", () => {
  const { p, heads, completes } = requestParser();
  const head = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  assert.equal(p.execute(Buffer.from(`${head}GET /next HTTP/1.1\r\nHost: x\r\n\r\n`)), head.length);
  assert.equal(heads[0]![7], true);
  assert.equal(completes(), 1);
  p.execute(Buffer.from("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.equal(heads[1]![4], "/next");
  p.close();
});

test("REQUEST mode errors: header block (target included) over the limit, chunk extensions over 16 KiB, CL with TE, bytes after Connection: close", () => {
  const codes = (input: string, max = 0): string => {
    const r = requestParser(max).p.execute(Buffer.from(input));
    assert.ok(isParseError(r), input.slice(0, 30));
    return r.code;
  };
  assert.equal(codes(`GET /${"a".repeat(200)} HTTP/1.1\r\nHost: x\r\n\r\n`, 100), "HPE_HEADER_OVERFLOW");
  assert.equal(codes(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(17_000)}\r\nx\r\n`), "HPE_CHUNK_EXTENSIONS_OVERFLOW");
  assert.match(codes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), /^HPE_/);
  assert.equal(codes("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "HPE_CLOSED_CONNECTION");
});

test("duration() is 0 between messages and counts from a message's first byte; headersCompleted() says whether its head is complete", async () => {
  const { p } = requestParser();
  p.execute(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.equal(p.duration(), 0);
  p.execute(Buffer.from("POST / HTTP/1.1\r\nHo"));
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(p.duration() >= 25, String(p.duration()));
  assert.equal(p.headersCompleted(), false);
  p.execute(Buffer.from("st: x\r\nContent-Length: 2\r\n\r\na"));
  assert.equal(p.headersCompleted(), true);
  assert.ok(p.duration() > 0);
  p.execute(Buffer.from("b"));
  assert.equal(p.duration(), 0);
  p.close();
});

test("consume(socket._handle): reads go to the parser, kOnExecute gets execute's result, getCurrentBuffer() the bytes; unconsume() gives the stream back", async (t) => {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  t.after(() => client.destroy());
  const [socket] = (await once(server, "connection")) as [net.Socket];
  const { p, heads } = requestParser();
  const executed: { ret: unknown; bytes: string }[] = [];
  p[HTTPParser.kOnExecute] = (ret: unknown) => void executed.push({ ret, bytes: p.getCurrentBuffer().toString("latin1") });
  const handle = consumeSocket(p, socket, p[HTTPParser.kOnExecute] as (ret: unknown) => void);
  assert.ok(handle !== null, "a TCP socket has a native stream");
  assert.equal(consumeSocket(requestParser().p, socket, () => {}), null, "a stream is consumed once");
  const viaData: string[] = [];
  socket.on("data", (d: Buffer) => viaData.push(d.toString("latin1")));
  client.write("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  while (executed.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(executed[0], { ret: 28, bytes: "GET /c HTTP/1.1\r\nHost: x\r\n\r\n" });
  assert.equal(heads[0]![4], "/c");
  assert.deepEqual(viaData, [], "the socket's stream saw nothing");
  setReading(handle, false);
  releaseSocket(p, handle, true);
  client.write("after");
  while (viaData.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(viaData.join(""), "after");
  assert.equal(executed.length, 1);
  setImmediate(() => p.close());
});
