import { test } from "node:test";
import assert from "node:assert/strict";
import { lowerHeaderName } from "../../../src/proxy/http/header-names.js";

test("lowerHeaderName is toLowerCase for every spelling: the common names in wire case and lowercase, odd cases, unknown names", () => {
  const names = [
    "Host", "host", "HOST", "Date", "ETag", "Etag", "TE", "te", "Te", "Content-Length", "content-length", "CONTENT-LENGTH", "Content-Type", "Connection",
    "Keep-Alive", "Transfer-Encoding", "User-Agent", "Set-Cookie", "Cookie", "Server", "X-Request-Id", "X-Request-ID", "X-Forwarded-For", "X-Forwarded-Proto",
    "Accept-Encoding", "Accept-Language", "Cache-Control", "Last-Modified", "Authorization", "Upgrade", "Trailer", "Expect", "Expires", "Referer", "Location",
    "Origin", "Vary", "Age", "Content-Encoding", "X-Custom", "x-custom", "Hosts", "Hos", "", "Ünknown",
  ];
  for (const n of names) assert.equal(lowerHeaderName(n), n.toLowerCase(), n);
});
