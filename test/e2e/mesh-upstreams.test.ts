// Sidecar upstreams end to end through `meshgate up` (a subprocess) with real sockets: the
// application calls `http://127.0.0.1:<localPort>/...` (origin-form, any Host) and its
// sidecar calls the one Service port the entry names, as its outbound port would.
//
//   shop/backend     the destination (Service backend, port 80); an AuthorizationPolicy
//                    allows only shop/frontend's principal
//   shop/backend-v2  the canary (Service backend-v2), same policy
//   shop/frontend    caller, upstream `backend:80` on a local port
//   other/intruder   caller in another namespace, upstream `shop/backend:80`
//
// The applications are echo servers that answer with what they received, so each call
// shows which workload it reached and the x-forwarded-client-cert its sidecar wrote: the
// identity verified in the mTLS handshake. A GAMMA HTTPRoute added while running (header
// match to the canary, an even split otherwise) must hold through the local port too.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { EchoRequest } from "../helpers/echo-backend.js";
import { directRequest, freePort, meshApp, meshAppYaml, startMeshUp, strictMeshYaml, type MeshApp } from "../helpers/mesh-up.js";

const TD = "upstreams.test";
const id = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

const MESH = strictMeshYaml("up", TD, ["shop", "other"]);

const allowFrontend = (app: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${app}-from-frontend, namespace: shop }
spec: { selector: { matchLabels: { app: ${app} } }, action: ALLOW, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }] }] }
`;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-canary, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: backend, port: 80 }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "1" }] }]
      backendRefs: [{ name: backend-v2, port: 80 }]
    - backendRefs: [{ name: backend, port: 80, weight: 1 }, { name: backend-v2, port: 80, weight: 1 }]
`;

/** The app's Service and Workload, with sidecar upstreams (YAML flow maps). */
function withUpstreams(a: MeshApp, upstreams: string[]): string {
  const yaml = meshAppYaml(a);
  const sidecar = `sidecar: { inboundPort: ${a.inbound}, outboundPort: ${a.outbound} }`;
  assert.ok(yaml.includes(sidecar));
  return yaml.replace(sidecar, `sidecar: { inboundPort: ${a.inbound}, outboundPort: ${a.outbound}, upstreams: [${upstreams.join(", ")}] }`);
}

/** What the application calling its local port gets: the status and, when it got through, what the callee received. */
async function callLocal(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; reached?: EchoRequest }> {
  // fetch sends origin-form with Host 127.0.0.1:<port>, as an application would.
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const body = await r.text();
  return { status: r.status, body, ...(r.headers.get("content-type") === "application/json" ? { reached: JSON.parse(body) as EchoRequest } : {}) };
}

function xfcc(r: EchoRequest | undefined): string {
  return String(r?.headers["x-forwarded-client-cert"]);
}

test("sidecar upstreams: the application's local port reaches the Service over mTLS with its identity, GAMMA routes applied", { timeout: 180_000 }, async (t) => {
  const backend = await meshApp(t, "shop", "backend");
  const canary = await meshApp(t, "shop", "backend-v2");
  const frontend = await meshApp(t, "shop", "frontend");
  const intruder = await meshApp(t, "other", "intruder");
  const local = { frontend: await freePort(), intruder: await freePort() };
  const files = {
    "workloads.yaml":
      MESH +
      meshAppYaml(backend) +
      meshAppYaml(canary) +
      withUpstreams(frontend, [`{ service: backend, port: 80, localPort: ${local.frontend} }`]) +
      withUpstreams(intruder, [`{ service: shop/backend, port: 80, localPort: ${local.intruder} }`]) +
      allowFrontend("backend") +
      allowFrontend("backend-v2"),
    "routes.yaml": "",
  };
  const mesh = await startMeshUp(t, files, [backend, canary, frontend, intruder].map((a) => `sidecar~${a.ns}~${a.name}`));

  await t.test("any Host reaches the Service; the callee's sidecar verified the caller's SVID", async () => {
    const r = await callLocal(local.frontend, "/hello?n=1");
    assert.equal(r.status, 200, r.body);
    assert.equal(r.reached?.backend, "shop/backend");
    assert.equal(r.reached?.path, "/hello?n=1");
    assert.equal(r.reached?.headers.host, `127.0.0.1:${local.frontend}`, "the Host is passed on as the application sent it");
    assert.match(xfcc(r.reached), new RegExp(`^By=${id("shop", "backend")};Hash=[0-9a-f]{64};URI=${id("shop", "frontend")}$`));

    const other = await directRequest(local.frontend, "/any-host");
    assert.equal(other.kind === "response" && other.status, 200, JSON.stringify(other));
    assert.equal(other.kind === "response" && (JSON.parse(other.body) as EchoRequest).headers.host, "app.test");
  });

  await t.test("a caller without the allowed principal gets 403 from the callee's sidecar, even naming the Service across namespaces", async () => {
    const before = backend.echo.requests.length;
    const r = await callLocal(local.intruder, "/hello");
    assert.equal(r.status, 403, r.body);
    assert.equal(r.body, "RBAC: access denied");
    assert.equal(backend.echo.requests.length, before, "the application never saw it");
    // A header cannot claim another identity: the callee reads the certificate.
    const forged = await callLocal(local.intruder, "/hello", { "x-forwarded-client-cert": `URI=${id("shop", "frontend")}` });
    assert.equal(forged.status, 403);
  });

  await t.test("a GAMMA HTTPRoute on the Service holds through the local port: header match to the canary, an even split otherwise", async () => {
    await mesh.apply({ "routes.yaml": ROUTE });
    for (let i = 0; i < 5; i++) {
      const r = await callLocal(local.frontend, `/canary?i=${i}`, { "x-canary": "1" });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.reached?.backend, "shop/backend-v2");
      assert.match(xfcc(r.reached), new RegExp(`^By=${id("shop", "backend-v2")};Hash=[0-9a-f]{64};URI=${id("shop", "frontend")}$`));
    }
    const reached = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await callLocal(local.frontend, `/split?i=${i}`);
      assert.equal(r.status, 200, r.body);
      reached.set(r.reached!.backend, (reached.get(r.reached!.backend) ?? 0) + 1);
    }
    // Each side has weight 1: 40 calls all landing on one side happen once in 2^39.
    assert.deepEqual([...reached.keys()].sort(), ["shop/backend", "shop/backend-v2"], JSON.stringify([...reached]));
    // The route changes nothing for who may call: the intruder is still refused on both.
    for (const headers of [{ "x-canary": "1" }, {}] as Record<string, string>[]) {
      const r = await callLocal(local.intruder, "/split", headers);
      assert.equal(r.status, 403, r.body);
    }
  });

  await t.test("sidecars serve with the small young generation gateway workers have", async () => {
    const dump = (await (await fetch(`${mesh.adminUrl}/config_dump`)).json()) as { gatewayProxies: { role: string; pid?: number }[] };
    const sidecars = dump.gatewayProxies.filter((p) => p.role !== "gateway");
    assert.equal(sidecars.length, 4);
    for (const { pid } of sidecars) assert.ok(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("--max-semi-space-size=2"), `sidecar ${pid}`);
  });
});
