// HPACK micro-benchmark: nanoseconds per header block for HpackDecoder.decode() and
// HpackEncoder.encode() on typical blocks.
//
//   node --import tsx bench/http2/hpack.bench.ts
//
// Request blocks are the ones a real HTTP/2 client sends: node:http2 (nghttp2, as h2load and
// curl use) is pointed at a raw-frame server that keeps the header blocks, so they carry
// nghttp2's own indexing and Huffman choices:
// - "h2load-style": the same small GET repeated (after the first, every field is an index);
// - "browser": a Chrome-like navigation request (long user-agent and accept, sec-fetch-*,
//   accept-language, a cookie), first on the connection (literals, Huffman, insertions) and
//   repeated (indexes, the cookie as a never-indexed literal if the client chose so).
// The response is what the gateway sends for a small proxied answer: 200, content-type,
// content-length, date, server and an upstream timing field, on a warm connection and first.
// Environment: ITERATIONS (per case, default 1,000,000), ROUNDS (default 5; best and median).

import http2 from "node:http2";
import { HpackDecoder } from "../../src/proxy/http2/hpack-decoder.js";
import { HpackEncoder } from "../../src/proxy/http2/hpack-encoder.js";
import { startRawH2Server } from "../../test/proxy/http2/raw-h2-server.js";

const ITERATIONS = Number(process.env.ITERATIONS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const H2LOAD: http2.OutgoingHttpHeaders = { ":method": "GET", ":path": "/", "user-agent": "h2load nghttp2/1.52.0" };
const BROWSER: http2.OutgoingHttpHeaders = {
  ":method": "GET",
  ":path": "/products/list?category=books&page=2",
  "sec-ch-ua": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
  "sec-ch-ua-mobile": "?0",
  "sec-ch-ua-platform": '"Linux"',
  "upgrade-insecure-requests": "1",
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
  "sec-fetch-site": "same-origin",
  "sec-fetch-mode": "navigate",
  "sec-fetch-user": "?1",
  "sec-fetch-dest": "document",
  referer: "https://shop.example.com/",
  "accept-encoding": "gzip, deflate, br, zstd",
  "accept-language": "en-US,en;q=0.9",
  cookie: "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark",
};
const RESPONSE = [
  "content-type", "text/plain",
  "content-length", "100",
  "date", "Mon, 01 Jan 2024 00:00:00 GMT",
  "server", "meshgate",
  "x-envoy-upstream-service-time", "1",
];

/** The header blocks node:http2's client sends for `requests`, in order, on one connection. */
async function capture(requests: http2.OutgoingHttpHeaders[]): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  const encoder = new HpackEncoder();
  const server = await startRawH2Server({
    onHeaders(conn, streamId, block) {
      blocks.push(Buffer.from(block));
      conn.sendHeaders(streamId, encoder.encode(200, []), true);
    },
  });
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  for (const h of requests) {
    await new Promise<void>((resolve, reject) => {
      const req = client.request(h);
      req.on("error", reject);
      req.on("close", () => resolve());
      req.resume();
      req.end();
    });
  }
  client.destroy();
  await server.close();
  return blocks;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function bench(name: string, octets: number, fn: () => number): void {
  for (let i = 0; i < 200_000; i++) fn(); // warm-up
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) sink += fn();
    rounds.push(Number(process.hrtime.bigint() - start) / ITERATIONS);
  }
  if (sink < 0) console.log(sink);
  console.log(`| ${name} | ${octets} | ${Math.min(...rounds).toFixed(0)} | ${median(rounds).toFixed(0)} |`);
}

const [h2loadFirst, h2loadWarm] = await capture([H2LOAD, H2LOAD]);
const [browserFirst, browserWarm] = await capture([BROWSER, BROWSER]);

console.log(`node ${process.version}, ${ITERATIONS.toLocaleString("en")} blocks per case, best / median of ${ROUNDS} rounds`);
console.log("| case | block octets | ns/block (best) | ns/block (median) |");
console.log("|---|---|---|---|");

// Warm decoders: the first block fills the table; the repeated block only references it
// (it inserts nothing, so decoding it again and again leaves the table as it is).
function warmDecoder(first: Buffer, warm: Buffer): HpackDecoder {
  const d = new HpackDecoder(4096, 65536);
  d.decode(first, 0, first.length);
  const before = d.dynamicTableSize;
  d.decode(warm, 0, warm.length);
  if (d.dynamicTableSize !== before) throw new Error("the repeated block inserts entries; it would not measure a steady state");
  return d;
}
const dH2load = warmDecoder(h2loadFirst!, h2loadWarm!);
bench("decode h2load-style GET, warm connection", h2loadWarm!.length, () => dH2load.decode(h2loadWarm!, 0, h2loadWarm!.length)!.length);
const dBrowser = warmDecoder(browserFirst!, browserWarm!);
bench("decode browser GET, warm connection", browserWarm!.length, () => dBrowser.decode(browserWarm!, 0, browserWarm!.length)!.length);
bench("decode browser GET, first on a connection (new decoder)", browserFirst!.length, () => new HpackDecoder(4096, 65536).decode(browserFirst!, 0, browserFirst!.length)!.length);

const raw = new HpackEncoder();
raw.encode(200, RESPONSE);
bench("encode 200 response, warm connection, raw literals", raw.encode(200, RESPONSE).length, () => raw.encode(200, RESPONSE).length);
const huff = new HpackEncoder({ huffman: true });
huff.encode(200, RESPONSE);
bench("encode 200 response, warm connection, Huffman literals", huff.encode(200, RESPONSE).length, () => huff.encode(200, RESPONSE).length);
bench("encode 200 response, first on a connection (new encoder)", new HpackEncoder().encode(200, RESPONSE).length, () => new HpackEncoder().encode(200, RESPONSE).length);
