// @ts-check
// What every Bookinfo service shares: an HTTP server that logs one line per request and
// stops cleanly on SIGTERM/SIGINT, the trace headers a service copies from its inbound
// request onto its outbound calls, and an outbound client that sends those calls through
// the sidecar's HTTP proxy port.
//
// Plain ESM JavaScript on Node built-ins only, so `node <service>.js` runs it wherever
// meshgate is installed (no build step, no dev dependency).

import http from "node:http";

/**
 * Headers a service copies from the request it serves onto the calls it makes, so a trace
 * (B3 or W3C trace context) and the request id follow a request across every hop. The
 * application must do this itself: a sidecar sees each hop as a separate request.
 */
export const PROPAGATED_HEADERS = Object.freeze([
  "x-request-id",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
  "b3",
  "traceparent",
  "tracestate",
  "x-ot-span-context",
  "end-user",
  "user-agent",
]);

/**
 * The propagated headers of an inbound request.
 * @param {http.IncomingMessage} req
 * @returns {Record<string, string>}
 */
export function propagatedHeaders(req) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const name of PROPAGATED_HEADERS) {
    const value = req.headers[name];
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

/**
 * The caller's identity as the sidecar verified it: the `URI` of the last element of
 * `x-forwarded-client-cert` (the sidecar replaces whatever the caller sent with the SPIFFE
 * ID of the client certificate it checked), or undefined for a call that came without
 * mTLS. Only meaningful behind a sidecar: anyone who reaches the application's port
 * directly can write the header.
 * @param {http.IncomingMessage} req
 * @returns {string | undefined}
 */
export function callerIdentity(req) {
  const xfcc = req.headers["x-forwarded-client-cert"];
  if (typeof xfcc !== "string" || xfcc === "") return undefined;
  const last = xfcc.slice(xfcc.lastIndexOf(",") + 1);
  for (const pair of last.split(";")) {
    const eq = pair.indexOf("=");
    if (pair.slice(0, eq).trim().toLowerCase() === "uri") return pair.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
  }
  return undefined;
}

/**
 * Reads an integer environment variable, or the default when unset.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Reads a URL environment variable, or the default when unset.
 * @param {string} name
 * @param {string | undefined} fallback
 * @returns {URL | undefined}
 */
export function envUrl(name, fallback) {
  const raw = process.env[name] || fallback;
  if (raw === undefined) return undefined;
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an absolute http:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:") throw new Error(`${name} must be an http:// URL, got ${JSON.stringify(raw)}`);
  return url;
}

/**
 * @typedef {object} JsonResponse
 * @property {number} status
 * @property {unknown} body  the parsed JSON body (undefined when it was not JSON)
 */

/**
 * @typedef {object} Outbound
 * @property {(service: URL, path: string, headers: Record<string, string>, timeoutMs: number) => Promise<JsonResponse>} getJson
 *   GET `path` from the Service at `service`; rejects on a connection error, a timeout or
 *   a body that is not JSON.
 * @property {() => void} close
 */

const MAX_BODY_BYTES = 1 << 20;

/**
 * An outbound client. With a proxy, every call goes to the proxy in absolute form
 * (`GET http://details.bookinfo.svc.cluster.local:9080/details/0`) with the Service's
 * authority in Host, which is how a client talks to an HTTP proxy and what the sidecar's
 * outbound listener routes on (its virtual hosts are the Service names). Without one, the
 * call goes straight to the Service URL (running the services on their own, no mesh).
 * @param {URL | undefined} proxy
 * @returns {Outbound}
 */
export function createOutbound(proxy) {
  // Keep-alive: a page view makes several calls to the same proxy port.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return {
    getJson(service, path, headers, timeoutMs) {
      const target = new URL(path, service);
      /** @type {http.RequestOptions} */
      const options = proxy
        ? { host: proxy.hostname, port: proxy.port || 80, path: target.href }
        : { host: target.hostname, port: target.port || 80, path: target.pathname + target.search };
      options.method = "GET";
      options.agent = agent;
      options.headers = { ...headers, host: target.host, accept: "application/json" };
      return new Promise((resolve, reject) => {
        const req = http.request(options, (res) => {
          /** @type {Buffer[]} */
          const chunks = [];
          let size = 0;
          res.on("data", (/** @type {Buffer} */ chunk) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(new Error(`${target.host} answered more than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on("end", () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString("utf8");
            let body;
            try {
              body = text === "" ? undefined : JSON.parse(text);
            } catch {
              body = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on("error", reject);
        });
        // One deadline for the whole exchange (connect, headers and body), not per socket read.
        const timer = setTimeout(() => req.destroy(new Error(`${target.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
        req.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        req.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * @callback Handler
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 * @param {URL} url  the request target, parsed
 * @returns {void | Promise<void>}
 */

/**
 * Sends a JSON response.
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
export function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Starts a service: listens on LISTEN_ADDRESS:PORT, answers GET /health itself, hands
 * every other request to `handler`, logs one line per request, and stops on SIGTERM or
 * SIGINT (stop accepting, let requests in flight finish, exit 0).
 * @param {{ name: string, defaultPort: number, handler: Handler, onClose?: () => void }} options
 */
export function runService({ name, defaultPort, handler, onClose }) {
  const port = envInt("PORT", defaultPort);
  const address = process.env.LISTEN_ADDRESS || "127.0.0.1";
  const log = (/** @type {string} */ line) => process.stdout.write(`${new Date().toISOString()} ${name} ${line}\n`);

  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rid = req.headers["x-request-id"];
      const peer = callerIdentity(req);
      log(`${req.method} ${req.url} ${res.statusCode} ${ms.toFixed(1)}ms${typeof rid === "string" ? ` request-id=${rid}` : ""}${peer ? ` peer=${peer}` : ""}`);
    });
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { error: "method not allowed" });
      return;
    }
    if (url.pathname === "/health") {
      sendJson(res, 200, { status: `${name} is healthy` });
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((/** @type {unknown} */ err) => {
        log(`error serving ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
      });
  });
  // Connections idle between requests must not hold shutdown up.
  server.keepAliveTimeout = 5_000;

  server.listen(port, address, () => {
    const bound = server.address();
    const shown = bound && typeof bound === "object" ? `${bound.address}:${bound.port}` : `${address}:${port}`;
    log(`listening on http://${shown}`);
  });
  server.on("error", (err) => {
    log(`cannot listen on ${address}:${port}: ${err.message}`);
    process.exit(1);
  });

  let stopping = false;
  const stop = (/** @type {NodeJS.Signals} */ signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    server.close(() => {
      onClose?.();
      log("stopped");
      process.exit(0);
    });
    server.closeIdleConnections();
    // Requests in flight get a few seconds; then the process goes anyway.
    setTimeout(() => {
      log("requests still in flight after 5 s; exiting");
      process.exit(0);
    }, 5_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return server;
}
