import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { buildSnapshots, SnapshotBuilder } from "../../../src/xds/resources/build-snapshots.js";
import { XdsUnsupportedError } from "../../../src/errors.js";
import { cluster, clientProxy, decoded, meshSnapshot, RATINGS, REVIEWS, testCertificateSource, TRUST_DOMAIN } from "./fixtures.js";

const { source, rootPem } = await testCertificateSource();

test("one encoded cluster, endpoint set and route table object is shared by every node snapshot that lists it", () => {
  const set = buildSnapshots(meshSnapshot(), source);
  const a = set.nodes.get("sidecar~apps~productpage")!;
  const b = set.nodes.get("sidecar~apps~reviews-v1")!;
  for (const kind of ["cluster", "endpoint"] as const) {
    assert.equal(a.resources[kind].get(REVIEWS), b.resources[kind].get(REVIEWS));
    assert.equal(a.resources[kind].get(REVIEWS), set.fallback.resources[kind].get(REVIEWS));
  }
  assert.equal(a.resources.route.get("outbound|9080"), set.fallback.resources.route.get("outbound|9080"));
  // Listeners are per proxy objects (equal content here, but built for each).
  assert.deepEqual(decoded(a.resources.listener.get("outbound|9080")), decoded(b.resources.listener.get("outbound|9080")));
  assert.deepEqual([...a.resources.cluster.keys()].sort(), ["inbound|9080|local", RATINGS, REVIEWS].sort());
});

test("the `*` fallback is the client proxy's view, without secrets even when the IR lists some", () => {
  const ir = meshSnapshot();
  assert.ok(ir.proxies.find((p) => p.id === "*")!.secrets.length > 0);
  const set = buildSnapshots(ir, source);
  assert.equal(set.nodes.has("*"), false);
  assert.equal(set.fallback.resources.secret.size, 0);
  assert.deepEqual([...set.fallback.resources.listener.keys()], ["reviews.apps:9080"]);
  assert.equal(set.version, "1");
  assert.equal(set.fallback.version, "1");
});

test("without a client proxy the fallback is empty", () => {
  const ir = meshSnapshot();
  const set = buildSnapshots({ ...ir, proxies: ir.proxies.filter((p) => p.role !== "client") }, source);
  for (const kind of ["listener", "route", "cluster", "endpoint", "secret"] as const) assert.equal(set.fallback.resources[kind].size, 0);
});

test("sidecars get their own SVID and the trust bundle from the certificate source", () => {
  const set = buildSnapshots(meshSnapshot(), source);
  const svid = decoded(set.nodes.get("sidecar~apps~productpage")!.resources.secret.get("default"));
  const leaf = new X509Certificate(svid.tlsCertificate.certificateChain.inlineString);
  assert.equal(leaf.subjectAltName, `URI:spiffe://${TRUST_DOMAIN}/ns/apps/sa/productpage`);
  assert.match(svid.tlsCertificate.privateKey.inlineString, /BEGIN PRIVATE KEY/);
  const other = decoded(set.nodes.get("sidecar~apps~reviews-v1")!.resources.secret.get("default"));
  assert.equal(new X509Certificate(other.tlsCertificate.certificateChain.inlineString).subjectAltName, `URI:spiffe://${TRUST_DOMAIN}/ns/apps/sa/reviews-v1`);
  const bundle = decoded(set.nodes.get("sidecar~apps~productpage")!.resources.secret.get("ROOTCA"));
  assert.equal(bundle.validationContext.trustedCa.inlineString, rootPem);
});

test("a rebuild after one cluster changed re-encodes only that cluster, and reuses every other object", () => {
  const builder = new SnapshotBuilder(source);
  const first = builder.build(meshSnapshot());
  const firstStats = { ...builder.stats };
  assert.ok(firstStats.encoded > 5);
  const issuedBefore = source.issued;
  const second = builder.build(meshSnapshot({ version: 2, clusters: [cluster(REVIEWS, { connectTimeoutMs: 1000 }), cluster(RATINGS)] }));
  assert.equal(builder.stats.encoded, 1);
  assert.ok(builder.stats.reused > 5);
  assert.equal(source.issued, issuedBefore, "SVIDs are not re-issued per build");
  const [n1, n2] = [first.nodes.get("sidecar~apps~productpage")!, second.nodes.get("sidecar~apps~productpage")!];
  assert.notEqual(n1.resources.cluster.get(REVIEWS), n2.resources.cluster.get(REVIEWS));
  assert.notEqual(n1.resources.cluster.get(REVIEWS)!.version, n2.resources.cluster.get(REVIEWS)!.version);
  assert.equal(decoded(n2.resources.cluster.get(REVIEWS)).connectTimeout.seconds, 1);
  assert.equal(n1.resources.endpoint.get(REVIEWS), n2.resources.endpoint.get(REVIEWS), "endpoints did not change");
  assert.equal(n1.resources.cluster.get(RATINGS), n2.resources.cluster.get(RATINGS));
  assert.equal(n1.resources.listener.get("inbound|9080"), n2.resources.listener.get("inbound|9080"));
  assert.equal(n1.resources.secret.get("default"), n2.resources.secret.get("default"));
  assert.equal(n2.version, "2");
});

test("an endpoint change re-encodes the endpoint set only", () => {
  const builder = new SnapshotBuilder(source);
  builder.build(meshSnapshot());
  builder.build(meshSnapshot({ clusters: [cluster(REVIEWS, { endpoints: [{ address: "10.0.0.9", port: 9080, healthy: true }] }), cluster(RATINGS)] }));
  assert.equal(builder.stats.encoded, 1);
});

test("versions are short content hashes: same bytes, same version", () => {
  const a = buildSnapshots(meshSnapshot(), source);
  const b = buildSnapshots(meshSnapshot({ version: 7 }), source);
  const ra = a.nodes.get("sidecar~apps~productpage")!.resources.cluster.get(REVIEWS)!;
  const rb = b.nodes.get("sidecar~apps~productpage")!.resources.cluster.get(REVIEWS)!;
  assert.match(ra.version, /^[A-Za-z0-9_-]{16}$/);
  assert.equal(ra.version, rb.version);
  assert.deepEqual(ra.value, rb.value);
});

test("a proxy naming a cluster or route table the snapshot lacks is an error with a code", () => {
  const ir = meshSnapshot();
  const broken = { ...ir, proxies: [clientProxy({ clusters: ["nope"] })] };
  assert.throws(() => buildSnapshots(broken, source), (e: unknown) => e instanceof XdsUnsupportedError && e.code === "ERR_XDS_UNSUPPORTED" && /cluster nope/.test(e.message));
});

test("remote JWKS providers add a jwks|host:port cluster to the proxy", () => {
  const ir = meshSnapshot();
  const p = clientProxy();
  const withJwt = {
    ...p,
    listeners: [
      {
        kind: "api" as const,
        name: "reviews.apps:9080",
        http: {
          ...(p.listeners[0] as { http: any }).http, // eslint-disable-line @typescript-eslint/no-explicit-any
          filters: {
            jwtAuthn: {
              providers: [
                { name: "apps/jwt/0", issuer: "https://idp.example", audiences: [], jwks: { uri: "https://idp.example/jwks.json" }, fromHeaders: [], fromParams: [], fromCookies: [], forwardOriginalToken: false, outputClaimToHeaders: [] },
              ],
            },
          },
        },
      },
    ],
  };
  const set = buildSnapshots({ ...ir, proxies: [withJwt] }, source);
  const c = decoded(set.fallback.resources.cluster.get("jwks|idp.example:443"));
  assert.equal(c.type, "LOGICAL_DNS");
  assert.equal(c.transportSocket.typedConfig.sni, "idp.example");
});
