import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { listenerResource } from "../../../src/xds/resources/listener.js";
import { ANY_TYPES, JWT_PAYLOAD_METADATA_KEY } from "../../../src/xds/resources/common.js";
import type { IrListener, IrJwtProvider } from "../../../src/ir/index.js";
import { hcm } from "./fixtures.js";

/** Encodes (strictly) and decodes again: what a proxy would read. */
function roundTrip(l: IrListener, localLimits = false): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  return decodeResource(TYPE_URLS.listener, encodeResource(TYPE_URLS.listener, listenerResource(l, { routesHaveLocalRateLimits: () => localLimits })));
}

const provider = (over: Partial<IrJwtProvider> = {}): IrJwtProvider => ({
  name: "apps/auth/0",
  issuer: "https://idp.example",
  audiences: ["bookinfo"],
  jwks: { inline: '{"keys":[]}' },
  fromHeaders: [{ name: "x-token", prefix: "Bearer " }],
  fromParams: ["token"],
  fromCookies: ["session"],
  forwardOriginalToken: true,
  outputPayloadToHeader: "x-jwt-payload",
  outputClaimToHeaders: [{ header: "x-sub", claim: "sub" }],
  ...over,
});

test("a gateway HTTPS listener: SNI chains, TLS inspector, SDS certificates, TLS 1.3 minimum, ALPN", () => {
  const l = roundTrip({
    kind: "socket",
    name: "infra/edge/https",
    address: "0.0.0.0",
    port: 8443,
    direction: "gateway",
    filterChains: [
      {
        name: "shop.example",
        serverNames: ["shop.example", "*.shop.example"],
        transport: "tls",
        tls: { certificates: ["infra/shop-cert"], requireClientCertificate: false, alpn: ["h2", "http/1.1"], minVersion: "1.3" },
        http: hcm("infra/edge/https"),
      },
    ],
  });
  assert.deepEqual(l.address, { socketAddress: { address: "0.0.0.0", portValue: 8443 } });
  assert.equal(l.trafficDirection, undefined);
  assert.equal(l.listenerFilters[0].name, "envoy.filters.listener.tls_inspector");
  assert.equal(l.listenerFilters[0].typedConfig["@type"], ANY_TYPES.tlsInspector);
  const chain = l.filterChains[0];
  assert.deepEqual(chain.filterChainMatch, { serverNames: ["shop.example", "*.shop.example"], transportProtocol: "tls" });
  const tls = chain.transportSocket.typedConfig;
  assert.equal(chain.transportSocket.name, "envoy.transport_sockets.tls");
  assert.equal(tls["@type"], ANY_TYPES.downstreamTls);
  assert.deepEqual(tls.commonTlsContext.tlsCertificateSdsSecretConfigs, [{ name: "infra/shop-cert", sdsConfig: { ads: {}, resourceApiVersion: "V3" } }]);
  assert.equal(tls.commonTlsContext.tlsParams.tlsMinimumProtocolVersion, "TLSv1_3");
  assert.deepEqual(tls.commonTlsContext.alpnProtocols, ["h2", "http/1.1"]);
  assert.deepEqual(tls.requireClientCertificate, { value: false });
  assert.equal(tls.commonTlsContext.validationContextSdsSecretConfig, undefined);
});

test("a PERMISSIVE sidecar inbound: a tls chain with mTLS + SAN matchers and a raw_buffer chain; XFCC set", () => {
  const l = roundTrip({
    kind: "socket",
    name: "inbound|9080",
    address: "10.0.1.1",
    port: 19080,
    direction: "inbound",
    filterChains: [
      {
        name: "mtls",
        serverNames: [],
        transport: "tls",
        tls: {
          certificates: ["default"],
          clientValidation: { secret: "ROOTCA", subjectAltNames: [{ type: "URI", value: "spiffe://mesh.example/ns/apps/sa/productpage" }] },
          requireClientCertificate: true,
          alpn: [],
          minVersion: "1.2",
        },
        http: hcm("inbound|9080", { forwardClientCert: true }),
      },
      { name: "plaintext", serverNames: [], transport: "raw", http: hcm("inbound|9080") },
    ],
  });
  assert.equal(l.trafficDirection, "INBOUND");
  assert.equal(l.listenerFilters.length, 1);
  assert.deepEqual(l.filterChains.map((c: any) => c.filterChainMatch.transportProtocol), ["tls", "raw_buffer"]); // eslint-disable-line @typescript-eslint/no-explicit-any
  const tls = l.filterChains[0].transportSocket.typedConfig;
  assert.deepEqual(tls.requireClientCertificate, { value: true });
  const combined = tls.commonTlsContext.combinedValidationContext;
  assert.deepEqual(combined.defaultValidationContext.matchTypedSubjectAltNames, [{ sanType: "URI", matcher: { exact: "spiffe://mesh.example/ns/apps/sa/productpage" } }]);
  assert.equal(combined.validationContextSdsSecretConfig.name, "ROOTCA");
  assert.equal(tls.commonTlsContext.tlsParams.tlsMinimumProtocolVersion, "TLSv1_2");
  const h = l.filterChains[0].filters[0].typedConfig;
  assert.equal(h.forwardClientCertDetails, "SANITIZE_SET");
  assert.deepEqual(h.setCurrentClientCertDetails, { uri: true });
  assert.equal(l.filterChains[1].transportSocket, undefined);
  assert.equal(l.filterChains[1].filters[0].typedConfig.forwardClientCertDetails, undefined);
});

test("a plaintext outbound listener has no TLS inspector", () => {
  const l = roundTrip({ kind: "socket", name: "o", address: "127.0.0.1", port: 29080, direction: "outbound", filterChains: [{ name: "p", serverNames: [], transport: "raw", http: hcm("o") }] });
  assert.equal(l.listenerFilters, undefined);
  assert.equal(l.trafficDirection, "OUTBOUND");
});

test("the HCM: RDS over ADS, codec AUTO, path normalisation, escaped slashes, timeouts, upgrades", () => {
  const l = roundTrip({
    kind: "socket",
    name: "l",
    address: "0.0.0.0",
    port: 80,
    direction: "gateway",
    filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("infra/edge/http", { escapedSlashes: "RejectRequest", normalizePath: false, mergeSlashes: false, requestTimeoutMs: 1500, idleTimeoutMs: 60_000, upgradeTypes: ["websocket"] }) }],
  });
  const h = l.filterChains[0].filters[0];
  assert.equal(h.name, "envoy.filters.network.http_connection_manager");
  const c = h.typedConfig;
  assert.equal(c["@type"], ANY_TYPES.hcm);
  assert.equal(c.codecType, "AUTO");
  assert.equal(c.statPrefix, "infra_edge_http");
  assert.deepEqual(c.rds, { configSource: { ads: {}, resourceApiVersion: "V3" }, routeConfigName: "infra/edge/http" });
  assert.deepEqual(c.normalizePath, { value: false });
  assert.equal(c.mergeSlashes, false);
  assert.equal(c.pathWithEscapedSlashesAction, "REJECT_REQUEST");
  assert.deepEqual(c.requestTimeout, { seconds: 1, nanos: 500_000_000 });
  assert.deepEqual(c.commonHttpProtocolOptions.idleTimeout, { seconds: 60 });
  assert.deepEqual(c.upgradeConfigs, [{ upgradeType: "websocket" }]);
  assert.deepEqual(c.httpFilters.map((f: any) => f.name), ["envoy.filters.http.router"]); // eslint-disable-line @typescript-eslint/no-explicit-any
});

test("http filters run in order: jwt_authn, rbac LOG, DENY, ALLOW, local_ratelimit, ratelimit, router", () => {
  const l = roundTrip({
    kind: "socket",
    name: "l",
    address: "0.0.0.0",
    port: 80,
    direction: "gateway",
    filterChains: [
      {
        name: "c",
        serverNames: [],
        transport: "raw",
        http: hcm("t", {
          filters: {
            jwtAuthn: { providers: [provider()] },
            authorization: {
              policies: [
                { name: "apps/allow", action: "ALLOW", rules: [{}] },
                { name: "apps/deny", action: "DENY", rules: [{}] },
                { name: "apps/audit", action: "AUDIT", rules: [{}] },
              ],
            },
            localRateLimit: { rules: [] },
            globalRateLimit: { domain: "apps/limits", rules: [], serviceCluster: "ratelimit|8081" },
          },
        }),
      },
    ],
  });
  const filters = l.filterChains[0].filters[0].typedConfig.httpFilters;
  assert.deepEqual(
    filters.map((f: any) => f.name), // eslint-disable-line @typescript-eslint/no-explicit-any
    ["envoy.filters.http.jwt_authn", "envoy.filters.http.rbac.audit", "envoy.filters.http.rbac.deny", "envoy.filters.http.rbac.allow", "envoy.filters.http.local_ratelimit", "envoy.filters.http.ratelimit", "envoy.filters.http.router"],
  );
  assert.deepEqual(filters.slice(1, 4).map((f: any) => f.typedConfig.rules.action), ["LOG", "DENY", "ALLOW"]); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(filters.some((f: any) => f.isOptional), false, "Envoy must run every security filter"); // eslint-disable-line @typescript-eslint/no-explicit-any
  const rl = filters[5].typedConfig;
  assert.equal(rl.domain, "apps/limits");
  assert.equal(rl.rateLimitService.grpcService.envoyGrpc.clusterName, "ratelimit|8081");
  assert.equal(rl.rateLimitService.transportApiVersion, "V3");
  assert.equal(filters[4].typedConfig["@type"], ANY_TYPES.localRateLimit);
});

test("the local_ratelimit filter is present when the route table carries local limits, absent otherwise", () => {
  const l = (local: boolean) =>
    roundTrip({ kind: "socket", name: "l", address: "0.0.0.0", port: 80, direction: "gateway", filterChains: [{ name: "c", serverNames: [], transport: "raw", http: hcm("t") }] }, local)
      .filterChains[0].filters[0].typedConfig.httpFilters.map((f: any) => f.name); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(l(true), ["envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]);
  assert.deepEqual(l(false), ["envoy.filters.http.router"]);
});

test("jwt_authn: providers with their token sources, forwarding, payload in the shared metadata key; one rule requiring any provider or none", () => {
  const l = roundTrip({
    kind: "socket",
    name: "l",
    address: "0.0.0.0",
    port: 80,
    direction: "gateway",
    filterChains: [
      {
        name: "c",
        serverNames: [],
        transport: "raw",
        http: hcm("t", { filters: { jwtAuthn: { providers: [provider(), provider({ name: "apps/auth/1", issuer: "https://other", audiences: [], jwks: { uri: "https://other:8443/keys" }, fromHeaders: [], fromParams: [], fromCookies: [], forwardOriginalToken: false, outputPayloadToHeader: undefined, outputClaimToHeaders: [] })] } } }),
      },
    ],
  });
  const jwt = l.filterChains[0].filters[0].typedConfig.httpFilters[0].typedConfig;
  assert.equal(jwt["@type"], ANY_TYPES.jwtAuthn);
  const p0 = jwt.providers["apps/auth/0"];
  assert.equal(p0.issuer, "https://idp.example");
  assert.deepEqual(p0.audiences, ["bookinfo"]);
  assert.deepEqual(p0.localJwks, { inlineString: '{"keys":[]}' });
  assert.deepEqual(p0.fromHeaders, [{ name: "x-token", valuePrefix: "Bearer " }]);
  assert.deepEqual(p0.fromParams, ["token"]);
  assert.deepEqual(p0.fromCookies, ["session"]);
  assert.equal(p0.forward, true);
  assert.equal(p0.forwardPayloadHeader, "x-jwt-payload");
  assert.equal(p0.payloadInMetadata, JWT_PAYLOAD_METADATA_KEY);
  assert.deepEqual(p0.claimToHeaders, [{ headerName: "x-sub", claimName: "sub" }]);
  const p1 = jwt.providers["apps/auth/1"];
  assert.equal(p1.remoteJwks.httpUri.uri, "https://other:8443/keys");
  assert.equal(p1.remoteJwks.httpUri.cluster, "jwks|other:8443");
  assert.equal(p1.fromHeaders, undefined);
  assert.equal(p1.payloadInMetadata, JWT_PAYLOAD_METADATA_KEY);
  assert.deepEqual(jwt.rules, [
    { match: { prefix: "/" }, requires: { requiresAny: { requirements: [{ providerName: "apps/auth/0" }, { providerName: "apps/auth/1" }, { allowMissing: {} }] } } },
  ]);
});

test("an API listener carries the HCM; filters gRPC does not run client-side are marked optional, the router last", () => {
  const l = roundTrip({
    kind: "api",
    name: "reviews.apps:9080",
    http: hcm("outbound|9080", { idleTimeoutMs: 1000, upgradeTypes: ["websocket"], filters: { jwtAuthn: { providers: [provider()] }, authorization: { policies: [{ name: "a/b", action: "ALLOW", rules: [{}] }] } } }),
  });
  assert.equal(l.name, "reviews.apps:9080");
  assert.equal(l.address, undefined);
  const h = l.apiListener.apiListener;
  assert.equal(h["@type"], ANY_TYPES.hcm);
  assert.equal(h.rds.routeConfigName, "outbound|9080");
  assert.equal(h.commonHttpProtocolOptions, undefined);
  assert.equal(h.upgradeConfigs, undefined, "proxyless gRPC has no upgrades");
  assert.deepEqual(h.httpFilters.map((f: any) => [f.name, f.isOptional ?? false]), [ // eslint-disable-line @typescript-eslint/no-explicit-any
    ["envoy.filters.http.jwt_authn", true],
    ["envoy.filters.http.rbac.allow", true],
    ["envoy.filters.http.router", false],
  ]);
});
