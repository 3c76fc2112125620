// @ts-check
// shop: the app team's one service. GET /shop answers JSON naming the caller the sidecar
// verified (the SPIFFE ID from x-forwarded-client-cert, which the sidecar sets from the
// peer certificate of the mTLS connection and never passes through from a client), so a
// request through the gateway shows which identity reached the service. GET /health for
// checks. Node built-ins only: `node shop.js` runs it.

import http from "node:http";

const port = Number(process.env.PORT ?? "9080");
const address = process.env.LISTEN_ADDRESS || "127.0.0.1";

/**
 * The verified caller's SPIFFE ID: `URI=<id>` in the x-forwarded-client-cert header.
 * @param {http.IncomingMessage} req
 * @returns {string | null}
 */
function callerOf(req) {
  const xfcc = req.headers["x-forwarded-client-cert"];
  if (typeof xfcc !== "string") return null;
  const m = /(?:^|;)URI=([^;,]+)/.exec(xfcc);
  return m ? (m[1] ?? null) : null;
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  res.on("finish", () => process.stdout.write(`${new Date().toISOString()} shop ${req.method} ${req.url} ${res.statusCode}\n`));
  if (url.pathname === "/health") return sendJson(res, 200, { status: "shop is healthy" });
  if (url.pathname === "/shop" || url.pathname.startsWith("/shop/")) {
    return sendJson(res, 200, { service: "shop", message: "hello from the shop mesh", caller: callerOf(req) });
  }
  sendJson(res, 404, { error: "not found: use GET /shop" });
});

server.listen(port, address, () => {
  const a = /** @type {import("node:net").AddressInfo} */ (server.address());
  process.stdout.write(`shop listening on http://${a.address}:${a.port}\n`);
});

for (const signal of /** @type {const} */ (["SIGTERM", "SIGINT"])) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
