// AuthorizationPolicy at real sidecars, and the caller's check of the callee's identity,
// end to end through `meshgate up` (a subprocess) with real sockets.
//
// Callers are workloads of the mesh calling through their own sidecar's outbound port (the
// test sends what the application would: an absolute-form request with the Service in
// Host), so the identity the callee's sidecar sees is the caller's SVID, issued by the
// mesh. The callee is an echo application that reports what it received.
//
//   shop/backend    the callee (Service backend)
//   shop/frontend   caller, spiffe://authz.test/ns/shop/sa/frontend
//   shop/intruder   caller, spiffe://authz.test/ns/shop/sa/intruder
//   other/reporter  caller in another namespace
//   shop/payments   Service payments; its sidecar's inbound port is held by an impostor
//                   (an HTTPS server in the test whose certificate each case chooses)
//   shop/ledger-target  a workload an EndpointSlice of Service ledger (no Workload backs
//                   ledger) points at
//
// Each phase rewrites the policies (the config watcher reloads) and lists, per caller,
// the answer it must get: 200 with the caller's identity in the application's
// x-forwarded-client-cert, or 403 `RBAC: access denied` that never reaches the application.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpsServer } from "node:https";
import { createSecureContext, type SecureContext } from "node:tls";
import { serviceYaml, type EchoBackend } from "../helpers/echo-backend.js";
import { directRequest, meshApp, meshAppYaml, startMeshUp, strictMeshYaml, until, viaSidecar, type MeshApp, type Outcome } from "../helpers/mesh-up.js";
import { createTestPki } from "../helpers/test-pki.js";

const TD = "authz.test";
const id = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;


const MESH = strictMeshYaml("authz", TD, ["shop", "other"]);

const policy = (ns: string, name: string, spec: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec: ${spec}
`;

/** An HTTPS server on `port` whose certificate can be swapped (an impostor at another workload's endpoint). */
async function impostor(t: TestContext, port: number): Promise<{ use(ctx: SecureContext): void; requests: string[] }> {
  let ctx: SecureContext | undefined;
  const requests: string[] = [];
  const server = createHttpsServer({ SNICallback: (_name, cb) => (ctx ? cb(null, ctx) : cb(new Error("no certificate yet"))) }, (req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(200, { "content-type": "text/plain", connection: "close" }).end("impostor");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return {
    requests,
    use(next) {
      ctx = next;
      server.closeAllConnections();
    },
  };
}

test("AuthorizationPolicy at the sidecars judges the caller's SVID; callers verify the callee's SPIFFE ID", { timeout: 240_000 }, async (t) => {
  const apps = {
    backend: await meshApp(t, "shop", "backend"),
    frontend: await meshApp(t, "shop", "frontend"),
    intruder: await meshApp(t, "shop", "intruder"),
    reporter: await meshApp(t, "other", "reporter"),
    payments: await meshApp(t, "shop", "payments"),
  };
  // The impostor takes the payments sidecar's inbound port before meshgate starts, so the
  // payments sidecar cannot bind it: whoever dials the payments endpoint reaches the impostor.
  const fake = await impostor(t, apps.payments.inbound);
  const ledgerTarget = await meshApp(t, "shop", "ledger-target");
  const callers = [apps.backend, apps.frontend, apps.intruder, apps.reporter, ledgerTarget];
  const files = {
    "workloads.yaml": MESH + [...callers, apps.payments].map(meshAppYaml).join("") +
      // A Service no Workload backs, whose EndpointSlice points at a workload's sidecar.
      serviceYaml("shop", "ledger", 80, [{ port: ledgerTarget.inbound }]),
    "policies.yaml": "",
  };
  const mesh = await startMeshUp(t, files, callers.map((a) => `sidecar~${a.ns}~${a.name}`));

  let n = 0;
  async function call(from: MeshApp, to: MeshApp, path = "/", headers: Record<string, string> = {}): Promise<{ outcome: Outcome; reached: EchoBackend["requests"][number] | undefined }> {
    const unique = `${path}${path.includes("?") ? "&" : "?"}n=${++n}`;
    const outcome = await viaSidecar(from.outbound, `http://${to.name}.${to.ns}.svc.cluster.local:80${unique}`, headers);
    return { outcome, reached: to.echo.requests.find((r) => r.path === unique) };
  }

  /** What each listed call must get; returns the differences. */
  async function expect(phase: string, cases: readonly [from: MeshApp, path: string, want: 200 | 403][]): Promise<string[]> {
    const failures: string[] = [];
    for (const [from, path, want] of cases) {
      const where = `${phase}: ${from.name} GET ${path}`;
      const { outcome, reached } = await call(from, apps.backend, path);
      if (outcome.kind !== "response") {
        failures.push(`${where}: ${outcome.error}`);
        continue;
      }
      if (outcome.status !== want) failures.push(`${where}: ${outcome.status} (want ${want}) ${outcome.body.slice(0, 100)}`);
      else if (want === 403 && outcome.body !== "RBAC: access denied") failures.push(`${where}: 403 with body ${JSON.stringify(outcome.body)}`);
      else if (want === 403 && reached) failures.push(`${where}: denied, yet the application received it`);
      else if (want === 200 && !(reached && xfccUris(reached).includes(id(from.ns, from.name)))) {
        failures.push(`${where}: the application saw x-forwarded-client-cert ${String(reached?.headers["x-forwarded-client-cert"])}`);
      }
    }
    return failures;
  }

  const { frontend, intruder, reporter } = apps;

  await t.test("ALLOW by principal: the allowed caller gets 200 and the application sees its identity; another gets 403 RBAC: access denied", async () => {
    await mesh.apply({
      "policies.yaml":
        policy("shop", "backend-from-frontend", `{ selector: { matchLabels: { app: backend } }, action: ALLOW, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }] }] }`) +
        // Selects another workload: changes nothing for backend.
        policy("shop", "intruder-only", `{ selector: { matchLabels: { app: frontend } }, action: ALLOW, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/intruder"] } }] }] }`),
    });
    assert.deepEqual(await expect("allow", [[frontend, "/", 200], [intruder, "/", 403], [reporter, "/", 403]]), []);
    // A caller cannot claim another identity with a header: policy reads the certificate, and
    // the application gets the header its sidecar wrote (Envoy's form), never the caller's.
    const forged = { "x-forwarded-client-cert": `URI=${id("shop", "frontend")}` };
    const posing = await call(intruder, apps.backend, "/", forged);
    assert.equal(posing.outcome.kind === "response" && posing.outcome.status, 403);
    assert.equal(posing.reached, undefined);
    const honest = await call(frontend, apps.backend, "/", { "x-forwarded-client-cert": `URI=${id("shop", "admin")}` });
    assert.match(String(honest.reached?.headers["x-forwarded-client-cert"]), new RegExp(`^By=${id("shop", "backend")};Hash=[0-9a-f]{64};URI=${id("shop", "frontend")}$`));
  });

  await t.test("ports name the workload's own port (as in Istio), although the sidecar receives the traffic on its inbound port", async () => {
    await mesh.apply({
      "policies.yaml":
        policy("shop", "app-port", `{ selector: { matchLabels: { app: backend } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }], to: [{ operation: { ports: ["${apps.backend.echo.port}"] } }] }] }`) +
        policy("shop", "inbound-port", `{ selector: { matchLabels: { app: backend } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/intruder"] } }], to: [{ operation: { ports: ["${apps.backend.inbound}"] } }] }] }`),
    });
    assert.deepEqual(await expect("ports", [[frontend, "/", 200], [intruder, "/", 403]]), []);
  });

  await t.test("ALLOW by namespace and path: the rule's every part must match", async () => {
    await mesh.apply({
      "policies.yaml": policy("shop", "backend-from-other", `{ selector: { matchLabels: { app: backend } }, rules: [{ from: [{ source: { namespaces: [other] } }], to: [{ operation: { paths: ["/reports/*"] } }] }] }`),
    });
    assert.deepEqual(await expect("namespace", [[reporter, "/reports/q1", 200], [reporter, "/admin", 403], [frontend, "/reports/q1", 403]]), []);
  });

  await t.test("DENY wins over ALLOW", async () => {
    await mesh.apply({
      "policies.yaml":
        policy("shop", "allow-both", `{ selector: { matchLabels: { app: backend } }, action: ALLOW, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/shop/sa/intruder"] } }] }] }`) +
        policy("shop", "deny-intruder", `{ selector: { matchLabels: { app: backend } }, action: DENY, rules: [{ from: [{ source: { principals: ["${TD}/ns/shop/sa/intruder"] } }] }] }`) +
        policy("shop", "deny-admin", `{ selector: { matchLabels: { app: backend } }, action: DENY, rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }`),
    });
    assert.deepEqual(await expect("deny", [[frontend, "/", 200], [frontend, "/admin", 403], [intruder, "/", 403]]), []);
  });

  await t.test("deny-all (spec: {}) with no matching ALLOW refuses; an ALLOW opens exactly what it names", async () => {
    await mesh.apply({ "policies.yaml": policy("shop", "deny-all", "{}") });
    assert.deepEqual(await expect("deny-all", [[frontend, "/", 403], [intruder, "/", 403], [reporter, "/", 403]]), []);
    await mesh.apply({
      "policies.yaml": policy("shop", "deny-all", "{}") + policy("shop", "backend-get-from-frontend", `{ selector: { matchLabels: { app: backend } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }], to: [{ operation: { methods: [GET] } }] }] }`),
    });
    assert.deepEqual(await expect("deny-all + allow", [[frontend, "/", 200], [intruder, "/", 403], [reporter, "/", 403]]), []);
    // The namespace-wide deny-all still guards the other workloads of shop.
    const other = await call(frontend, apps.intruder);
    assert.equal(other.outcome.kind === "response" && other.outcome.status, 403, JSON.stringify(other.outcome));
    assert.equal(other.reached, undefined);
  });

  await t.test("PERMISSIVE with an ALLOW by principal: plaintext has no principal and gets 403", async () => {
    await mesh.apply({
      "policies.yaml":
        policy("shop", "backend-from-frontend", `{ selector: { matchLabels: { app: backend } }, rules: [{ from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }] }] }`) +
        `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: backend, namespace: shop }
spec: { selector: { matchLabels: { app: backend } }, mtls: { mode: PERMISSIVE } }
`,
    });
    const before = apps.backend.echo.requests.length;
    const plain = await directRequest(apps.backend.inbound, "/plain");
    assert.equal(plain.kind === "response" && plain.status, 403, JSON.stringify(plain));
    assert.equal(plain.kind === "response" && plain.body, "RBAC: access denied");
    assert.equal(apps.backend.echo.requests.length, before);
    assert.deepEqual(await expect("permissive", [[frontend, "/", 200]]), []);
  });

  await t.test("the caller verifies the callee's SPIFFE ID: an endpoint served with another identity gets 503 and nothing", async () => {
    // A genuine SVID of this mesh, but not the identity that backs payments.
    const wrong = mesh.issueSvid("authz", id("shop", "intruder"));
    fake.use(createSecureContext({ cert: wrong.cert, key: wrong.key }));
    for (const caller of [frontend, reporter]) {
      const r = await call(caller, apps.payments);
      assert.equal(r.outcome.kind === "response" && r.outcome.status, 503, `${caller.name}: ${JSON.stringify(r.outcome)}`);
    }
    // The caller's sidecar says why: the identity, not the chain.
    await until("the SAN mismatch to be logged", async () => (mesh.logs().some((l) => l.workload === "shop/frontend" && String(l.msg).includes(`certificate SAN ${id("shop", "intruder")} does not match ${id("shop", "payments")}`)) ? true : undefined), 5_000);
    // A certificate naming payments, from a CA the mesh does not trust.
    const foreign = createTestPki("impostor");
    t.after(() => foreign.close());
    const forged = foreign.leaf("payments", `URI:${id("shop", "payments")}`, "serverAuth,clientAuth");
    fake.use(createSecureContext({ cert: forged.chain, key: forged.key }));
    const r = await call(frontend, apps.payments);
    assert.equal(r.outcome.kind === "response" && r.outcome.status, 503, JSON.stringify(r.outcome));
    assert.deepEqual(fake.requests, [], "no request reached the impostor");
    assert.equal(apps.payments.echo.requests.length, 0);

    // The control: with payments' own identity the same endpoint is accepted, so the
    // refusals above were the identity check.
    const right = mesh.issueSvid("authz", id("shop", "payments"));
    fake.use(createSecureContext({ cert: right.cert, key: right.key }));
    const ok = await until("the payments endpoint to be accepted with the payments identity", async () => {
      const c = await call(frontend, apps.payments);
      return c.outcome.kind === "response" && c.outcome.status === 200 ? c.outcome : undefined;
    }, 10_000);
    assert.equal(ok.body, "impostor");
  });

  await t.test("an EndpointSlice cannot lend a workload's identity: a Service no Workload backs is called in plaintext, which a STRICT sidecar refuses", async () => {
    await mesh.apply({ "policies.yaml": "" });
    const r = await viaSidecar(frontend.outbound, `http://ledger.shop.svc.cluster.local:80/books`);
    assert.equal(r.kind === "response" && r.status, 503, JSON.stringify(r));
    assert.equal(ledgerTarget.echo.requests.length, 0, "the request never reached the application behind that sidecar");
  });
});

/** The URI= elements of the x-forwarded-client-cert an application received. */
function xfccUris(r: EchoBackend["requests"][number]): string[] {
  const v = r.headers["x-forwarded-client-cert"];
  return typeof v === "string" ? v.split(/[;,]/).filter((kv) => kv.startsWith("URI=")).map((kv) => kv.slice(4)) : [];
}
