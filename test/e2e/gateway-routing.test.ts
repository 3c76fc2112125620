// The embedded gateway end to end: `meshgate up`'s control plane compiles the YAML, the
// gateway proxy receives it over xDS and serves real sockets; real backends answer. Each
// Gateway API routing feature is exercised with a real HTTP client (undici) and curl.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { promisify } from "node:util";
import { request } from "undici";
import { serviceYaml, startEcho, type EchoBackend, type EchoRequest } from "../helpers/echo-backend.js";
import { freePort, GATEWAY_CLASS, startGatewayHarness, waitFor } from "../helpers/gateway-harness.js";

const run = promisify(execFile);

interface Setup {
  readonly port: number;
  readonly v1: EchoBackend;
  readonly v2: EchoBackend;
  readonly mirror: EchoBackend;
}

function config(s: Setup, extraRules = "", weights = { v1: 1, v2: 1 }): string {
  return `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.1 }]
  listeners:
    - { name: http, port: ${s.port}, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: routes, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs: [{ name: v1, port: 80, weight: ${weights.v1} }, { name: v2, port: 80, weight: ${weights.v2} }]
    - matches: [{ path: { type: Exact, value: /exact } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /by-header }, headers: [{ name: x-version, value: two }] }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /by-header } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /by-query }, queryParams: [{ name: v, value: "2" }] }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /by-method }, method: POST }]
      backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /redirect } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, hostname: secure.example, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /headers } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-added, value: "yes" }], remove: [x-remove-me] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-resp, value: from-gateway }] }
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: mirror, port: 80 } } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /missing } }]
      backendRefs: [{ name: nosuch, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /public } }]
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      backendRefs: [{ name: v2, port: 80 }]
${extraRules}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin", "/admin/*"] } }] }]
${serviceYaml("infra", "v1", 80, [s.v1])}${serviceYaml("infra", "v2", 80, [s.v2])}${serviceYaml("infra", "mirror", 80, [s.mirror])}`;
}

async function get(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method: (init.method ?? "GET") as "GET", headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) });
  const text = await res.body.text();
  let echo: EchoRequest | undefined;
  try {
    echo = JSON.parse(text) as EchoRequest;
  } catch {
    echo = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, echo };
}

async function setup(t: import("node:test").TestContext) {
  const s: Setup = { port: await freePort(), v1: await startEcho(t, "v1"), v2: await startEcho(t, "v2"), mirror: await startEcho(t, "mirror") };
  const h = await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(s) });
  return { s, h };
}

test("gateway routes by path, header, query and method; weights split traffic; 404 when nothing matches", async (t) => {
  const { s } = await setup(t);
  assert.equal((await get(s.port, "/exact")).echo?.backend, "v1");
  assert.equal((await get(s.port, "/exact/more")).status, 404, "Exact does not match a longer path");
  assert.equal((await get(s.port, "/by-header", { headers: { "x-version": "two" } })).echo?.backend, "v2");
  assert.equal((await get(s.port, "/by-header")).echo?.backend, "v1");
  assert.equal((await get(s.port, "/by-query?v=2")).echo?.backend, "v2");
  assert.equal((await get(s.port, "/by-query?v=1")).status, 404);
  assert.equal((await get(s.port, "/by-method", { method: "POST", body: "x" })).echo?.backend, "v2");
  assert.equal((await get(s.port, "/nothing-here")).status, 404);
  const counts = { v1: 0, v2: 0 };
  for (let i = 0; i < 40; i++) counts[(await get(s.port, "/split")).echo!.backend as "v1" | "v2"]++;
  assert.ok(counts.v1 > 5 && counts.v2 > 5, `both backends get a share of a 1:1 split: ${JSON.stringify(counts)}`);
});

test("gateway filters: redirect, prefix rewrite, request and response header modifiers, mirror, 500 for an invalid backend", async (t) => {
  const { s } = await setup(t);
  const r = await get(s.port, "/redirect/a?b=c");
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, "https://secure.example/redirect/a?b=c");
  const rw = await get(s.port, "/old/page?q=1");
  assert.equal(rw.echo?.path, "/new/page?q=1");
  const hm = await get(s.port, "/headers", { headers: { "x-remove-me": "1", "x-keep": "k" } });
  assert.equal(hm.echo?.headers["x-added"], "yes");
  assert.equal(hm.echo?.headers["x-remove-me"], undefined);
  assert.equal(hm.echo?.headers["x-keep"], "k");
  assert.equal(hm.headers["x-resp"], "from-gateway");
  assert.ok(hm.echo?.headers["x-forwarded-for"], "x-forwarded-for is set");
  assert.equal(hm.echo?.headers["x-forwarded-proto"], "http");
  assert.match(String(hm.echo?.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
  const m = await get(s.port, "/mirror/x");
  assert.equal(m.echo?.backend, "v1");
  await waitFor(() => s.mirror.requests.some((q) => q.path === "/mirror/x"), 5000, "the mirror to receive a copy");
  const bad = await get(s.port, "/missing");
  assert.equal(bad.status, 500, "a backendRef to a missing Service answers 500");
});

test("paths are normalised before routing and authorization: no spelling of /admin slips past the DENY policy", async (t) => {
  const { s } = await setup(t);
  assert.equal((await get(s.port, "/public/x")).echo?.backend, "v1");
  assert.equal((await get(s.port, "/admin")).status, 403);
  const denied = await get(s.port, "/admin/x");
  assert.equal(denied.status, 403);
  assert.equal(denied.text, "RBAC: access denied");
  // Sent raw (clients would normalise some of these themselves).
  for (const path of ["/public/../admin", "/public/%2e%2e/admin", "//admin", "/%2e%2e/admin", "/./admin/", "/public/..%2Fadmin"]) {
    const status = await rawStatus(s.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.ok(status === 403 || status === 307 || status === 400, `${path} answered ${status}, not the admin backend`);
  }
  assert.equal(s.v2.requests.filter((q) => q.path.includes("admin")).length, 0, "the admin backend never saw a request");
});

test("request smuggling is refused: conflicting Content-Length / Transfer-Encoding", async (t) => {
  const { s } = await setup(t);
  const cases = [
    "POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "POST /public HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
  ];
  for (const c of cases) assert.equal(await rawStatus(s.port, c), 400, JSON.stringify(c));
  assert.equal(s.v1.requests.filter((q) => q.method === "POST").length, 0);
});

test("curl through the gateway (HTTP/1.1 and h2c prior knowledge)", async (t) => {
  const { s } = await setup(t);
  const h1 = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", `http://127.0.0.1:${s.port}/exact`]);
  assert.equal(h1.stdout, "200 1.1");
  const h2 = await run("curl", ["-s", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}", `http://127.0.0.1:${s.port}/exact`]);
  const [body, status] = h2.stdout.split("\n");
  assert.equal(status, "200 2");
  assert.equal((JSON.parse(body!) as EchoRequest).backend, "v1");
});

test("a configuration change under load fails no request", async (t) => {
  const { s, h } = await setup(t);
  let failures = 0;
  let sent = 0;
  let stop = false;
  const seen = new Set<string>();
  const load = (async () => {
    while (!stop) {
      const r = await get(s.port, "/split").catch(() => ({ status: 0, echo: undefined }));
      sent++;
      if (r.status !== 200) failures++;
      else seen.add(r.echo!.backend);
    }
  })();
  await h.write(config(s, "", { v1: 0, v2: 1 }));
  // Requests already on their way may still reach v1; look at the ones sent afterwards.
  await new Promise((r) => setTimeout(r, 100));
  seen.clear();
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await load;
  assert.equal(failures, 0, `${failures} of ${sent} requests failed`);
  assert.deepEqual([...seen], ["v2"], "after the change every request goes to v2");
});

function rawStatus(port: number, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let data = "";
    sock.on("data", (d) => (data += d.toString("latin1")));
    sock.on("error", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    sock.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    sock.setTimeout(5000, () => {
      sock.destroy();
      reject(new Error(`no answer to ${JSON.stringify(payload)}`));
    });
    sock.write(payload);
  });
}

test("the control plane restarting fails no request: the gateway keeps its configuration and reconnects", async (t) => {
  const { s, h } = await setup(t);
  let failures = 0;
  let sent = 0;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      const r = await get(s.port, "/exact").catch(() => ({ status: 0 }));
      sent++;
      if (r.status !== 200) failures++;
    }
  })();
  await h.stopControlPlane();
  await new Promise((r) => setTimeout(r, 500));
  const during = sent;
  await h.startControlPlane();
  await h.converged(15_000);
  stop = true;
  await load;
  assert.ok(during > 5, `requests were served while the control plane was down (${during})`);
  assert.equal(failures, 0, `${failures} of ${sent} requests failed`);
  assert.ok(h.proxy.client.counters.reconnects >= 1, "the gateway reconnected");
  // The new control plane numbers its versions from the start again; a change it serves
  // must still take effect.
  await h.write(config(s, "", { v1: 0, v2: 1 }));
  for (let i = 0; i < 10; i++) {
    const r = await get(s.port, "/split");
    assert.equal(r.echo?.backend, "v2", "after the change every request goes to v2");
  }
});
