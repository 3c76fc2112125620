// Every case is sent on a raw socket; the listener must answer 400 (431 for oversized
// headers) and close the connection, and the handler must never see the request.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { DownstreamRequest, DownstreamResponse, FilterChainRef } from "../../../src/proxy/contracts.js";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { chain, echoHandler, listener, mapOf, portOf, rawExchange } from "./helpers.js";

const m = new ListenerManager();
let handled: string[] = [];
await m.apply(
  mapOf(listener("l", [chain({ name: "plain", hcmExtra: { maxRequestHeadersKb: { value: 4 }, commonHttpProtocolOptions: { maxHeadersCount: { value: 20 } } } })])),
  new Map(),
  (req: DownstreamRequest, res: DownstreamResponse, ref: FilterChainRef) => {
    handled.push(req.rawPath);
    echoHandler(req, res, ref);
  },
);
const port = portOf(m.bound(), "l");
test.after(() => m.close());

const cases: [string, string, number][] = [
  ["Content-Length with Transfer-Encoding", "POST /clte HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["two different Content-Lengths", "POST /cl2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400],
  ["a Content-Length list", "POST /cllist HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 400],
  ["chunked not last", "POST /te1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400],
  ["an unknown coding alone", "POST /te2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400],
  ["an unknown coding before chunked (the parser accepts it)", "POST /te3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400],
  ["a misspelt coding", "POST /te4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400],
  ["whitespace before the colon", "POST /te5 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400],
  ["obs-fold", "GET /fold HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400],
  ["bare LF line endings", "GET /lf HTTP/1.1\nHost: a\n\n", 400],
  ["a bare LF inside the header block", "GET /lf2 HTTP/1.1\r\nHost: a\nX-B: c\r\n\r\n", 400],
  ["a bare CR", "GET /cr HTTP/1.1\r\nHost: a\rX-B: c\r\n\r\n", 400],
  ["two Host fields (the parser accepts it)", "GET /hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  ["an invalid Host value (the parser accepts it)", "GET /badhost HTTP/1.1\r\nHost: a/b@c\r\n\r\n", 400],
  ["no Host in HTTP/1.1", "GET /nohost HTTP/1.1\r\n\r\n", 400],
  ["a header block over maxRequestHeadersKb", `GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(5000)}\r\n\r\n`, 431],
  ["more header fields than maxHeadersCount", `GET /many HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 25 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`, 431],
  ["a NUL in a header value", "GET /nul HTTP/1.1\r\nHost: a\r\nX-N: a\0b\r\n\r\n", 400],
];

for (const [name, data, status] of cases) {
  test(`refused with ${status} and the connection closed: ${name}`, async () => {
    handled = [];
    const { response, closedByServer } = await rawExchange(port, data, 3000);
    assert.match(response, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(response));
    assert.equal(closedByServer, true, "the server closes the connection");
    assert.deepEqual(handled, [], "the handler never sees the request");
  });
}

test("control: well-formed chunked and Content-Length requests pass, keep-alive and pipelined", async () => {
  handled = [];
  const data = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  const { response } = await rawExchange(port, data, 3000);
  assert.equal(response.match(/HTTP\/1\.1 200 OK/g)?.length, 3, response);
  assert.deepEqual(handled, ["/a", "/b", "/c"]);
  assert.match(response, /"body":"hello"/);
  assert.match(response, /"body":"abc"/);
});
