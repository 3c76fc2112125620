// HPACK interop with real HTTP/2 peers (node:http2's client and curl, both built on nghttp2):
// a raw-frame server decodes the header blocks they send with HpackDecoder, and answers with
// header blocks from HpackEncoder that they must read back exactly, across many requests on
// one connection (so both dynamic tables are in use) and after the client asks for a smaller
// table (SETTINGS_HEADER_TABLE_SIZE 256 and 0).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import { HpackDecoder } from "../../../src/proxy/http2/hpack-decoder.js";
import { HpackEncoder, type HpackEncoderOptions } from "../../../src/proxy/http2/hpack-encoder.js";
import { startRawH2Server, type RawConnection } from "./raw-h2-server.js";

const SETTINGS_HEADER_TABLE_SIZE = 0x1;

interface Received {
  readonly list: string[];
  readonly blockLength: number;
}

/** A raw server with one HpackDecoder and HpackEncoder per connection; `respond` builds each response. */
async function hpackServer(respond: (request: string[], index: number) => { status: number; headers: string[] }, encoderOptions: HpackEncoderOptions = {}) {
  const received: Received[] = [];
  const errors: unknown[] = [];
  const peerTableSizes: number[] = [];
  const codecs = new Map<RawConnection, { decoder: HpackDecoder; encoder: HpackEncoder }>();
  const codec = (conn: RawConnection) => {
    let c = codecs.get(conn);
    if (c === undefined) codecs.set(conn, (c = { decoder: new HpackDecoder(4096, 1 << 20), encoder: new HpackEncoder(encoderOptions) }));
    return c;
  };
  const server = await startRawH2Server({
    onSettings(conn, settings) {
      const size = settings.get(SETTINGS_HEADER_TABLE_SIZE);
      if (size !== undefined) {
        peerTableSizes.push(size);
        codec(conn).encoder.setPeerTableSize(size);
      }
    },
    onHeaders(conn, streamId, block) {
      const { decoder, encoder } = codec(conn);
      const list = decoder.decode(block, 0, block.length);
      assert.ok(list !== null);
      received.push({ list, blockLength: block.length });
      const { status, headers } = respond(list, received.length - 1);
      conn.sendHeaders(streamId, encoder.encode(status, headers), true);
    },
    onError: (err) => errors.push(err),
  });
  return { ...server, received, errors, peerTableSizes, codecs };
}

function get(list: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) out.push(list[i + 1]!);
  return out;
}

function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers);
    let response: http2.IncomingHttpHeaders | undefined;
    let ended = false;
    // A peer that fails to decode our headers ends the connection with a COMPRESSION_ERROR;
    // node's client does not always close the pending stream then, so time out instead of hanging.
    const timer = setTimeout(() => {
      reject(new Error(`no response within 5 s (session ${client.destroyed ? "destroyed" : "open"})`));
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, 5000);
    req.on("response", (h) => (response = h));
    req.on("error", reject);
    req.on("end", () => (ended = true));
    req.on("close", () => {
      clearTimeout(timer);
      if (response && ended) resolve(response);
      else reject(new Error(`stream closed without a response (code ${req.rstCode})`));
    });
    req.resume();
    req.end();
  });
}

function connect(port: number, options: http2.ClientSessionOptions = {}): http2.ClientHttp2Session {
  const client = http2.connect(`http://127.0.0.1:${port}`, options);
  client.on("error", () => {}); // surfaces as the pending stream's failure
  return client;
}

function close(client: http2.ClientHttp2Session): Promise<void> {
  if (client.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    client.once("close", () => resolve());
    client.destroy();
  });
}

test("node:http2 client requests on one connection decode with HpackDecoder (dynamic table, Huffman, CONTINUATION)", async () => {
  const server = await hpackServer(() => ({ status: 200, headers: [] }));
  const client = connect(server.port);
  const sent: http2.OutgoingHttpHeaders[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const h: http2.OutgoingHttpHeaders = {
        ":method": i % 3 === 0 ? "POST" : "GET",
        ":path": `/items/${i}?q=${"abc".repeat(i)}`,
        "user-agent": "meshgate-interop/1.0",
        "accept-encoding": "gzip, deflate",
        "x-repeated": "the same value on every request",
        "x-varying": `value-${i}-${i * 7919}`,
        "x-huffman-friendly": "www.example.com/static/app.js",
        "x-symbols": "~!@#$%^&*()_+{}|:<>?`-=[];',./\"",
        authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "x-long": i === 5 ? "L".repeat(20_000) : "short",
      };
      sent.push(h);
      const res = await request(client, h);
      assert.equal(res[":status"], 200);
    }
  } finally {
    await close(client);
    await server.close();
  }
  assert.deepEqual(server.errors, []);
  assert.equal(server.received.length, 20);
  for (const [i, h] of sent.entries()) {
    const { list } = server.received[i]!;
    assert.deepEqual(get(list, ":method"), [h[":method"]]);
    assert.deepEqual(get(list, ":path"), [h[":path"]]);
    assert.deepEqual(get(list, ":scheme"), ["http"]);
    assert.deepEqual(get(list, ":authority"), [`127.0.0.1:${server.port}`]);
    for (const [name, value] of Object.entries(h)) assert.deepEqual(get(list, name), [value], `request ${i}: ${name}`);
  }
  // The client's encoder used the dynamic table: later blocks are a fraction of the first.
  const first = server.received[0]!.blockLength;
  const later = server.received[19]!.blockLength;
  assert.ok(later < first / 2, `block 20 is ${later} octets, block 1 ${first}`);
  assert.ok(server.received[5]!.blockLength > 16_384, "the long value was expected to need CONTINUATION frames");
  const { decoder } = [...server.codecs.values()][0]!;
  assert.ok(decoder.dynamicTableSize > 0);
});

/** The response for request i: repeated, varying, sensitive, per-response and long fields. */
function response(i: number): { status: number; headers: string[] } {
  const status = [200, 200, 404, 302, 201, 503, 200, 304][i % 8]!;
  const headers = [
    "content-type", i % 5 === 4 ? "application/json" : "text/plain; charset=utf-8",
    "server", "meshgate",
    "date", new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toUTCString(),
    "x-envoy-upstream-service-time", String(i % 4),
    "x-request-id", `req-${i}-${(i * 2654435761) >>> 0}`,
    "set-cookie", `session=${i}; Path=/; HttpOnly`,
    "cache-control", i % 2 === 0 ? "no-cache" : "max-age=60",
    "x-huffman-friendly", "www.example.com",
    "vary", "accept-encoding",
  ];
  if (status === 302) headers.push("location", `https://www.example.com/next/${i}`);
  if (i % 10 === 7) headers.push("x-long", "Z".repeat(3000));
  headers.push("x-custom-" + (i % 3), "v" + (i % 2));
  return { status, headers };
}

type SeenHeaders = Record<string, string | string[] | number | undefined>;

function assertResponse(i: number, got: SeenHeaders): void {
  const want = response(i);
  assert.equal(got[":status"], want.status, `response ${i}`);
  for (let k = 0; k < want.headers.length; k += 2) {
    const name = want.headers[k]!;
    const value = want.headers[k + 1]!;
    assert.deepEqual(got[name], name === "set-cookie" ? [value] : value, `response ${i}: ${name}`);
  }
}

for (const { tableSize, huffman } of [
  { tableSize: undefined, huffman: false },
  { tableSize: 256, huffman: true },
  { tableSize: 0, huffman: false },
]) {
  test(`HpackEncoder responses read back by a node:http2 client (client header table ${tableSize ?? "default"}, huffman ${huffman})`, async () => {
    const server = await hpackServer((_, i) => response(i), { huffman });
    const client = connect(server.port, tableSize === undefined ? {} : { settings: { headerTableSize: tableSize } });
    try {
      for (let i = 0; i < 40; i++) assertResponse(i, (await request(client, { ":path": `/r/${i}` })) as SeenHeaders);
    } catch (err) {
      throw new Error(`${(err as Error).message}; the server saw: ${server.errors.map(String).join("; ") || "no error"}`, { cause: err });
    } finally {
      await close(client);
      await server.close();
    }
    assert.deepEqual(server.errors, []);
    const { encoder } = [...server.codecs.values()][0]!;
    if (tableSize !== undefined) assert.ok(server.peerTableSizes.includes(tableSize));
    if (tableSize === 0) assert.equal(encoder.dynamicTableSize, 0);
    else assert.ok(encoder.dynamicTableSize > 0 && encoder.dynamicTableSize <= (tableSize ?? 4096));
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "20", "--http2-prior-knowledge", ...args], { encoding: "latin1" }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("curl: its requests decode with HpackDecoder and it reads HpackEncoder responses, 12 transfers on one connection", async () => {
  const server = await hpackServer((_, i) => response(i));
  const args: string[] = [];
  const n = 12;
  try {
    for (let i = 0; i < n; i++) {
      if (i > 0) args.push("--next");
      args.push("-o", "/dev/null", "-D", "-", "-H", "x-repeated: same value", "-H", `x-varying: v${i}`, "-H", `x-long: ${i === 3 ? "Q".repeat(5000) : "q"}`);
      args.push(`http://127.0.0.1:${server.port}/c/${i}`);
    }
    const { code, stdout, stderr } = await curl(args);
    assert.equal(code, 0, stderr);
    // -D - prints each transfer's response headers, each block starting with its status line.
    const blocks = stdout.split(/(?=^HTTP\/2 )/m).filter((b) => b.trim() !== "");
    assert.equal(blocks.length, n);
    for (const [i, b] of blocks.entries()) {
      const lines = b.trim().split(/\r?\n/);
      const got: SeenHeaders = { ":status": Number(lines[0]!.split(" ")[1]) };
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === "set-cookie") got[name] = [value];
        else got[name] = value;
      }
      assertResponse(i, got);
    }
  } finally {
    await server.close();
  }
  assert.deepEqual(server.errors, []);
  assert.equal(server.codecs.size, 1, "curl was expected to reuse one connection");
  assert.equal(server.received.length, n);
  for (const [i, { list }] of server.received.entries()) {
    assert.deepEqual(get(list, ":path"), [`/c/${i}`]);
    assert.deepEqual(get(list, "x-repeated"), ["same value"]);
    assert.deepEqual(get(list, "x-varying"), [`v${i}`]);
    assert.deepEqual(get(list, "x-long"), [i === 3 ? "Q".repeat(5000) : "q"]);
    assert.match(get(list, "user-agent")[0] ?? "", /^curl\//);
  }
  assert.ok(server.received[n - 1]!.blockLength < server.received[0]!.blockLength / 2);
});
