// PeerAuthentication end to end at real sidecars (`meshgate up` as a subprocess): what a
// sidecar's inbound port accepts, probed from outside with real sockets.
//
// Seven workloads in two namespaces of one mesh, each an echo application (an in-test
// server on the Workload's port that answers with the headers it received) behind its
// own sidecar. Every workload is probed three ways:
//   plaintext  an HTTP/1.1 request straight to the sidecar's inbound port;
//   mtls       the same over TLS with an SVID the mesh's own CA issued to a test client
//              (the server must present the workload's SPIFFE ID);
//   caller     the `client` workload calling the workload's Service through its own
//              sidecar's outbound port (the client side picks mTLS or plaintext from the
//              destination's mode, as Istio's auto mTLS does).
// STRICT accepts mtls only, PERMISSIVE both, DISABLE plaintext only; a refused probe
// never reaches the application. The application sees, on mTLS only, what the sidecar
// verified in x-forwarded-client-cert (Envoy's form: `By=<its own SPIFFE ID>;Hash=<client
// certificate SHA-256>;URI=<caller's SPIFFE ID>`); a header the client wrote never arrives.
//
// The phases rewrite the policies (the config watcher reloads, the sidecars follow) to
// cover Istio's precedence: workload (selector) over namespace over mesh (root namespace,
// istio-system); portLevelMtls (keyed by the workload's own port) over the workload's
// mode; UNSET inherits; nothing anywhere is PERMISSIVE; a selector policy in the root
// namespace is ignored.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { type EchoBackend } from "../helpers/echo-backend.js";
import { certificateHash, directRequest, meshApp, meshAppYaml, startMeshUp, viaSidecar, type MeshApp, type MeshUp, type Outcome } from "../helpers/mesh-up.js";
import { createTestPki } from "../helpers/test-pki.js";

const TD = "sec.test";
type Mode = "STRICT" | "PERMISSIVE" | "DISABLE";

const id = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;


function workloadsYaml(apps: readonly MeshApp[]): string {
  const mesh = `apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: sec }
spec: { trustDomain: ${TD}, namespaces: [alpha, beta] }
`;
  return (
    mesh +
    apps
      .map(meshAppYaml)
      .join("")
  );
}

/** A PeerAuthentication (spec as a YAML flow map). */
const pa = (ns: string, name: string, spec: string) => `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: ${ns} }
spec: ${spec}
`;

test("PeerAuthentication at the sidecars: STRICT refuses plaintext, unknown CAs and missing certificates; modes follow Istio's precedence", { timeout: 240_000 }, async (t) => {
  const apps = {
    a1: await meshApp(t, "alpha", "a1"),
    a2: await meshApp(t, "alpha", "a2"),
    a3: await meshApp(t, "alpha", "a3"),
    a4: await meshApp(t, "alpha", "a4"),
    b1: await meshApp(t, "beta", "b1"),
    b2: await meshApp(t, "beta", "b2"),
    client: await meshApp(t, "alpha", "client"),
  };
  const all = Object.values(apps);
  const sidecars = all.map((a) => `sidecar~${a.ns}~${a.name}`);
  const mesh: MeshUp = await startMeshUp(t, { "workloads.yaml": workloadsYaml(all), "policies.yaml": pa("istio-system", "default", "{ mtls: { mode: STRICT } }") }, sidecars);
  const tester = mesh.issueSvid("sec", id("alpha", "tester"));

  let probe = 0;
  /** Sends one probe with a unique path and tells whether the application received it. */
  async function send(a: MeshApp, how: "plaintext" | "mtls" | "caller"): Promise<{ outcome: Outcome; reached: EchoBackend["requests"][number] | undefined }> {
    const path = `/probe/${++probe}`;
    const outcome =
      how === "plaintext"
        ? // A client-written header must never reach the application as if the sidecar had verified it.
          await directRequest(a.inbound, path, undefined, { "x-forwarded-client-cert": `URI=${id("alpha", "forged")}` })
        : how === "mtls"
          ? await directRequest(a.inbound, path, { ca: tester.ca, cert: tester.cert, key: tester.key })
          : await viaSidecar(apps.client.outbound, `http://${a.name}.${a.ns}.svc.cluster.local:80${path}`);
    return { outcome, reached: a.echo.requests.find((r) => r.path === path) };
  }

  /** Probes every workload (but the client) and lists what differs from `want`. */
  async function check(phase: string, want: Readonly<Record<string, Mode>>): Promise<string[]> {
    const failures: string[] = [];
    for (const [name, mode] of Object.entries(want)) {
      const a = apps[name as keyof typeof apps];
      const where = `${phase}: ${a.ns}/${name} (${mode})`;
      const plain = await send(a, "plaintext");
      if (mode === "STRICT") {
        if (plain.outcome.kind !== "refused" || plain.reached) failures.push(`${where}: plaintext was not refused: ${JSON.stringify(plain.outcome).slice(0, 120)}`);
      } else if (plain.outcome.kind !== "response" || plain.outcome.status !== 200 || !plain.reached) {
        failures.push(`${where}: plaintext did not reach the application: ${JSON.stringify(plain.outcome).slice(0, 120)}`);
      } else if (plain.reached.headers["x-forwarded-client-cert"] !== undefined) {
        failures.push(`${where}: plaintext request arrived with x-forwarded-client-cert ${String(plain.reached.headers["x-forwarded-client-cert"])}`);
      }

      const mtls = await send(a, "mtls");
      if (mode === "DISABLE") {
        if (mtls.outcome.kind !== "refused" || mtls.reached) failures.push(`${where}: mTLS was not refused: ${JSON.stringify(mtls.outcome).slice(0, 120)}`);
      } else if (mtls.outcome.kind !== "response" || mtls.outcome.status !== 200 || !mtls.reached) {
        failures.push(`${where}: mTLS did not reach the application: ${JSON.stringify(mtls.outcome).slice(0, 120)}`);
      } else {
        if (mtls.outcome.peerSpiffeId !== id(a.ns, name)) failures.push(`${where}: the sidecar presented ${mtls.outcome.peerSpiffeId}, not ${id(a.ns, name)}`);
        // Envoy's form: the sidecar's own identity, the client certificate's hash, the client's identity.
        const xfcc = `By=${id(a.ns, name)};Hash=${certificateHash(tester.cert)};URI=${id("alpha", "tester")}`;
        if (mtls.reached.headers["x-forwarded-client-cert"] !== xfcc) failures.push(`${where}: the application saw x-forwarded-client-cert ${String(mtls.reached.headers["x-forwarded-client-cert"])}, want ${xfcc}`);
      }

      const caller = await send(a, "caller");
      if (caller.outcome.kind !== "response" || caller.outcome.status !== 200 || !caller.reached) {
        failures.push(`${where}: the client workload's call failed: ${JSON.stringify(caller.outcome).slice(0, 160)}`);
      } else {
        const seen = xfccParts(caller.reached);
        const expected = mode === "DISABLE" ? [] : [`By=${id(a.ns, name)}`, "Hash", `URI=${id("alpha", "client")}`];
        if (JSON.stringify(seen) !== JSON.stringify(expected)) failures.push(`${where}: the client workload's call arrived as ${JSON.stringify(seen)}, want ${JSON.stringify(expected)}`);
      }
    }
    return failures;
  }

  await t.test("STRICT: plaintext (HTTP/1.1 and h2c), TLS without a client certificate and a certificate from a foreign CA are refused; only a mesh SVID gets through", async () => {
    const a1 = apps.a1;
    const before = a1.echo.requests.length;
    const plain = await directRequest(a1.inbound, "/plain");
    assert.equal(plain.kind, "refused", JSON.stringify(plain));
    assert.equal(await h2cRequest(a1.inbound), "refused");
    // TLS 1.3: the client's handshake completes first; the server's alert ends the connection before any response.
    const noCert = await directRequest(a1.inbound, "/no-cert", { ca: tester.ca });
    assert.equal(noCert.kind, "refused", JSON.stringify(noCert));
    // A certificate naming a real mesh identity, but signed by a CA the mesh does not trust.
    const foreign = createTestPki("foreign");
    t.after(() => foreign.close());
    const forged = foreign.leaf("forged", `URI:${id("alpha", "client")}`, "clientAuth");
    const fromForeignCa = await directRequest(a1.inbound, "/foreign", { ca: tester.ca, cert: forged.chain, key: forged.key });
    assert.equal(fromForeignCa.kind, "refused", JSON.stringify(fromForeignCa));
    assert.equal(a1.echo.requests.length, before, "no refused request reached the application");

    const ok = await directRequest(a1.inbound, "/svid", { ca: tester.ca, cert: tester.cert, key: tester.key });
    assert.equal(ok.kind === "response" && ok.status, 200, JSON.stringify(ok));
    assert.equal(ok.kind === "response" && ok.peerSpiffeId, id("alpha", "a1"), "the sidecar presents the workload's SVID");
    assert.deepEqual(a1.echo.requests.slice(before).map((r) => r.path), ["/svid"]);
  });

  await t.test("mesh-wide, namespace, workload and port-level modes with Istio's precedence", async () => {
    await mesh.apply({
      "policies.yaml": [
        pa("istio-system", "default", "{ mtls: { mode: STRICT } }"),
        // Ignored by Istio: a selector policy in the root namespace is not workload-level.
        pa("istio-system", "a1-off", "{ selector: { matchLabels: { app: a1 } }, mtls: { mode: DISABLE } }"),
        pa("beta", "default", "{ mtls: { mode: PERMISSIVE } }"),
        pa("alpha", "a2", "{ selector: { matchLabels: { app: a2 } }, mtls: { mode: DISABLE } }"),
        // No workload mode (inherits the mesh's STRICT); the application's port PERMISSIVE.
        pa("alpha", "a3", `{ selector: { matchLabels: { app: a3 } }, portLevelMtls: { "${apps.a3.echo.port}": { mode: PERMISSIVE } } }`),
        pa("alpha", "a4", `{ selector: { matchLabels: { app: a4 } }, mtls: { mode: DISABLE }, portLevelMtls: { "${apps.a4.echo.port}": { mode: STRICT } } }`),
        // portLevelMtls names the workload's port; the sidecar's inbound port is not it.
        pa("beta", "b1", `{ selector: { matchLabels: { app: b1 } }, mtls: { mode: UNSET }, portLevelMtls: { "${apps.b1.inbound}": { mode: STRICT } } }`),
        pa("beta", "b2", "{ selector: { matchLabels: { app: b2 } }, mtls: { mode: STRICT } }"),
      ].join(""),
    });
    assert.deepEqual(await check("precedence", { a1: "STRICT", a2: "DISABLE", a3: "PERMISSIVE", a4: "STRICT", b1: "PERMISSIVE", b2: "STRICT" }), []);
  });

  await t.test("UNSET inherits at every level; nothing set anywhere is PERMISSIVE", async () => {
    await mesh.apply({
      "policies.yaml": [
        pa("beta", "default", "{ mtls: { mode: DISABLE } }"),
        pa("alpha", "a2", "{ selector: { matchLabels: { app: a2 } }, mtls: { mode: UNSET } }"),
        pa("alpha", "a4", `{ selector: { matchLabels: { app: a4 } }, mtls: { mode: STRICT }, portLevelMtls: { "${apps.a4.echo.port}": { mode: UNSET } } }`),
        pa("beta", "b2", "{ selector: { matchLabels: { app: b2 } } }"),
      ].join(""),
    });
    assert.deepEqual(await check("inheritance", { a1: "PERMISSIVE", a2: "PERMISSIVE", a3: "PERMISSIVE", a4: "STRICT", b1: "DISABLE", b2: "DISABLE" }), []);
  });

  await t.test("namespace over mesh-wide; at one level the oldest policy wins", async () => {
    await mesh.apply({
      "policies.yaml": [
        pa("istio-system", "default", "{ mtls: { mode: DISABLE } }"),
        pa("alpha", "zz-old", "{ mtls: { mode: STRICT } }").replace("namespace: alpha }", 'namespace: alpha, creationTimestamp: "2024-01-01T00:00:00Z" }'),
        pa("alpha", "aa-new", "{ mtls: { mode: PERMISSIVE } }").replace("namespace: alpha }", 'namespace: alpha, creationTimestamp: "2025-01-01T00:00:00Z" }'),
      ].join(""),
    });
    assert.deepEqual(await check("namespace", { a1: "STRICT", a3: "STRICT", b1: "DISABLE", b2: "DISABLE" }), []);
  });

  await t.test("tightening to STRICT also ends plaintext connections opened while PERMISSIVE was in force", async () => {
    await mesh.apply({ "policies.yaml": "" });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const get = (path: string) =>
      new Promise<{ status: number; reused: boolean } | { error: string }>((resolve) => {
        const req = httpRequest({ host: "127.0.0.1", port: apps.a1.inbound, path, agent, headers: { host: "app.test" } }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
        req.end();
      });
    assert.deepEqual(await get("/keep-1"), { status: 200, reused: false });
    assert.deepEqual(await get("/keep-2"), { status: 200, reused: true }, "the connection is kept alive");
    await mesh.apply({ "policies.yaml": pa("istio-system", "default", "{ mtls: { mode: STRICT } }") });
    const after = await get("/keep-3");
    assert.ok("error" in after || after.status !== 200, JSON.stringify(after));
    assert.equal(apps.a1.echo.requests.some((r) => r.path === "/keep-3"), false, "nothing reached the application after STRICT was in force");
  });
});

/** The elements of the x-forwarded-client-cert the application received (Hash without its value). */
function xfccParts(r: EchoBackend["requests"][number]): string[] {
  const v = r.headers["x-forwarded-client-cert"];
  if (typeof v !== "string") return [];
  return v.split(";").map((kv) => (/^Hash=[0-9a-f]{64}$/.test(kv) ? "Hash" : kv));
}

/** A plaintext HTTP/2 request (prior knowledge); "refused" when no response comes. */
function h2cRequest(port: number): Promise<"response" | "refused"> {
  return new Promise((resolve) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    const done = (r: "response" | "refused") => {
      session.destroy();
      resolve(r);
    };
    session.on("error", () => done("refused"));
    session.on("close", () => done("refused"));
    const req = session.request({ ":path": "/h2c" });
    req.on("response", () => done("response"));
    req.on("error", () => done("refused"));
    req.setTimeout(5_000, () => done("refused"));
    req.end();
  });
}
