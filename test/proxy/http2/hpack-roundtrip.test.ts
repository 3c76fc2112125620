// Randomized round trip: thousands of blocks from HpackEncoder through HpackDecoder on one
// "connection", with repeated and fresh values, every octet value, empty and long strings,
// sensitive and per-response fields, and peer table size changes between blocks. The seed is
// fixed so a failure replays.

import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder } from "../../../src/proxy/http2/hpack-decoder.js";
import { HpackEncoder } from "../../../src/proxy/http2/hpack-encoder.js";
import { seeded } from "../../helpers/seeded-random.js";

const rng = seeded;

const NAMES = [
  "content-type", "server", "date", "content-length", "set-cookie", "authorization", "cache-control",
  "x-request-id", "x-envoy-upstream-service-time", "vary", "etag", "location", "x-custom", "grpc-status",
  "grpc-message", "accept-encoding", ":status", ":path",
];
const VALUES = ["text/plain", "application/json", "meshgate", "gzip, deflate", "0", "1", "no-cache", "/", "200", "", "Accept-Encoding"];

function run(seed: number, huffman: boolean): void {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const randomString = (max: number) => {
    let s = "";
    const n = int(max);
    const ascii = r() < 0.8;
    for (let i = 0; i < n; i++) s += String.fromCharCode(ascii ? 32 + int(95) : int(256));
    return s;
  };
  const e = new HpackEncoder({ huffman });
  const d = new HpackDecoder(4096, 1 << 20);
  let fields = 0;
  for (let block = 0; block < 3000; block++) {
    if (r() < 0.02) e.setPeerTableSize([0, 32, 100, 256, 1000, 4096, 8192][int(7)]!);
    const headers: string[] = [];
    const n = int(12);
    for (let i = 0; i < n; i++) {
      const name = r() < 0.8 ? NAMES[int(NAMES.length)]! : r() < 0.5 ? `x-${randomString(12).toLowerCase()}` : randomString(40);
      const p = r();
      const value = p < 0.5 ? VALUES[int(VALUES.length)]! : p < 0.9 ? randomString(30) : randomString(300);
      headers.push(name, value);
    }
    const status = r() < 0.3 ? 0 : [200, 204, 206, 301, 302, 304, 400, 404, 500, 503, 100 + int(500)][int(11)]!;
    const encoded = e.encode(status, headers);
    const got = d.decode(encoded, 0, encoded.length);
    const expected = status > 0 ? [":status", String(status), ...headers] : headers;
    assert.deepEqual(got, expected, `seed ${seed} block ${block}`);
    assert.equal(e.dynamicTableSize, d.dynamicTableSize, `seed ${seed} block ${block}: table sizes differ`);
    fields += expected.length / 2;
  }
  assert.ok(fields > 15_000);
}

test("randomized encoder -> decoder round trip, raw literals", () => {
  run(0x5eed, false);
});

test("randomized encoder -> decoder round trip, Huffman-coded literals", () => {
  run(0xc0ffee, true);
});
