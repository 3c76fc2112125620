import { test } from "node:test";
import assert from "node:assert/strict";
import type { HeaderMap } from "../../../src/proxy/contracts.js";
import { removeRequestHopByHop, removeResponseHopByHop, teAcceptsTrailers } from "../../../src/proxy/http/hop-by-hop.js";

function present(h: HeaderMap): string[] {
  return Object.keys(h).filter((k) => h[k] !== undefined).sort();
}

test("request: Connection, what it names, and the fixed hop-by-hop fields go; end-to-end fields stay", () => {
  const h: HeaderMap = {
    host: "a",
    connection: "keep-alive, X-Secret-Hop , Upgrade",
    "x-secret-hop": "1",
    "keep-alive": "timeout=5",
    "proxy-connection": "keep-alive",
    "transfer-encoding": "chunked",
    upgrade: "websocket",
    te: "gzip",
    "proxy-authorization": "Basic x",
    authorization: "Bearer y",
    "x-other": "z",
  };
  removeRequestHopByHop(h);
  assert.deepEqual(present(h), ["authorization", "host", "proxy-authorization", "x-other"]);
});

test("request: TE is kept as `trailers` when it lists trailers", () => {
  const h: HeaderMap = { te: "deflate;q=0.5, Trailers" };
  removeRequestHopByHop(h);
  assert.equal(h.te, "trailers");
  const g: HeaderMap = { te: "trailers", connection: "te" };
  removeRequestHopByHop(g);
  assert.equal(g.te, "trailers");
  assert.equal(teAcceptsTrailers(["gzip", "trailers"]), true);
  assert.equal(teAcceptsTrailers("trailersx"), false);
});

test("response: all hop-by-hop fields go, including TE and fields named by repeated Connection values", () => {
  const h: HeaderMap = { connection: ["close", "x-a"], "x-a": "1", te: "trailers", "content-type": "text/plain", "proxy-authenticate": "Basic" };
  removeResponseHopByHop(h);
  assert.deepEqual(present(h), ["content-type", "proxy-authenticate"]);
});

test("nothing to remove: the object keeps its keys (no undefined added)", () => {
  const h: HeaderMap = { host: "a", accept: "*/*" };
  removeRequestHopByHop(h);
  assert.deepEqual(Object.keys(h), ["host", "accept"]);
});
