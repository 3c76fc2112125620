// x-forwarded-client-cert as the connection manager writes it (Envoy's SANITIZE_SET), and
// which setCurrentClientCertDetails the proxy accepts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { clientCertHeader } from "../../../src/proxy/connection-manager.js";
import { compileHttpConnectionManager } from "../../../src/proxy/http-connection-manager.js";
import { createLogger } from "../../../src/telemetry/logger.js";

const HASH = "5e8d9a0c".repeat(8);
const verified = { peerSpiffeId: "spiffe://td/ns/b/sa/client", peerUriSans: ["spiffe://td/ns/b/sa/client"], peerCertificateHash: HASH, localUriSans: ["spiffe://td/ns/a/sa/server"] };

test("By (this proxy's URI SAN), Hash (the client certificate's SHA-256), then URI (the client's URI SANs)", () => {
  assert.equal(clientCertHeader(verified, true), `By=spiffe://td/ns/a/sa/server;Hash=${HASH};URI=spiffe://td/ns/b/sa/client`);
  // Without `uri`: By and Hash only.
  assert.equal(clientCertHeader(verified, false), `By=spiffe://td/ns/a/sa/server;Hash=${HASH}`);
});

test("every URI SAN is listed; a certificate without one still has the (empty) URI key; no local URI SAN, no By", () => {
  assert.equal(clientCertHeader({ ...verified, peerUriSans: ["spiffe://td/x", "urn:example:y"] }, true), `By=spiffe://td/ns/a/sa/server;Hash=${HASH};URI=spiffe://td/x;URI=urn:example:y`);
  assert.equal(clientCertHeader({ peerCertificateHash: HASH, peerUriSans: [], localUriSans: [] }, true), `Hash=${HASH};URI=`);
});

test("values with , ; = or a double quote are quoted, their quotes escaped", () => {
  assert.equal(clientCertHeader({ ...verified, peerUriSans: ['urn:a;b=c,"d"'] }, true), `By=spiffe://td/ns/a/sa/server;Hash=${HASH};URI="urn:a;b=c,\\"d\\""`);
});

test("setCurrentClientCertDetails: uri is honoured; details the proxy does not write are refused (NACK)", () => {
  const hcm = (details: Record<string, unknown>) => ({
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    rds: { routeConfigName: "r" },
    httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    forwardClientCertDetails: "SANITIZE_SET",
    setCurrentClientCertDetails: details,
  });
  const logger = createLogger({ format: "json", level: "silent" });
  assert.deepEqual(compileHttpConnectionManager(hcm({ uri: true }), "l", { logger }).forwardClientCert, { set: true, uri: true });
  assert.deepEqual(compileHttpConnectionManager(hcm({}), "l", { logger }).forwardClientCert, { set: true, uri: false });
  assert.deepEqual(compileHttpConnectionManager({ ...hcm({}), forwardClientCertDetails: "SANITIZE" }, "l", { logger }).forwardClientCert, { set: false, uri: false });
  for (const k of ["subject", "cert", "chain", "dns"]) {
    assert.throws(() => compileHttpConnectionManager(hcm({ uri: true, [k]: true }), "listener x", { logger }), new RegExp(`setCurrentClientCertDetails\\.${k}.*not supported`));
  }
});
