import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import { looksLikeTls, parseClientHello } from "../../../src/proxy/listeners/client-hello.js";

/** The first flight a real client (node:tls) sends, captured by a plain TCP server. */
async function captureClientHello(servername?: string): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const got = new Promise<Buffer>((resolve) => server.once("connection", (s) => s.once("data", (d: Buffer) => (resolve(d), s.destroy()))));
  const client = tls.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, ...(servername ? { servername } : {}), ALPNProtocols: ["h2"] });
  client.on("error", () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

/** Re-frames one handshake record as two records split at `at` bytes of payload. */
function splitRecord(hello: Buffer, at: number): Buffer {
  const payload = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const rec = (p: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, p.length >> 8, p.length & 0xff]), p]);
  return Buffer.concat([rec(payload.subarray(0, at)), rec(payload.subarray(at))]);
}

test("SNI from a real ClientHello, lowercased; none without SNI", async () => {
  const hello = await captureClientHello("Shop.Example");
  assert.equal(looksLikeTls(hello), true);
  assert.deepEqual(parseClientHello(hello), { kind: "hello", serverName: "shop.example" });
  // node:tls sends no SNI for an IP address.
  assert.deepEqual(parseClientHello(await captureClientHello()), { kind: "hello", serverName: undefined });
});

test("partial data is incomplete; a handshake split over records is joined", async () => {
  const hello = await captureClientHello("a.api.example");
  for (const n of [1, 5, 9, 60, hello.length - 1]) assert.deepEqual(parseClientHello(hello.subarray(0, n)), { kind: "incomplete" }, `${n} bytes`);
  for (const at of [2, 4, 40, 100]) assert.deepEqual(parseClientHello(splitRecord(hello, at)), { kind: "hello", serverName: "a.api.example" }, `split at ${at}`);
});

test("not a ClientHello: invalid", () => {
  assert.equal(looksLikeTls(Buffer.from("GET / HTTP/1.1\r\n")), false);
  assert.deepEqual(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])), { kind: "invalid" }); // ServerHello type
  assert.deepEqual(parseClientHello(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28])), { kind: "invalid" }); // alert
  const truncated = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00]);
  assert.deepEqual(parseClientHello(truncated), { kind: "invalid" });
});
