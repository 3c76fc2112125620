// HpackDecoder against RFC 7541 Appendix C (the examples are data copied from the RFC), and
// every decoding error a hostile peer can provoke.

import { test } from "node:test";
import assert from "node:assert/strict";
import { H2_ERROR, Http2ConnectionError } from "../../../src/proxy/http2/errors.js";
import { HpackDecoder } from "../../../src/proxy/http2/hpack-decoder.js";
import { huffmanDecode, huffmanEncode } from "../../../src/proxy/http2/huffman.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

function decode(d: HpackDecoder, h: string | Uint8Array): string[] | null {
  const b = typeof h === "string" ? hex(h) : h;
  return d.decode(b, 0, b.length);
}

function assertCompressionError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Http2ConnectionError, `expected Http2ConnectionError, got ${String(e)}`);
    assert.equal(e.errorCode, H2_ERROR.COMPRESSION_ERROR);
    assert.match(e.message, message);
    return true;
  });
}

interface Step {
  readonly block: string;
  readonly fields: readonly string[];
  readonly tableSize: number;
}

function series(tableSize: number, steps: readonly Step[]): void {
  const d = new HpackDecoder(tableSize, 65536);
  for (const [i, step] of steps.entries()) {
    assert.deepEqual(decode(d, step.block), step.fields, `block ${i + 1}`);
    assert.equal(d.dynamicTableSize, step.tableSize, `table size after block ${i + 1}`);
  }
}

test("C.1 integer representation: 10 and 1337 with a 5-bit prefix, 42 at an octet boundary", () => {
  // 10 in a 5-bit prefix is a size update; 1337 too (with the table limit above it).
  const d = new HpackDecoder(4096, 65536);
  assert.deepEqual(decode(d, "2a"), []); // size update to 10
  assert.equal(d.dynamicTableCapacity, 10);
  assert.deepEqual(decode(d, "3f9a0a"), []); // size update to 1337
  assert.equal(d.dynamicTableCapacity, 1337);
  // 42 as the 7-bit length of a literal value ("no prefix" in the RFC; the same continuation rules).
  const value = "x".repeat(42);
  assert.deepEqual(decode(d, Buffer.concat([hex("0001 61 2a"), Buffer.from(value)])), ["a", value]);
});

test("C.2 header field representations", () => {
  const d = new HpackDecoder(4096, 65536);
  // C.2.1 literal with indexing
  assert.deepEqual(decode(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), ["custom-key", "custom-header"]);
  assert.equal(d.dynamicTableSize, 55);
  // C.2.2 literal without indexing
  const d2 = new HpackDecoder(4096, 65536);
  assert.deepEqual(decode(d2, "040c 2f73 616d 706c 652f 7061 7468"), [":path", "/sample/path"]);
  assert.equal(d2.dynamicTableSize, 0);
  // C.2.3 literal never indexed
  assert.deepEqual(decode(d2, "1008 7061 7373 776f 7264 0673 6563 7265 74"), ["password", "secret"]);
  assert.equal(d2.dynamicTableSize, 0);
  // C.2.4 indexed
  assert.deepEqual(decode(d2, "82"), [":method", "GET"]);
  assert.equal(d2.dynamicTableSize, 0);
});

const REQ1 = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"];
const REQ2 = [...REQ1, "cache-control", "no-cache"];
const REQ3 = [":method", "GET", ":scheme", "https", ":path", "/index.html", ":authority", "www.example.com", "custom-key", "custom-value"];

test("C.3 request examples without Huffman coding", () => {
  series(4096, [
    { block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", fields: REQ1, tableSize: 57 },
    { block: "8286 84be 5808 6e6f 2d63 6163 6865", fields: REQ2, tableSize: 110 },
    { block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", fields: REQ3, tableSize: 164 },
  ]);
});

test("C.4 request examples with Huffman coding", () => {
  series(4096, [
    { block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", fields: REQ1, tableSize: 57 },
    { block: "8286 84be 5886 a8eb 1064 9cbf", fields: REQ2, tableSize: 110 },
    { block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", fields: REQ3, tableSize: 164 },
  ]);
});

const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RESP1 = [":status", "302", "cache-control", "private", "date", "Mon, 21 Oct 2013 20:13:21 GMT", "location", "https://www.example.com"];
const RESP2 = [":status", "307", ...RESP1.slice(2)];
const RESP3 = [
  ":status",
  "200",
  "cache-control",
  "private",
  "date",
  "Mon, 21 Oct 2013 20:13:22 GMT",
  "location",
  "https://www.example.com",
  "content-encoding",
  "gzip",
  "set-cookie",
  COOKIE,
];

// A 256-octet table: the third response evicts entries (§C.5 and §C.6); the indexes c1/c0/bf
// in the later blocks only resolve if eviction removed exactly the oldest entries.
test("C.5 response examples without Huffman coding (with evictions)", () => {
  series(256, [
    {
      block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
              2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
              6c65 2e63 6f6d`,
      fields: RESP1,
      tableSize: 222,
    },
    { block: "4803 3330 37c1 c0bf", fields: RESP2, tableSize: 222 },
    {
      block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
              54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
              5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
              3d31`,
      fields: RESP3,
      tableSize: 215,
    },
  ]);
});

test("C.6 response examples with Huffman coding (with evictions)", () => {
  const d = new HpackDecoder(256, 65536);
  const blocks = [
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    "4883 640e ffc1 c0bf",
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ];
  assert.deepEqual(decode(d, blocks[0]!), RESP1);
  assert.equal(d.dynamicTableSize, 222);
  assert.deepEqual(decode(d, blocks[1]!), RESP2);
  assert.equal(d.dynamicTableSize, 222);
  assert.deepEqual(decode(d, blocks[2]!), RESP3);
  assert.equal(d.dynamicTableSize, 215);
  // The table now holds, newest first: set-cookie, content-encoding, date (§C.6.3).
  assert.deepEqual(decode(d, "bebfc0"), ["set-cookie", COOKIE, "content-encoding", "gzip", "date", "Mon, 21 Oct 2013 20:13:22 GMT"]);
  assertCompressionError(() => decode(d, "c1"), /index 65 beyond the table/);
});

test("a block range inside a larger buffer, and a plain Uint8Array, decode the same", () => {
  const block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
  const framed = new Uint8Array(block.length + 13);
  framed.set(block, 9);
  assert.deepEqual(new HpackDecoder(4096, 65536).decode(framed, 9, 9 + block.length), REQ1);
  assert.deepEqual(new HpackDecoder(4096, 65536).decode(framed.subarray(9), 0, block.length), REQ1);
});

test("names and values come back as on the wire, octets as latin1 chars", () => {
  const d = new HpackDecoder(4096, 65536);
  // Upper-case name, a value with octets 0x80 and 0xff: nothing is rejected or normalised here.
  assert.deepEqual(decode(d, "0003 582d 41 03 61 80 ff"), ["X-A", "a\x80\xff"]);
  // Empty name and value, literal and Huffman-coded (length 0).
  assert.deepEqual(decode(d, "0000 80"), ["", ""]);
});

test("a literal with incremental indexing may name an entry its own insertion evicts", () => {
  // Table of 64 octets holds one entry "a: bbbb..." (1 + 31 + 32 = 64); the next literal names it
  // by index 62 and its insertion evicts it (§4.4): the name is still the old entry's.
  const d = new HpackDecoder(64, 65536);
  assert.deepEqual(decode(d, Buffer.concat([hex("4001 61 1f"), Buffer.from("b".repeat(31))])), ["a", "b".repeat(31)]);
  assert.deepEqual(decode(d, "7e 01 63"), ["a", "c"]);
  assert.equal(d.dynamicTableSize, 34);
  assert.deepEqual(decode(d, "be"), ["a", "c"]);
});

test("an entry larger than the table empties it and is not added", () => {
  const d = new HpackDecoder(4096, 65536);
  decode(d, "4001 61 01 62"); // a: b (34 octets)
  assert.equal(d.dynamicTableSize, 34);
  const big = "v".repeat(4096); // 1 + 4096 + 32 > 4096
  assert.deepEqual(decode(d, Buffer.concat([hex("4001 61 7f 81 1f"), Buffer.from(big)])), ["a", big]);
  assert.equal(d.dynamicTableSize, 0);
  assertCompressionError(() => decode(d, "be"), /beyond the table/);
});

test("size updates: to 0 empties the table, then back up (two updates in one block), then indexing works again", () => {
  const d = new HpackDecoder(4096, 65536);
  decode(d, "4001 61 01 62 4001 63 01 64");
  assert.equal(d.dynamicTableSize, 68);
  assert.deepEqual(decode(d, "20 3f e0 1f"), []); // 0, then 4095
  assert.equal(d.dynamicTableSize, 0);
  assert.equal(d.dynamicTableCapacity, 4095);
  assertCompressionError(() => decode(d, "be"), /beyond the table/);
  assert.deepEqual(decode(d, "4001 61 01 62 be"), ["a", "b", "a", "b"]);
  // A size update below the current size evicts the oldest entries.
  decode(d, "4001 63 01 64"); // c: d is newest, a: b oldest
  assert.deepEqual(decode(d, "3f 03 be"), ["c", "d"]); // size 34: only c: d fits
  assert.equal(d.dynamicTableSize, 34);
  assertCompressionError(() => decode(d, "bf"), /beyond the table/);
});

test("a header list above maxHeaderListSize returns null, and the table still follows the block", () => {
  // Limit 100: "a: b" costs 34, so three fit (102 > 100 fails on the third).
  const d = new HpackDecoder(4096, 100);
  assert.deepEqual(decode(d, "4001 61 01 62 be"), ["a", "b", "a", "b"]);
  assert.equal(decode(d, "be be be 4001 63 01 64"), null);
  // The entry added after the limit was hit is in the table (the peer's encoder thinks so).
  assert.deepEqual(decode(d, "be bf"), ["c", "d", "a", "b"]);
});

test("header list bomb: thousands of references to a large entry are bounded by maxHeaderListSize", () => {
  // One 4000-octet value in the table, then 100,000 one-octet references to it: 400 MB of
  // header list if kept. The decoder keeps nothing past the limit.
  const d = new HpackDecoder(4096, 16384);
  const value = "x".repeat(4000);
  const first = Buffer.concat([hex("4001 61 7f a1 1e"), Buffer.from(value)]); // length 4000 = 127 + 33 + 30*128
  assert.deepEqual(decode(d, first), ["a", value]);
  const bomb = Buffer.alloc(100_000, 0xbe);
  const before = process.memoryUsage().heapUsed;
  assert.equal(decode(d, bomb), null);
  assert.ok(process.memoryUsage().heapUsed - before < 8_000_000, "the bomb allocated more than a few MB");
  // Under the limit the same references come back as the stored string itself.
  const ok = new HpackDecoder(4096, 16384);
  decode(ok, first);
  const list = decode(ok, "bebebe")!;
  assert.equal(list.length, 6);
  assert.equal(list[1], value);
});

test("errors: every malformed block is a COMPRESSION_ERROR", () => {
  const fresh = () => new HpackDecoder(4096, 65536);
  assertCompressionError(() => decode(fresh(), "80"), /index 0/);
  assertCompressionError(() => decode(fresh(), "be"), /index 62 beyond the table/);
  assertCompressionError(() => decode(fresh(), "ff 00"), /index 127 beyond the table/);
  assertCompressionError(() => decode(fresh(), "7e 01 61"), /name index 62 beyond the table/);
  assertCompressionError(() => decode(fresh(), "0f 30 01 61"), /name index 63 beyond the table/);
  // Integers: truncated, above 2^31 - 1, too many continuation octets.
  assertCompressionError(() => decode(fresh(), "ff"), /truncated integer/);
  assertCompressionError(() => decode(fresh(), "ff 80"), /truncated integer/);
  assertCompressionError(() => decode(fresh(), "ff ff ff ff ff 0f"), /integer too large/);
  assertCompressionError(() => decode(fresh(), "ff 80 80 80 80 80 00"), /too many octets/);
  // Strings: missing, length past the end, truncated length.
  assertCompressionError(() => decode(fresh(), "00"), /truncated string/);
  assertCompressionError(() => decode(fresh(), "0001 61"), /truncated string/);
  assertCompressionError(() => decode(fresh(), "0003 6162"), /string longer than the block/);
  assertCompressionError(() => decode(fresh(), "0001 61 7f"), /truncated integer/);
  assertCompressionError(() => decode(fresh(), "0001 61 ff 80 80 80 07"), /string longer than the block/);
  // Huffman: EOS (30 ones) inside the string; padding of 8+ bits; padding that is not all ones.
  assertCompressionError(() => decode(fresh(), "0001 61 84 ff ff ff fc"), /contains EOS/);
  assertCompressionError(() => decode(fresh(), "0001 61 82 1f ff"), /invalid Huffman padding/); // 'a' (00011) + 11 ones
  assertCompressionError(() => decode(fresh(), "0001 61 81 18"), /invalid Huffman padding/); // 'a' + 000 padding
  assertCompressionError(() => decode(fresh(), "0001 61 81 ff"), /invalid Huffman padding/); // 8 ones, no symbol
  // Size updates: above our limit, after a field, and after a field in a later position of the block.
  assertCompressionError(() => decode(fresh(), "3f e2 1f"), /size update to 4097 above the limit 4096/);
  assertCompressionError(() => decode(new HpackDecoder(0, 65536), "21"), /above the limit 0/);
  assertCompressionError(() => decode(fresh(), "82 20"), /size update after a field/);
  assertCompressionError(() => decode(fresh(), "20 82 3f e1 1f"), /size update after a field/);
  // A field truncated after its name.
  assertCompressionError(() => decode(fresh(), "4001 61"), /truncated string/);
  // Thrown errors are instances of Error too (the HTTP/2 layer may log them).
  try {
    decode(fresh(), "80");
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.equal((e as Error).name, "Http2ConnectionError");
  }
});

test("Huffman decoding of every octet value, and the valid paddings of 1 to 7 bits", () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  const coded = new Uint8Array(1024);
  const n = huffmanEncode(all, coded, 0);
  const out = new Uint8Array(2048);
  assert.equal(Buffer.from(out.subarray(0, huffmanDecode(coded, 0, n, out))).toString("latin1"), all);
  // "e" has a 5-bit code: 1 to 8 of them leave 3, 6, 1, 4, 7, 2, 5 and 0 padding bits.
  for (const s of [1, 2, 3, 4, 5, 6, 7, 8].map((n) => "e".repeat(n))) {
    const b = new Uint8Array(64);
    const len = huffmanEncode(s, b, 0);
    assert.equal(Buffer.from(out.subarray(0, huffmanDecode(b, 0, len, out))).toString("latin1"), s);
  }
});
