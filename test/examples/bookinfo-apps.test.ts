// The Bookinfo services (examples/bookinfo/apps) as real child processes. A small HTTP
// proxy in the test stands in for the sidecars' outbound port: it routes each call by its
// Host to the process serving that Service (or to nothing, to play a failure) and records
// what it saw, so the test can check the calls, their form and their headers.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";

const APPS = join(ROOT, "examples/bookinfo/apps");
const HOST = (name: string) => `${name}.bookinfo.svc.cluster.local:9080`;

interface App {
  child: ChildProcess;
  port: number;
  log: () => string;
  exited: Promise<number | null>;
}

function startApp(file: string, env: Record<string, string>): Promise<App> {
  const child = spawn(process.execPath, [join(APPS, file)], {
    cwd: APPS,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${out}\n${err}`)), 10_000);
    const onData = () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      resolve({ child, port: Number(m[1]), log: () => out + err, exited });
    };
    child.stdout!.on("data", onData);
    void exited.then((code) => reject(new Error(`${file} exited with ${code}:\n${out}\n${err}`)));
  });
}

interface Seen {
  host: string;
  target: string;
  headers: http.IncomingHttpHeaders;
}

/** The stand-in for the sidecar's outbound port. `routes` maps a Host to a local port. */
class OutboundProxy {
  readonly routes = new Map<string, number>();
  readonly seen: Seen[] = [];
  private readonly server = http.createServer((req, res) => this.forward(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = req.headers.host ?? "";
    this.seen.push({ host, target: req.url ?? "", headers: req.headers });
    const port = this.routes.get(host);
    if (port === undefined) {
      res.writeHead(404).end();
      return;
    }
    const url = new URL(req.url ?? "/", `http://${host}`);
    const upstream = http.request({ host: "127.0.0.1", port, path: url.pathname + url.search, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    // What a sidecar answers when the endpoint refuses the connection.
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(503, { "content-type": "text/plain" }).end("no healthy upstream");
      else res.destroy();
    });
    req.pipe(upstream);
  }

  seenFor(name: string): Seen[] {
    return this.seen.filter((s) => s.host === HOST(name));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}


async function logged(app: App, line: RegExp): Promise<void> {
  const end = Date.now() + 2_000;
  while (!line.test(app.log())) {
    if (Date.now() > end) assert.match(app.log(), line);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function getPage(port: number, headers: Record<string, string> = {}): Promise<{ status: number; html: string; ms: number }> {
  const started = Date.now();
  const r = await fetch(`http://127.0.0.1:${port}/productpage`, { headers });
  return { status: r.status, html: await r.text(), ms: Date.now() - started };
}

describe("the Bookinfo services behind a stand-in outbound proxy", () => {
  const proxy = new OutboundProxy();
  const apps: Record<string, App> = {};
  // A server that accepts calls and never answers: a dependency that hangs.
  const hanging = http.createServer(() => undefined);
  let hangingPort = 0;
  let closedPort = 0;

  before(async () => {
    await proxy.start();
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    hangingPort = (hanging.address() as AddressInfo).port;
    closedPort = await freePort();
    const outbound = { MESHGATE_OUTBOUND_PROXY: `http://127.0.0.1:${proxy.port}` };
    const started = await Promise.all([
      startApp("productpage.js", { ...outbound, UPSTREAM_TIMEOUT_MS: "600" }),
      startApp("details.js", outbound),
      startApp("reviews.js", { ...outbound, REVIEWS_VERSION: "v1" }),
      startApp("reviews.js", { ...outbound, REVIEWS_VERSION: "v2", UPSTREAM_TIMEOUT_MS: "300" }),
      startApp("reviews.js", { ...outbound, REVIEWS_VERSION: "v3", UPSTREAM_TIMEOUT_MS: "300" }),
      startApp("ratings.js", outbound),
    ]);
    for (const [i, name] of ["productpage", "details", "reviews-v1", "reviews-v2", "reviews-v3", "ratings"].entries()) apps[name] = started[i]!;
    proxy.routes.set(HOST("details"), apps.details!.port);
    proxy.routes.set(HOST("ratings"), apps.ratings!.port);
  });

  after(async () => {
    for (const app of Object.values(apps)) if (app.child.exitCode === null) app.child.kill("SIGKILL");
    hanging.closeAllConnections();
    hanging.close();
    await proxy.stop();
  });

  const useReviews = (version: string) => proxy.routes.set(HOST("reviews"), apps[`reviews-${version}`]!.port);

  test("reviews v1: the page shows the book, its details and the reviews without stars; ratings is never called", async () => {
    useReviews("v1");
    proxy.seen.length = 0;
    const page = await getPage(apps.productpage!.port);
    assert.equal(page.status, 200);
    assert.match(page.html, /<h1 id="title">The Comedy of Errors<\/h1>/);
    assert.match(page.html, /<th>ISBN-13<\/th><td>123-1234567890<\/td>/);
    assert.match(page.html, /<th>Publisher<\/th><td>PublisherA<\/td>/);
    assert.match(page.html, /<footer>Reviewer1<\/footer>/);
    assert.match(page.html, /<footer>Reviewer2<\/footer>/);
    assert.match(page.html, /Reviews served by: <span id="reviews-version">reviews-v1<\/span>/);
    assert.doesNotMatch(page.html, /data-stars|class="error"/);
    // The calls reached the proxy in absolute form, naming the Service in Host.
    assert.deepEqual(proxy.seenFor("details").map((s) => s.target), [`http://${HOST("details")}/details/0`]);
    assert.deepEqual(proxy.seenFor("reviews").map((s) => s.target), [`http://${HOST("reviews")}/reviews/0`]);
    assert.equal(proxy.seenFor("ratings").length, 0);
  });

  test("reviews v2 shows black stars from ratings, v3 red ones", async () => {
    useReviews("v2");
    const v2 = await getPage(apps.productpage!.port);
    assert.match(v2.html, /reviews-v2<\/span>/);
    assert.match(v2.html, /<p class="rating" data-stars="5" style="color:black">(&#9733;){5} /);
    assert.match(v2.html, /<p class="rating" data-stars="4" style="color:black">(&#9733;){4}&#9734; /);
    useReviews("v3");
    const v3 = await getPage(apps.productpage!.port);
    assert.match(v3.html, /reviews-v3<\/span>/);
    assert.match(v3.html, /<p class="rating" data-stars="5" style="color:red">/);
    assert.match(v3.html, /<p class="rating" data-stars="4" style="color:red">/);
    assert.doesNotMatch(v3.html, /color:black/);
  });

  test("the request id and the B3 / W3C trace headers reach every hop", async () => {
    useReviews("v2");
    proxy.seen.length = 0;
    const trace = {
      "x-request-id": "5f0c1c2e-4b1a-4c44-9d36-6b0e0d6a1f01",
      "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
      "x-b3-spanid": "e457b5a2e4d86bd1",
      "x-b3-parentspanid": "05e3ac9a4f6e3b90",
      "x-b3-sampled": "1",
      traceparent: "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
      tracestate: "meshgate=1",
    };
    const page = await getPage(apps.productpage!.port, { ...trace, "x-not-propagated": "1" });
    assert.equal(page.status, 200);
    for (const hop of ["details", "reviews", "ratings"]) {
      const seen = proxy.seenFor(hop);
      assert.equal(seen.length, 1, hop);
      for (const [name, value] of Object.entries(trace)) assert.equal(seen[0]!.headers[name], value, `${hop}: ${name}`);
      assert.equal(seen[0]!.headers["x-not-propagated"], undefined, hop);
    }
    // One log line per request, with the request id (written once the response is sent, so
    // it may reach the pipe just after the page).
    await logged(apps.ratings!, /ratings GET \/ratings\/0 200 [\d.]+ms request-id=5f0c1c2e-4b1a-4c44-9d36-6b0e0d6a1f01\n/);
    await logged(apps.productpage!, /productpage GET \/productpage 200 [\d.]+ms request-id=5f0c1c2e/);
  });

  test("ratings unavailable: reviews v2 still answers, with the reason in place of the stars", async () => {
    useReviews("v2");
    proxy.routes.set(HOST("ratings"), closedPort);
    try {
      const page = await getPage(apps.productpage!.port);
      assert.equal(page.status, 200);
      assert.match(page.html, /<footer>Reviewer1<\/footer><p class="rating error">ratings service answered 503<\/p>/);
      assert.doesNotMatch(page.html, /data-stars/);
    } finally {
      proxy.routes.set(HOST("ratings"), apps.ratings!.port);
    }
  });

  test("details slower than the timeout: the page renders in time with an error section for details", async () => {
    useReviews("v1");
    proxy.routes.set(HOST("details"), hangingPort);
    try {
      const page = await getPage(apps.productpage!.port);
      assert.equal(page.status, 200);
      assert.ok(page.ms < 3_000, `took ${page.ms} ms`);
      assert.match(page.html, /<section id="details" class="error"><h2>Book Details<\/h2><p>Sorry, product details are currently unavailable/);
      assert.match(page.html, /did not answer within 600 ms/);
      assert.match(page.html, /<footer>Reviewer1<\/footer>/);
    } finally {
      proxy.routes.set(HOST("details"), apps.details!.port);
    }
  });

  test("details stopped with SIGTERM exits 0; the page still renders, with an error section for details", async () => {
    useReviews("v3");
    const details = apps.details!;
    details.child.kill("SIGTERM");
    assert.equal(await details.exited, 0);
    assert.match(details.log(), /details SIGTERM: stopping\n.*details stopped\n/);
    const page = await getPage(apps.productpage!.port);
    assert.equal(page.status, 200);
    assert.match(page.html, /<h1 id="title">The Comedy of Errors<\/h1>/);
    assert.match(page.html, /<section id="details" class="error">.*details service answered 503/s);
    assert.doesNotMatch(page.html, /ISBN-13/);
    assert.match(page.html, /reviews-v3<\/span>/);
    assert.match(page.html, /data-stars="5" style="color:red"/);
  });

  test("the request log names the caller a sidecar verified (peer=, from x-forwarded-client-cert), and nothing without one", async () => {
    const port = apps.ratings!.port;
    const caller = "spiffe://bookinfo.local/ns/bookinfo/sa/bookinfo-reviews";
    // As a sidecar writes it: its own identity, the certificate's hash, the caller's URI SAN.
    const xfcc = `By=spiffe://bookinfo.local/ns/bookinfo/sa/bookinfo-ratings;Hash=9ab3c1;URI=${caller}`;
    assert.equal((await fetch(`http://127.0.0.1:${port}/ratings/1`, { headers: { "x-request-id": "peer-1", "x-forwarded-client-cert": xfcc } })).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ratings/2`, { headers: { "x-request-id": "peer-2" } })).status, 200);
    await logged(apps.ratings!, new RegExp(`ratings GET /ratings/1 200 [\\d.]+ms request-id=peer-1 peer=${caller}\n`));
    await logged(apps.ratings!, /ratings GET \/ratings\/2 200 [\d.]+ms request-id=peer-2\n/);
  });

  test("each service answers /health and 404 for unknown paths", async () => {
    for (const name of ["productpage", "reviews-v1", "ratings"]) {
      const health = await fetch(`http://127.0.0.1:${apps[name]!.port}/health`);
      assert.equal(health.status, 200, name);
      assert.equal((await fetch(`http://127.0.0.1:${apps[name]!.port}/nope`)).status, 404, name);
    }
    const details = await fetch(`http://127.0.0.1:${apps.ratings!.port}/ratings/7`);
    assert.deepEqual(await details.json(), { id: 7, ratings: { Reviewer1: 5, Reviewer2: 4 } });
  });
});

test("services.yaml starts each Workload's app on its port, with its sidecar's outbound port as the proxy", () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, "examples/bookinfo/services.yaml"), "utf8")).map((d) => d.toJS());
  const workloads = docs.filter((d) => d?.kind === "Workload");
  assert.equal(workloads.length, 6);
  for (const w of workloads) {
    const spec = w.spec as { port: number; command: string[]; workingDir: string; env: Record<string, string>; sidecar?: { outboundPort?: number } };
    assert.equal(spec.workingDir, "apps", w.metadata.name);
    assert.equal(spec.command[0], "node", w.metadata.name);
    assert.ok(readFileSync(join(ROOT, "examples/bookinfo", spec.workingDir, spec.command[1]!), "utf8").length > 0, w.metadata.name);
    assert.equal(spec.env.PORT, String(spec.port), w.metadata.name);
    assert.equal(spec.env.MESHGATE_OUTBOUND_PROXY, `http://127.0.0.1:${spec.sidecar?.outboundPort ?? spec.port + 20000}`, w.metadata.name);
    if (spec.command[1] === "reviews.js") assert.equal(spec.env.REVIEWS_VERSION, w.spec.labels.version, w.metadata.name);
  }
});
