import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as http2 from "node:http2";
import { request as undiciRequest, Agent } from "undici";
import { ListenerManager } from "../../../src/proxy/listeners/listener-manager.js";
import { caSecret, certSecret, chain, curl, echoHandler, issue, listener, makePki, mapOf, portOf, tlsConnect, type Echo } from "./helpers.js";

const pki = await makePki();
const shop = await issue(pki, "spiffe://example.org/gw/shop", ["shop.example"]);
const api = await issue(pki, "spiffe://example.org/gw/api", ["*.api.example"]);
const other = await issue(pki, "spiffe://example.org/gw/other", ["other.example"]);
const secrets = mapOf(certSecret("shop-cert", shop), certSecret("api-cert", api), certSecret("other-cert", other), caSecret("ROOTCA", pki.rootPem));

function gatewayListeners() {
  return mapOf(
    listener("http", [chain({ name: "http|plain" })]),
    listener("https", [
      chain({ name: "https|shop", serverNames: ["shop.example"], certs: ["shop-cert"] }),
      chain({ name: "https|api", serverNames: ["*.api.example"], certs: ["api-cert"] }),
      chain({ name: "https|fallback", certs: ["other-cert"] }),
    ]),
  );
}

async function started(t: { after: (fn: () => Promise<void>) => void }): Promise<ListenerManager> {
  const m = new ListenerManager({ drainTimeoutMs: 2000 });
  t.after(() => m.close());
  await m.apply(gatewayListeners(), secrets, echoHandler);
  return m;
}

function parse(stdout: string): Echo {
  return JSON.parse(stdout) as Echo;
}

test("plaintext HTTP/1.1 (curl) and h2c prior knowledge reach the handler with the matched chain", async (t) => {
  const m = await started(t);
  const port = portOf(m.bound(), "http");
  const r1 = await curl([`http://127.0.0.1:${port}/a/b?x=1`, "-H", "x-test: yes", "--data-binary", "hello"]);
  assert.equal(r1.code, 0, r1.stderr);
  const e1 = parse(r1.stdout);
  assert.equal(e1.protocol, "http/1.1");
  assert.equal(e1.method, "POST");
  assert.equal(e1.scheme, "http");
  assert.equal(e1.rawPath, "/a/b?x=1");
  assert.equal(e1.authority, `127.0.0.1:${port}`);
  assert.equal(e1.headers["x-test"], "yes");
  assert.equal(e1.body, "hello");
  assert.equal(e1.listener, "http");
  assert.equal(e1.chain, "http|plain");
  assert.equal(e1.statPrefix, "http_plain");
  assert.equal(e1.localPort, port);
  assert.equal(e1.tls, undefined);

  const r2 = await curl(["--http2-prior-knowledge", `http://127.0.0.1:${port}/h2c`, "--data-binary", "body2"]);
  assert.equal(r2.code, 0, r2.stderr);
  const e2 = parse(r2.stdout);
  assert.equal(e2.protocol, "h2");
  assert.equal(e2.rawPath, "/h2c");
  assert.equal(e2.authority, `127.0.0.1:${port}`);
  assert.equal(e2.body, "body2");
  assert.equal(Object.keys(e2.headers).some((k) => k.startsWith(":")), false);
});

test("HTTPS: SNI picks the exact chain, then the wildcard, then the chain without names; each with its certificate", async (t) => {
  const m = await started(t);
  const port = portOf(m.bound(), "https");
  const cases = [
    { host: "shop.example", chain: "https|shop", cert: shop },
    { host: "a.api.example", chain: "https|api", cert: api },
    { host: "deep.x.api.example", chain: "https|api", cert: api },
    { host: "unknown.example", chain: "https|fallback", cert: other },
  ];
  for (const c of cases) {
    const r = await curl(["--resolve", `${c.host}:${port}:127.0.0.1`, `https://${c.host}:${port}/p`, "-w", "\n%{http_version}", "-k"]);
    assert.equal(r.code, 0, r.stderr);
    const [json, version] = r.stdout.split("\n");
    const e = parse(json!);
    assert.equal(e.chain, c.chain, c.host);
    assert.equal(e.scheme, "https");
    assert.equal(e.tls?.serverName, c.host);
    assert.equal(version, "2", "curl negotiates h2 by ALPN");
    // The certificate presented is the chain's.
    const s = await tlsConnect(port, { servername: c.host, ca: pki.rootPem, checkServerIdentity: () => undefined });
    assert.equal(new X509Certificate(s.getPeerCertificate().raw).serialNumber, c.cert.serialNumber, c.host);
    s.destroy();
  }
});

test("HTTPS with curl verifying the certificate, HTTP/1.1 and HTTP/2 by ALPN, and undici", async (t) => {
  const m = await started(t);
  const port = portOf(m.bound(), "https");
  const { writeFileSync, mkdtempSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "meshgate-listeners-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, "root.pem");
  writeFileSync(ca, pki.rootPem);
  const h1 = await curl(["--cacert", ca, "--http1.1", "--resolve", `shop.example:${port}:127.0.0.1`, `https://shop.example:${port}/one`]);
  assert.equal(h1.code, 0, h1.stderr);
  assert.equal(parse(h1.stdout).protocol, "http/1.1");
  const h2 = await curl(["--cacert", ca, "--http2", "--resolve", `x.api.example:${port}:127.0.0.1`, `https://x.api.example:${port}/two`]);
  assert.equal(h2.code, 0, h2.stderr);
  assert.equal(parse(h2.stdout).protocol, "h2");
  assert.equal(parse(h2.stdout).chain, "https|api");

  const agent = new Agent({ connect: { ca: pki.rootPem, servername: "shop.example" } });
  t.after(() => agent.close());
  const r = await undiciRequest(`https://127.0.0.1:${port}/undici`, { dispatcher: agent, method: "PUT", body: "payload", headers: { host: "shop.example" } });
  const e = (await r.body.json()) as Echo;
  assert.equal(r.statusCode, 200);
  assert.equal(e.chain, "https|shop");
  assert.equal(e.body, "payload");
  assert.equal(e.method, "PUT");
});

test("node:http2 client over TLS: streams, request body and the :authority", async (t) => {
  const m = await started(t);
  const port = portOf(m.bound(), "https");
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.rootPem, servername: "shop.example" });
  t.after(() => session.close());
  const one = (path: string): Promise<Echo> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ":method": "POST", ":path": path, ":authority": "shop.example" });
      let data = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => (data += d));
      s.on("end", () => resolve(JSON.parse(data) as Echo));
      s.on("error", reject);
      s.end(`body of ${path}`);
    });
  const [a, b] = await Promise.all([one("/x"), one("/y")]);
  assert.equal(a.rawPath, "/x");
  assert.equal(b.body, "body of /y");
  assert.equal(a.authority, "shop.example");
  assert.equal(a.protocol, "h2");
});

test("TLS 1.1 is refused; TLS 1.3 accepted", async (t) => {
  const m = await started(t);
  const port = portOf(m.bound(), "https");
  await assert.rejects(tlsConnect(port, { servername: "shop.example", ca: pki.rootPem, minVersion: "TLSv1", maxVersion: "TLSv1.1", checkServerIdentity: () => undefined }));
  const s = await tlsConnect(port, { servername: "shop.example", ca: pki.rootPem, minVersion: "TLSv1.3", checkServerIdentity: () => undefined });
  assert.equal(s.getProtocol(), "TLSv1.3");
  s.destroy();
});

test("no SNI match and no default chain: the connection is closed", async (t) => {
  const m = new ListenerManager();
  t.after(() => m.close());
  await m.apply(mapOf(listener("named-only", [chain({ name: "shop", serverNames: ["shop.example"], certs: ["shop-cert"] })])), secrets, echoHandler);
  const port = portOf(m.bound(), "named-only");
  await assert.rejects(tlsConnect(port, { servername: "nope.example", ca: pki.rootPem, checkServerIdentity: () => undefined }));
  const ok = await tlsConnect(port, { servername: "shop.example", ca: pki.rootPem });
  ok.destroy();
  // Plaintext on a TLS-only listener: closed too.
  const r = await curl([`http://127.0.0.1:${port}/`]);
  assert.notEqual(r.code, 0);
});
