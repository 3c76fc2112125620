// `meshgate proxy` as its own process against a control plane serving ADS over mTLS: the
// gateway authenticates with an SVID issued by its Mesh's CA (`meshgate pki issue` from
// the intermediate the control plane keeps in its state directory), receives its
// configuration and serves real requests; a certificate that does not prove the gateway's
// identity, or one from another CA, gets nothing, and the reason is logged.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { request } from "undici";
import { startEmbedded } from "../../src/runtime/embedded.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { runCli } from "../helpers/cli.js";
import { serviceYaml, startEcho, type EchoRequest } from "../helpers/echo-backend.js";
import { edgeGatewayYaml, freePort, GATEWAY_CLASS, waitFor } from "../helpers/gateway-harness.js";
import { spawnMeshgate } from "../helpers/meshgate-process.js";
import { createTestPki } from "../helpers/test-pki.js";

const TRUST_DOMAIN = "e2e.local";
const GATEWAY_ID = `spiffe://${TRUST_DOMAIN}/ns/infra/sa/edge`;

function config(port: number, backendPort: number): string {
  return `${GATEWAY_CLASS}---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: edge-mesh }
spec: { trustDomain: ${TRUST_DOMAIN}, namespaces: [infra] }
---
${edgeGatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: routes, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
${serviceYaml("infra", "web", 80, [{ port: backendPort }])}`;
}

/** A control plane with an mTLS xDS port, a gateway config and a backend; `issue` makes SVIDs from the Mesh's CA. */
async function controlPlane(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-e2e-proxy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configDir = join(dir, "config");
  const stateDir = join(dir, "state");
  mkdirSync(configDir);
  const backend = await startEcho(t, "web");
  const port = await freePort();
  writeFileSync(join(configDir, "config.yaml"), config(port, backend.port));
  const cpLogs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) cpLogs.push(line);
      cb();
    },
  });
  const cp = await startEmbedded({
    configPaths: [configDir],
    admin: { host: "127.0.0.1", port: 0 },
    debounceMs: 10,
    logger: createLogger({ format: "json", destination: sink }),
    gateways: "external",
    controlPlane: { xds: { host: "127.0.0.1", port: 0 }, xdsTls: { host: "127.0.0.1", port: 0 }, stateDir, debounceMs: 5 },
  });
  t.after(() => cp.close());
  // The mTLS port is bound once a configuration with a Mesh has been compiled.
  await waitFor(() => cp.controlPlane.ports.xdsTls !== undefined, 10_000, "the mTLS xDS port");
  const xds = `127.0.0.1:${cp.controlPlane.ports.xdsTls}`;
  const meshCa = join(stateDir, "pki", "meshes", "edge-mesh");
  const bundle = join(meshCa, "root-cert.pem");

  const issue = async (name: string, spiffeId: string) => {
    const out = join(dir, name);
    const r = await runCli(["pki", "issue", "--ca", meshCa, "--spiffe-id", spiffeId, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    return { cert: join(out, "chain.pem"), key: join(out, "key.pem") };
  };
  const proxyArgs = (cert: string, key: string) => ["proxy", "--role", "gateway", "--xds", xds, "--gateway", "infra/edge", "--workers", "0", "--tls-cert", cert, "--tls-key", key, "--tls-ca", bundle, "--log-format", "json"];
  return { dir, port, cp, cpLogs, issue, proxyArgs };
}

test("meshgate proxy authenticates to the mTLS xDS port with its Mesh-issued SVID and serves; a wrong client certificate gets nothing and is logged", async (t) => {
  const { dir, port, cp, cpLogs, issue, proxyArgs } = await controlPlane(t);
  const foreign = createTestPki("foreign");
  t.after(() => foreign.close());

  // Another identity from the same CA: the TLS handshake succeeds, the stream is refused.
  const other = await issue("other", `spiffe://${TRUST_DOMAIN}/ns/infra/sa/someone-else`);
  const impostor = spawnMeshgate(t, proxyArgs(other.cert, other.key));
  // A certificate from a CA the control plane does not trust: the handshake fails.
  const stranger = foreign.leaf("edge", `URI:${GATEWAY_ID}`, "clientAuth");
  writeFileSync(join(dir, "stranger.pem"), stranger.chain);
  writeFileSync(join(dir, "stranger.key"), stranger.key);
  const outsider = spawnMeshgate(t, proxyArgs(join(dir, "stranger.pem"), join(dir, "stranger.key")));

  const refusedLine = await impostor.waitForLine(/xDS stream lost/);
  assert.match(refusedLine, /PERMISSION_DENIED: node gateway~infra~edge belongs to spiffe:\/\/e2e\.local\/ns\/infra\/sa\/edge/);
  assert.match(refusedLine, /someone-else/, "the proxy's log names the identity its certificate presents");
  await waitFor(() => cpLogs.some((l) => /ADS stream refused: the client certificate does not hold the node's identity/.test(l)), 5000, "the control plane to log the refusal");
  const cpLine = cpLogs.find((l) => /ADS stream refused/.test(l))!;
  assert.match(cpLine, /"expected":"spiffe:\/\/e2e\.local\/ns\/infra\/sa\/edge"/);
  // The handshake failure itself reaches the proxy only as "failed to connect"; the proxy
  // says why at start.
  const outsiderLine = await outsider.waitForLine(/--tls-cert does not verify against --tls-ca/);
  assert.match(outsiderLine, /"level":40/);
  assert.match(outsiderLine, /unknown authority|not in the trust bundle/, outsiderLine);
  await outsider.waitForLine(/xDS stream lost/);
  await Promise.all([impostor.stop(), outsider.stop()]);
  // Neither got a listener.
  const refused = await request(`http://127.0.0.1:${port}/`).then(
    () => "answered",
    (e: Error & { code?: string }) => e.code ?? e.message,
  );
  assert.equal(refused, "ECONNREFUSED", "no proxy with a wrong certificate bound the gateway's port");

  // The gateway's own SVID: configuration arrives, requests are routed.
  const own = await issue("edge", GATEWAY_ID);
  const proxy = spawnMeshgate(t, proxyArgs(own.cert, own.key));
  await proxy.waitForLine(/connected to the control plane/);
  await waitFor(
    () => cp.controlPlane.syncz().proxies.some((p) => p.id === "gateway~infra~edge" && p.status === "SYNCED"),
    15_000,
    "the gateway to be in sync",
    () => `; proxy output:\n${proxy.lines.slice(-20).join("\n")}`,
  );
  const synced = cp.controlPlane.syncz().proxies.find((p) => p.id === "gateway~infra~edge")!;
  assert.equal(synced.identity, GATEWAY_ID, "the control plane authenticated the gateway by its SVID");
  let res = await request(`http://127.0.0.1:${port}/hello`).catch(() => undefined);
  for (let i = 0; res?.statusCode !== 200 && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    res = await request(`http://127.0.0.1:${port}/hello`).catch(() => undefined);
  }
  assert.equal(res?.statusCode, 200);
  const echo = (await res!.body.json()) as EchoRequest;
  assert.equal(echo.backend, "web");
  assert.equal(echo.path, "/hello");
  await proxy.stop();
  assert.equal((await proxy.exited).code, 0, proxy.lines.join("\n"));
  assert.deepEqual(proxy.lines.filter((l) => /Warning/.test(l)), [], "no runtime warnings (e.g. an IP address as TLS server name)");
});

test("meshgate proxy reads renewed --tls-cert/--tls-key files on reconnect; half-written files keep the last good ones", async (t) => {
  const { dir, cp, issue, proxyArgs } = await controlPlane(t);
  // The files the proxy is pointed at start with another identity's SVID: refused.
  const files = { cert: join(dir, "svid.pem"), key: join(dir, "svid.key") };
  const other = await issue("other", `spiffe://${TRUST_DOMAIN}/ns/infra/sa/someone-else`);
  copyFileSync(other.cert, files.cert);
  copyFileSync(other.key, files.key);
  const proxy = spawnMeshgate(t, proxyArgs(files.cert, files.key));
  await proxy.waitForLine(/PERMISSION_DENIED.*xDS stream lost/);
  // A renewal caught half-way (new certificate, old key): not used, and said so.
  const own = await issue("edge", GATEWAY_ID);
  copyFileSync(own.cert, files.cert);
  const mismatch = await proxy.waitForLine(/changed but are not usable/);
  assert.match(mismatch, /is not the key of the certificate/);
  // The key arrives: the next attempt presents the gateway's own SVID and is served.
  copyFileSync(own.key, files.key);
  const reloaded = await proxy.waitForLine(/xDS client certificate reloaded/);
  assert.match(reloaded, /spiffe:\/\/e2e\.local\/ns\/infra\/sa\/edge/);
  await waitFor(
    () => cp.controlPlane.syncz().proxies.some((p) => p.id === "gateway~infra~edge" && p.status === "SYNCED" && p.identity === GATEWAY_ID),
    15_000,
    "the gateway to be in sync with its own identity",
  );
  await proxy.stop();
});
