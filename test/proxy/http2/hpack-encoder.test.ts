// HpackEncoder: the octets its policy produces (checked by hand against RFC 7541 §6), that
// HpackDecoder reads them back, and dynamic table size updates after the peer's SETTINGS.

import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder } from "../../../src/proxy/http2/hpack-decoder.js";
import { HpackEncoder } from "../../../src/proxy/http2/hpack-encoder.js";

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const ascii = (s: string): string => Buffer.from(s, "latin1").toString("hex");
const len7 = (s: string): string => s.length.toString(16).padStart(2, "0");

/** Encodes and decodes one block, checking the decoder sees the same list and table size. */
function roundTrip(e: HpackEncoder, d: HpackDecoder, status: number, headers: string[]): string {
  const block = e.encode(status, headers);
  const out = hexOf(block);
  const expected = status > 0 ? [":status", String(status), ...headers] : headers;
  assert.deepEqual(d.decode(block, 0, block.length), expected);
  assert.equal(e.dynamicTableSize, d.dynamicTableSize, "encoder and decoder tables differ");
  return out;
}

test(":status: static indexes for 200/204/206/304/400/404/500, indexed literal otherwise, reused", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  const statics: [number, string][] = [[200, "88"], [204, "89"], [206, "8a"], [304, "8b"], [400, "8c"], [404, "8d"], [500, "8e"]];
  for (const [status, octets] of statics) assert.equal(roundTrip(e, d, status, []), octets);
  assert.equal(roundTrip(e, d, 302, []), "4803" + ascii("302")); // with incremental indexing, name index 8
  assert.equal(roundTrip(e, d, 302, []), "be");
  assert.equal(roundTrip(e, d, 503, []), "4803" + ascii("503"));
  assert.equal(roundTrip(e, d, 302, []), "bf");
  // Trailers: no :status at all.
  assert.equal(roundTrip(e, d, 0, ["grpc-status", "0"]), "40" + "0b" + ascii("grpc-status") + "01" + ascii("0"));
  assert.equal(roundTrip(e, d, 0, ["grpc-status", "0"]), "be");
});

test("repeated fields are indexed once then sent as one octet; names use static or dynamic indexes", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  const h = ["content-type", "text/plain", "server", "meshgate", "x-backend", "b1"];
  assert.equal(
    roundTrip(e, d, 200, h),
    "88" +
      "5f" + len7("text/plain") + ascii("text/plain") + // content-type = static 31, 6-bit prefix
      "76" + len7("meshgate") + ascii("meshgate") + // server = static 54
      "40" + len7("x-backend") + ascii("x-backend") + len7("b1") + ascii("b1"),
  );
  assert.equal(roundTrip(e, d, 200, h), "88" + "c0" + "bf" + "be");
  // A new value for a known custom name: the name is the dynamic entry's (index 62).
  assert.equal(roundTrip(e, d, 200, ["x-backend", "b2"]), "88" + "7e" + len7("b2") + ascii("b2"));
  assert.equal(roundTrip(e, d, 200, ["x-backend", "b1", "x-backend", "b2"]), "88" + "bf" + "be");
});

test("sensitive fields are never indexed; per-response fields are literals without indexing", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  const auth = "Bearer abc";
  const cookie = "id=1";
  // authorization = static 23 -> 4-bit prefix 15 + 8; set-cookie = 55 -> 15 + 40.
  const never = "1f08" + len7(auth) + ascii(auth) + "1f28" + len7(cookie) + ascii(cookie);
  assert.equal(roundTrip(e, d, 0, ["authorization", auth, "set-cookie", cookie]), never);
  assert.equal(roundTrip(e, d, 0, ["authorization", auth, "set-cookie", cookie]), never);
  assert.equal(roundTrip(e, d, 0, ["cookie", "a=b", "proxy-authorization", "x"]), "1f11" + "03" + ascii("a=b") + "1f22" + "01" + ascii("x"));
  const date = "Mon, 21 Oct 2013 20:13:21 GMT";
  // date = 33 -> 15 + 18; content-length = 28 -> 15 + 13; x-request-id: literal name.
  const perResponse = "0f12" + len7(date) + ascii(date) + "0f0d" + "03" + ascii("100") + "00" + len7("x-request-id") + ascii("x-request-id") + "02" + ascii("r1");
  assert.equal(roundTrip(e, d, 0, ["date", date, "content-length", "100", "x-request-id", "r1"]), perResponse);
  assert.equal(roundTrip(e, d, 0, ["date", date, "content-length", "100", "x-request-id", "r1"]), perResponse);
  assert.equal(e.dynamicTableSize, 0);
});

test("long values are not indexed; a name whose values never repeat stops being indexed", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  const long = "v".repeat(65);
  assert.equal(roundTrip(e, d, 0, ["location", long]), "0f1f" + "41" + ascii(long)); // location = 46 -> 15 + 31
  assert.equal(e.dynamicTableSize, 0);
  for (let i = 0; i < 8; i++) assert.match(roundTrip(e, d, 0, ["x-upstream-time", `${i}`]), /^40|^7e/);
  // Ninth new value after eight misses: literal without indexing, name from the table.
  assert.equal(roundTrip(e, d, 0, ["x-upstream-time", "9"]), "0f2f" + "01" + ascii("9")); // 62 = 15 + 47
  // A reuse of a value still in the table resets the count.
  assert.equal(roundTrip(e, d, 0, ["x-upstream-time", "7"]), "be");
  assert.match(roundTrip(e, d, 0, ["x-upstream-time", "10"]), /^7e/);
});

test("the peer's table size: 0 disables indexing after a size update; back up re-enables it", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  roundTrip(e, d, 200, ["server", "meshgate"]);
  assert.equal(e.dynamicTableSize, 32 + 6 + 8);
  e.setPeerTableSize(0);
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "20" + "88" + "0f27" + "08" + ascii("meshgate"));
  assert.equal(d.dynamicTableCapacity, 0);
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "88" + "0f27" + "08" + ascii("meshgate"));
  e.setPeerTableSize(4096);
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "3fe11f" + "88" + "76" + "08" + ascii("meshgate"));
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "88be");
  // Same size again, or a larger one than meshgate uses (4096): no update.
  e.setPeerTableSize(4096);
  e.setPeerTableSize(65536);
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "88be");
});

test("the peer's table size: a dip and return between blocks signals the smallest size, then the final one", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 65536);
  roundTrip(e, d, 200, ["x-a", "1", "server", "meshgate"]);
  e.setPeerTableSize(100);
  e.setPeerTableSize(50); // the oldest, x-a: 1 (36), is evicted; server: meshgate (46) still fits
  e.setPeerTableSize(4096);
  assert.equal(roundTrip(e, d, 200, ["server", "meshgate"]), "3f13" + "3fe11f" + "88" + "be");
  assert.equal(e.dynamicTableSize, 46);
  // A smaller table evicts in the encoder as the decoder will.
  e.setPeerTableSize(256);
  for (let i = 0; i < 10; i++) roundTrip(e, d, 200, ["x-b", `value-${i}`]);
  assert.ok(e.dynamicTableSize <= 256);
});

test("huffman option: literals are Huffman-coded when shorter, and decode the same", () => {
  const plain = new HpackEncoder();
  const coded = new HpackEncoder({ huffman: true });
  const h = ["content-type", "text/html; charset=utf-8", "date", "Mon, 21 Oct 2013 20:13:21 GMT", "x-bin", "\x00\xff\xfe"];
  const d = new HpackDecoder(4096, 65536);
  const a = roundTrip(plain, new HpackDecoder(4096, 65536), 200, h);
  const b = roundTrip(coded, d, 200, h);
  assert.ok(b.length < a.length, `huffman ${b.length / 2} octets, raw ${a.length / 2}`);
  // "x-bin" is shorter coded; its binary value is not, so it stays raw.
  assert.ok(b.endsWith("03" + "00fffe"), b);
  // Static example from RFC 7541 C.4.1: "www.example.com" codes as f1e3c2e5f23a6ba0ab90f4ff.
  assert.ok(roundTrip(coded, d, 0, ["x-host", "www.example.com"]).endsWith("8cf1e3c2e5f23a6ba0ab90f4ff"));
});

test("values with every octet, long names and many fields round-trip; the result is a view valid until the next call", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 1 << 20);
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  const h: string[] = ["x-all", all, "x-" + "n".repeat(300), "v"];
  for (let i = 0; i < 500; i++) h.push(`x-field-${i}`, `value-${i % 7}`);
  roundTrip(e, d, 200, h);
  roundTrip(e, d, 200, h);
  const first = e.encode(200, ["server", "a"]);
  const copy = Uint8Array.from(first);
  e.encode(200, ["server", "b"]);
  assert.notDeepEqual(Uint8Array.from(first), copy, "the view was expected to be reused");
});
