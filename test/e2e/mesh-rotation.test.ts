// Certificate rotation under load, end to end: `meshgate up` with a Mesh whose SVIDs live
// 10 s (renewed every 5 s), a gateway and two sidecars, and steady traffic on both mesh
// paths for longer than two lifetimes:
//
//   client -> gateway -> front's sidecar -> front -> front's sidecar -> back's sidecar -> back
//   client (as an application) -> front's sidecar (outbound) -> back's sidecar -> back
//
// over keep-alive connections and over a fresh connection per request. No request may
// fail; the certificates the sidecars present on new connections must change at every
// renewal (to ones issued under the same intermediate and root), and every proxy (the
// gateway included) must put each renewed SVID in force before the previous one expires.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { Pool } from "undici";
import { FastSvidIssuer, generateKeyPair, privateKeyToPem, readCaFolder, SpiffeId } from "../../src/pki/index.js";
import { until } from "../helpers/mesh-up.js";
import { spawnMeshgate } from "../helpers/meshgate-process.js";
import { freePort } from "../helpers/free-port.js";

const TTL_S = 10;
/** Steady load for this long: the first SVIDs expire at 10 s, renewals come every ~5 s. */
const LOAD_MS = 27_000;
const TRUST_DOMAIN = "rotation.local";


function config(p: { gateway: number; front: number; frontIn: number; frontOut: number; back: number; backIn: number; backOut: number }): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
---
apiVersion: v1
kind: Namespace
metadata: { name: edge }
---
apiVersion: v1
kind: Namespace
metadata: { name: apps }
---
apiVersion: meshgate.dev/v1alpha1
kind: Mesh
metadata: { name: rotation }
spec:
  trustDomain: ${TRUST_DOMAIN}
  namespaces: [edge, apps]
  ca: { rootName: rotation }
  workloadCertTTL: ${TTL_S}s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: edge }
spec:
  gatewayClassName: meshgate
  listeners:
    - name: http
      port: ${p.gateway}
      protocol: HTTP
      allowedRoutes: { namespaces: { from: All } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: front, namespace: apps }
spec:
  parentRefs: [{ name: gw, namespace: edge }]
  rules:
    - backendRefs: [{ name: front, port: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: front, namespace: apps }
spec: { ports: [{ name: http, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: back, namespace: apps }
spec: { ports: [{ name: http, port: 8080 }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: apps }
spec: { mtls: { mode: STRICT } }
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: front, namespace: apps }
spec:
  serviceAccount: front
  port: ${p.front}
  sidecar: { inboundPort: ${p.frontIn}, outboundPort: ${p.frontOut} }
  services: [front]
---
apiVersion: meshgate.dev/v1alpha1
kind: Workload
metadata: { name: back, namespace: apps }
spec:
  serviceAccount: back
  port: ${p.back}
  sidecar: { inboundPort: ${p.backIn}, outboundPort: ${p.backOut} }
  services: [back]
`;
}

/** The applications, in this process: back answers; front answers /chain by calling back through its sidecar. */
function startApps(p: { front: number; back: number; frontOut: number }): { close(): Promise<void> } {
  const back = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(`back ${req.url}`));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const front = http.createServer((req, res) => {
    req.resume();
    if (req.url !== "/chain") {
      res.writeHead(200, { "content-type": "text/plain" }).end("front");
      return;
    }
    // Through the sidecar's HTTP proxy port, in absolute form, as applications do.
    const out = http.request({ host: "127.0.0.1", port: p.frontOut, path: "http://back.apps:8080/from-front", agent, headers: { host: "back.apps:8080" } }, (r) => {
      const chunks: Buffer[] = [];
      r.on("data", (c: Buffer) => chunks.push(c));
      r.on("end", () => res.writeHead(r.statusCode === 200 ? 200 : 502, { "content-type": "text/plain" }).end(`front > ${r.statusCode} ${Buffer.concat(chunks).toString()}`));
    });
    out.on("error", (e) => res.writeHead(502).end(`front > error ${e.message}`));
    out.end();
  });
  back.listen(p.back, "127.0.0.1");
  front.listen(p.front, "127.0.0.1");
  return {
    async close() {
      agent.destroy();
      back.closeAllConnections();
      front.closeAllConnections();
      await Promise.all([new Promise((r) => back.close(r)), new Promise((r) => front.close(r))]);
    },
  };
}

interface Presented {
  readonly at: number;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spiffeId: string | undefined;
  /** SHA-256 of the issuer (intermediate) certificate in the chain the sidecar sent. */
  readonly issuer: string;
}

/** A new mTLS handshake with a sidecar's inbound port: the certificate it presents now. */
function presentedBy(port: number, client: { cert: string; key: string; ca: string }): Promise<Presented> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ...client, servername: "probe", ALPNProtocols: ["http/1.1"], checkServerIdentity: () => undefined }, () => {
      const c = s.getPeerCertificate(true);
      const issuer = c.issuerCertificate && c.issuerCertificate !== c ? createHash("sha256").update(c.issuerCertificate.raw).digest("hex") : "";
      resolve({ at: Date.now(), serial: c.serialNumber, notBefore: Date.parse(c.valid_from), notAfter: Date.parse(c.valid_to), spiffeId: /URI:(spiffe:\/\/[^,\s]+)/.exec(c.subjectaltname ?? "")?.[1], issuer });
      s.end();
    });
    s.setTimeout(5000, () => s.destroy(new Error("TLS handshake timed out")));
    s.on("error", reject);
  });
}

interface LoadStats {
  ok: number;
  failed: number;
  failures: string[];
}

function record(stats: LoadStats, what: string, status: number | undefined, body: string, err?: unknown): void {
  if (err === undefined && status === 200 && body.length > 0) stats.ok++;
  else {
    stats.failed++;
    if (stats.failures.length < 20) stats.failures.push(`${new Date().toISOString()} ${what}: ${err !== undefined ? String(err) : `${status} ${body.slice(0, 200)}`}`);
  }
}

/** One request on a connection of its own (`Connection: close`), so every request makes a new handshake/pool entry downstream. */
function freshRequest(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, agent: false, headers: { host, connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

test("SVIDs with a 10 s lifetime rotate under steady load with zero failed requests; new connections get the new certificates; the CA is not re-issued", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-rotation-"));
  const state = `${dir}-state`;
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });
  const [gateway, front, frontIn, frontOut, back, backIn, backOut, ratelimit] = await Promise.all(Array.from({ length: 8 }, freePort));
  const ports = { gateway: gateway!, front: front!, frontIn: frontIn!, frontOut: frontOut!, back: back!, backIn: backIn!, backOut: backOut! };
  writeFileSync(join(dir, "mesh.yaml"), config(ports));
  const apps = startApps(ports);
  t.after(() => apps.close());

  const up = spawnMeshgate(t, ["up", "--config", dir, "--admin", "127.0.0.1:0", "--xds", "127.0.0.1:0", "--xds-tls", "127.0.0.1:0", "--ratelimit-service", `127.0.0.1:${ratelimit}`, "--state-dir", state, "--gateway-workers", "1", "--log-format", "json"]);
  t.after(() => up.stop());
  const adminLine = await up.waitForLine(/Admin: http:\/\/127\.0\.0\.1:\d+\/readyz/, 30_000);
  const admin = /Admin: (http:\/\/127\.0\.0\.1:\d+)\/readyz/.exec(adminLine)![1]!;

  // Both paths answer before the load starts.
  await until("the gateway path", async () => {
    const r = await freshRequest(ports.gateway, "/chain", "shop.example");
    return r.status === 200 && r.body === "front > 200 back /from-front" ? r : undefined;
  }, 30_000);
  await until("the sidecar-to-sidecar path", async () => {
    const r = await freshRequest(ports.frontOut, "http://back.apps:8080/direct", "back.apps:8080");
    return r.status === 200 && r.body === "back /direct" ? r : undefined;
  }, 30_000);

  // The CA on disk, to check it is never re-issued.
  const rootPem = readFileSync(join(state, "pki/roots/rotation/root-cert.pem"), "utf8");
  const intermediatePem = readFileSync(join(state, "pki/meshes/rotation/ca-cert.pem"), "utf8");
  const intermediate = new X509Certificate(intermediatePem);
  const intermediateSha = createHash("sha256").update(intermediate.raw).digest("hex");

  // A client certificate of the mesh (long-lived: it is the probe's, not a proxy's).
  const probeKey = generateKeyPair("ec-p256");
  const probeSvid = new FastSvidIssuer(readCaFolder(join(state, "pki/meshes/rotation"))).issueForKey(probeKey.publicKey, SpiffeId.parse(`spiffe://${TRUST_DOMAIN}/ns/apps/sa/probe`), { ttlMs: 3_600_000 });
  const probe = { cert: probeSvid.chainPem, key: privateKeyToPem(probeKey.privateKey), ca: rootPem };

  // ---- steady load ----------------------------------------------------------------------
  const stats = { gatewayPooled: { ok: 0, failed: 0, failures: [] }, gatewayFresh: { ok: 0, failed: 0, failures: [] }, meshPooled: { ok: 0, failed: 0, failures: [] }, meshFresh: { ok: 0, failed: 0, failures: [] } } satisfies Record<string, LoadStats>;
  const gatewayPool = new Pool(`http://127.0.0.1:${ports.gateway}`, { connections: 4, pipelining: 1 });
  const outboundPool = new Pool(`http://127.0.0.1:${ports.frontOut}`, { connections: 4, pipelining: 1 });
  t.after(() => Promise.all([gatewayPool.destroy(), outboundPool.destroy()]));
  const end = Date.now() + LOAD_MS;
  const pooledLoop = async (pool: Pool, s: LoadStats, path: string, host: string, what: string) => {
    while (Date.now() < end) {
      try {
        const r = await pool.request({ method: "GET", path, headers: { host }, headersTimeout: 10_000, bodyTimeout: 10_000 });
        record(s, what, r.statusCode, await r.body.text());
      } catch (e) {
        record(s, what, undefined, "", e);
      }
    }
  };
  const freshLoop = async (port: number, s: LoadStats, path: string, host: string, what: string) => {
    while (Date.now() < end) {
      try {
        const r = await freshRequest(port, path, host);
        record(s, what, r.status, r.body);
      } catch (e) {
        record(s, what, undefined, "", e);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // Fresh mTLS handshakes with both sidecars, a few per second: what they present over time.
  const presented: { front: Presented[]; back: Presented[] } = { front: [], back: [] };
  const probeLoop = async () => {
    while (Date.now() < end) {
      for (const [which, port] of [["front", ports.frontIn], ["back", ports.backIn]] as const) {
        try {
          presented[which].push(await presentedBy(port, probe));
        } catch (e) {
          record(stats.meshFresh, `probe handshake with ${which}'s sidecar`, undefined, "", e);
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const started = Date.now();
  await Promise.all([
    pooledLoop(gatewayPool, stats.gatewayPooled, "/chain", "shop.example", "gateway, keep-alive"),
    pooledLoop(gatewayPool, stats.gatewayPooled, "/chain", "shop.example", "gateway, keep-alive"),
    pooledLoop(outboundPool, stats.meshPooled, "http://back.apps:8080/pooled", "back.apps:8080", "sidecar to sidecar, keep-alive"),
    pooledLoop(outboundPool, stats.meshPooled, "http://back.apps:8080/pooled", "back.apps:8080", "sidecar to sidecar, keep-alive"),
    freshLoop(ports.gateway, stats.gatewayFresh, "/chain", "shop.example", "gateway, new connection"),
    freshLoop(ports.frontOut, stats.meshFresh, "http://back.apps:8080/fresh", "back.apps:8080", "sidecar to sidecar, new connection"),
    probeLoop(),
  ]);
  const elapsed = Date.now() - started;

  // ---- zero failed requests -------------------------------------------------------------
  const all = Object.entries(stats);
  const summary = all.map(([k, s]) => `${k}: ${s.ok} ok, ${s.failed} failed`).join("; ");
  t.diagnostic(`${elapsed} ms of load: ${summary}`);
  for (const [k, s] of all) {
    assert.equal(s.failed, 0, `${k}: ${s.failed} failed requests\n${s.failures.join("\n")}\n${up.lines.filter((l) => /"level":(40|50)/.test(l)).slice(-20).join("\n")}`);
    assert.ok(s.ok >= 20, `${k}: only ${s.ok} requests in ${elapsed} ms (${summary})`);
  }

  // ---- rotations happened, and new connections got the new certificates ---------------
  const renewals = up.lines.filter((l) => l.includes("certificates renewed and served"));
  assert.ok(renewals.length >= 4, `at least 4 renewals in ${elapsed} ms of ${TTL_S} s SVIDs, saw ${renewals.length}`);
  for (const [which, seen] of Object.entries(presented)) {
    assert.ok(seen.length >= 20, `${which}: ${seen.length} probe handshakes`);
    const serials = [...new Set(seen.map((p) => p.serial))];
    assert.ok(serials.length >= 3, `${which}'s sidecar presented ${serials.length} certificates over ${elapsed} ms (the first and at least 2 renewed ones)`);
    for (const [i, p] of seen.entries()) {
      assert.equal(p.spiffeId, `spiffe://${TRUST_DOMAIN}/ns/apps/sa/${which}`);
      assert.ok(p.at < p.notAfter, `${which}'s sidecar presented a certificate that had expired (serial ${p.serial}, notAfter ${new Date(p.notAfter).toISOString()}, seen ${new Date(p.at).toISOString()})`);
      assert.ok(p.notAfter - p.notBefore <= TTL_S * 1000 + 5 * 60_000, "SVIDs follow workloadCertTTL (plus the 5 min back-dating)");
      assert.equal(p.issuer, intermediateSha, `${which}'s SVID chains to the mesh's one intermediate`);
      // A newer certificate replaces an older one, never the reverse.
      if (i > 0 && p.serial !== seen[i - 1]!.serial) assert.ok(p.notAfter > seen[i - 1]!.notAfter, `${which}: certificates went backwards`);
    }
    // The certificate in force at the end was issued within the last half life (+3 s for the push).
    const last = seen[seen.length - 1]!;
    assert.ok(last.at - (last.notAfter - TTL_S * 1000) < (TTL_S * 1000) / 2 + 3000, `${which}: the certificate presented last is stale`);
  }

  // Every proxy, the gateway included, put each renewed SVID in force before the one it
  // replaced expired (its log: "certificate in force"), and the sidecars presented those.
  interface InForce { time: number; serial: string; spiffeId?: string; notAfter: string; gateway?: string; workload?: string; msg: string }
  const inForce = up.lines.filter((l) => l.includes('"certificate in force"')).map((l) => JSON.parse(l) as InForce).filter((l) => l.msg === "certificate in force");
  const proxies = { "edge/gw": `spiffe://${TRUST_DOMAIN}/ns/edge/sa/gw`, "apps/front": `spiffe://${TRUST_DOMAIN}/ns/apps/sa/front`, "apps/back": `spiffe://${TRUST_DOMAIN}/ns/apps/sa/back` };
  for (const [proxy, spiffeId] of Object.entries(proxies)) {
    const mine = inForce.filter((l) => (l.gateway ?? l.workload) === proxy && l.spiffeId === spiffeId);
    const during = mine.filter((l) => l.time >= started && l.time <= started + elapsed);
    assert.ok(during.length >= 2, `${proxy}: ${during.length} renewed SVIDs put in force during the load (${mine.length} in all)`);
    for (let i = 1; i < mine.length; i++) {
      const previousExpiry = Date.parse(mine[i - 1]!.notAfter);
      assert.ok(mine[i]!.time < previousExpiry, `${proxy}: serial ${mine[i]!.serial} was put in force at ${new Date(mine[i]!.time).toISOString()}, after ${mine[i - 1]!.serial} expired (${mine[i - 1]!.notAfter})`);
    }
    const sidecar = proxy === "apps/front" ? presented.front : proxy === "apps/back" ? presented.back : undefined;
    if (sidecar) {
      const logged = new Set(mine.map((l) => l.serial.toUpperCase()));
      for (const p of sidecar) assert.ok(logged.has(p.serial.toUpperCase()), `${proxy} presented serial ${p.serial}, which it never reported in force`);
    }
  }
  // Every proxy ends up on the latest renewal (ACKed over xDS).
  await until("every proxy synced to the latest certificates", async () => {
    const syncz = (await (await fetch(`${admin}/debug/syncz`)).json()) as { proxies: { id: string; version: string | null; status: string }[] };
    const mesh = syncz.proxies.filter((p) => /^(gateway|sidecar)~/.test(p.id));
    return mesh.length === 3 && mesh.every((p) => p.status === "SYNCED" && /\+certs\.\d+$/.test(p.version ?? "")) ? mesh : undefined;
  }, 10_000);

  // ---- the CA stays as it was ------------------------------------------------------------
  assert.equal(readFileSync(join(state, "pki/roots/rotation/root-cert.pem"), "utf8"), rootPem, "the root was not re-issued");
  assert.equal(readFileSync(join(state, "pki/meshes/rotation/ca-cert.pem"), "utf8"), intermediatePem, "the intermediate was not re-issued");
});
