// The Bookinfo example (examples/bookinfo, copied with free ports) run by `meshgate up` as a
// subprocess: every hop is mTLS between sidecars with verified identities, and
// policies.yaml is default-deny with one ALLOW per caller.
//
// What each application saw comes from its own request log (`peer=`: the URI of the
// x-forwarded-client-cert its sidecar wrote after checking the caller's certificate),
// matched to one page view by the request id the page was fetched with, which every
// service copies onto its calls.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.js";
import { directRequest, freePort, startMeshUp, until, viaSidecar } from "../helpers/mesh-up.js";

const EXAMPLE = join(ROOT, "examples/bookinfo");
const TD = "bookinfo.local";
const sa = (ns: string, name: string) => `spiffe://${TD}/ns/${ns}/sa/${name}`;
const GATEWAY = sa("ingress", "bookinfo-gateway");
const PRODUCTPAGE = sa("bookinfo", "bookinfo-productpage");
const REVIEWS = sa("bookinfo", "bookinfo-reviews");
const host = (service: string) => `http://${service}.bookinfo.svc.cluster.local:9080`;

interface Ports {
  readonly app: number;
  readonly inbound: number;
  readonly outbound: number;
}

/** services.yaml with every Workload on free ports (application, sidecar inbound and outbound). */
async function withFreePorts(yaml: string): Promise<{ yaml: string; ports: Map<string, Ports> }> {
  const ports = new Map<string, Ports>();
  const docs: string[] = [];
  for (const doc of yaml.split(/^---$/m)) {
    const name = /kind: Workload\nmetadata: \{ name: ([\w-]+),/.exec(doc)?.[1];
    const app = /^ {2}port: (\d+)$/m.exec(doc)?.[1];
    if (!name || !app) {
      docs.push(doc);
      continue;
    }
    const p: Ports = { app: await freePort(), inbound: await freePort(), outbound: await freePort() };
    ports.set(name, p);
    const outbound = Number(app) + 20000;
    docs.push(
      doc
        .replace(`  port: ${app}\n`, `  port: ${p.app}\n  sidecar: { inboundPort: ${p.inbound}, outboundPort: ${p.outbound} }\n`)
        .replace(`PORT: "${app}"`, `PORT: "${p.app}"`)
        .replace(`http://127.0.0.1:${outbound}`, `http://127.0.0.1:${p.outbound}`),
    );
  }
  assert.equal(ports.size, 6, "six Workloads rewritten");
  return { yaml: docs.join("---"), ports };
}

test("Bookinfo: every hop is mTLS with the caller's verified identity; policies.yaml is default-deny with explicit ALLOWs", { timeout: 240_000 }, async (t) => {
  const gatewayPort = await freePort();
  const gateway = readFileSync(join(EXAMPLE, "gateway.yaml"), "utf8").replace("port: 8080", `port: ${gatewayPort}`);
  const { yaml: services, ports } = await withFreePorts(readFileSync(join(EXAMPLE, "services.yaml"), "utf8"));
  const workloads = [...ports.keys()];
  const mesh = await startMeshUp(t, { "gateway.yaml": gateway, "services.yaml": services }, ["gateway~ingress~bookinfo-gateway", ...workloads.map((w) => `sidecar~bookinfo~${w}`)], { copyFrom: EXAMPLE });
  const port = (w: string) => ports.get(w)!;
  for (const w of workloads) {
    await until(`${w} to answer /health`, async () => ((await fetch(`http://127.0.0.1:${port(w).app}/health`)).status === 200 ? true : undefined), 20_000);
  }

  /** The request log line the application of `workload` wrote for this request id, once written. */
  const logLine = (workload: string, requestId: string) =>
    until(
      `bookinfo/${workload} to log request ${requestId}`,
      async () => mesh.logs().find((l) => l.workload === `bookinfo/${workload}` && typeof l.msg === "string" && l.msg.includes(` request-id=${requestId}`))?.msg as string | undefined,
      5_000,
    );
  const logged = (workload: string, requestId: string) => mesh.logs().some((l) => l.workload === `bookinfo/${workload}` && typeof l.msg === "string" && l.msg.includes(` request-id=${requestId}`));

  await t.test("gateway -> productpage -> details and reviews -> ratings: each application sees its caller's SPIFFE ID", async () => {
    // reviews v2 and v3 call ratings; the split sends them half of the traffic.
    let found: { requestId: string; version: string } | undefined;
    for (let i = 0; i < 40 && !found; i++) {
      const requestId = `bookinfo-e2e-${i}`;
      const r = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`, { headers: { "x-request-id": requestId } });
      const html = await r.text();
      assert.equal(r.status, 200, html.slice(0, 200));
      assert.doesNotMatch(html, /class="error"|class="rating error"/, "no section failed (a refused hop would show as one)");
      const version = /reviews-(v\d)<\/span>/.exec(html)?.[1];
      if (version === "v2" || version === "v3") found = { requestId, version };
    }
    assert.ok(found, "a page served by reviews v2 or v3 within 40 views");
    const { requestId, version } = found;
    const hops: [workload: string, request: string, caller: string][] = [
      ["productpage-v1", "GET /productpage 200", GATEWAY],
      ["details-v1", "GET /details/0 200", PRODUCTPAGE],
      [`reviews-${version}`, "GET /reviews/0 200", PRODUCTPAGE],
      ["ratings-v1", "GET /ratings/0 200", REVIEWS],
    ];
    for (const [workload, request, caller] of hops) {
      const line = await logLine(workload, requestId);
      assert.ok(line.includes(request), `${workload}: ${line}`);
      assert.ok(line.endsWith(`request-id=${requestId} peer=${caller}`), `${workload} saw its caller as ${/peer=(\S+)/.exec(line)?.[1] ?? "nobody"}, want ${caller}: ${line}`);
    }
  });

  await t.test("every sidecar is STRICT and presents its workload's SVID; a mesh identity no policy names gets 403", async () => {
    const stranger = mesh.issueSvid("app", sa("bookinfo", "stranger"));
    const identities: Record<string, string> = {
      "productpage-v1": PRODUCTPAGE,
      "details-v1": sa("bookinfo", "bookinfo-details"),
      "reviews-v1": REVIEWS,
      "reviews-v2": REVIEWS,
      "reviews-v3": REVIEWS,
      "ratings-v1": sa("bookinfo", "bookinfo-ratings"),
    };
    const failures: string[] = [];
    for (const [w, identity] of Object.entries(identities)) {
      const plain = await directRequest(port(w).inbound, "/health");
      if (plain.kind !== "refused") failures.push(`${w}: plaintext answered ${plain.status}`);
      const tls = await directRequest(port(w).inbound, "/health", { ca: stranger.ca, cert: stranger.cert, key: stranger.key });
      if (tls.kind !== "response") failures.push(`${w}: mTLS refused: ${tls.error}`);
      else {
        if (tls.peerSpiffeId !== identity) failures.push(`${w}: sidecar presented ${tls.peerSpiffeId}, want ${identity}`);
        if (tls.status !== 403 || tls.body !== "RBAC: access denied") failures.push(`${w}: a stranger got ${tls.status} ${tls.body}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  await t.test("default-deny: only the calls policies.yaml allows get through, with the methods it names", async () => {
    const cases: [from: string, url: string, method: string, want: number][] = [
      ["productpage-v1", `${host("details")}/details/0`, "GET", 200],
      ["productpage-v1", `${host("reviews")}/reviews/0`, "GET", 200],
      ["productpage-v1", `${host("ratings")}/ratings/0`, "GET", 403],
      ["productpage-v1", `${host("details")}/details/0`, "POST", 403],
      ["reviews-v1", `${host("ratings")}/ratings/0`, "GET", 200],
      ["reviews-v2", `${host("details")}/details/0`, "GET", 403],
      ["details-v1", `${host("reviews")}/reviews/0`, "GET", 403],
      ["ratings-v1", `${host("productpage")}/productpage`, "GET", 403],
    ];
    const failures: string[] = [];
    for (const [i, [from, url, method, want]] of cases.entries()) {
      const requestId = `deny-${i}`;
      const r = await viaSidecar(port(from).outbound, url, { "x-request-id": requestId }, method);
      if (r.kind !== "response") failures.push(`${from} ${method} ${url}: ${r.error}`);
      else if (r.status !== want) failures.push(`${from} ${method} ${url}: ${r.status} (want ${want}) ${r.body.slice(0, 80)}`);
      else if (want === 403 && r.body !== "RBAC: access denied") failures.push(`${from} ${method} ${url}: 403 with ${JSON.stringify(r.body)}`);
    }
    assert.deepEqual(failures, []);
    // A denied call is answered by the callee's sidecar: its application never logs it.
    assert.equal(logged("ratings-v1", "deny-2"), false);
    assert.equal(logged("details-v1", "deny-3"), false);
    // The allowed one was logged with productpage's identity.
    assert.match(await logLine("details-v1", "deny-0"), new RegExp(`peer=${PRODUCTPAGE}$`));
  });

  await t.test("the gateway calling details directly is refused by details' sidecar (403); the page still works", async () => {
    await mesh.apply({
      "details-direct.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: details-direct, namespace: bookinfo }
spec:
  parentRefs: [{ name: bookinfo-gateway, namespace: ingress }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /details } }]
      backendRefs: [{ name: details, port: 9080 }]
`,
    });
    const r = await fetch(`http://127.0.0.1:${gatewayPort}/details/0`, { headers: { "x-request-id": "gateway-to-details" } });
    assert.equal(r.status, 403);
    assert.equal(await r.text(), "RBAC: access denied");
    assert.equal(logged("details-v1", "gateway-to-details"), false);
    const page = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`, { headers: { "x-request-id": "after-direct" } });
    assert.equal(page.status, 200);
    assert.match(await logLine("details-v1", "after-direct"), new RegExp(`peer=${PRODUCTPAGE}$`));
  });
});
