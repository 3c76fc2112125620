import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { decodeResource, encodeResource, TYPE_URLS } from "../../../src/xds/envoy-protos.js";
import { secretResource } from "../../../src/xds/resources/secret.js";
import { CaCertificateSource } from "../../../src/xds/certificate-source.js";
import { TrustDomainUnknownError } from "../../../src/errors.js";
import { createIntermediateCa, createRootCa, FastSvidIssuer, TrustDomain } from "../../../src/pki/index.js";
import type { IrSecret } from "../../../src/ir/index.js";
import type { CertificateSource } from "../../../src/xds/certificate-source.js";
import { testCertificateSource, TRUST_DOMAIN } from "./fixtures.js";

const { source, rootPem } = await testCertificateSource();
const sds = (s: IrSecret, certs: CertificateSource = source): any => decodeResource(TYPE_URLS.secret, encodeResource(TYPE_URLS.secret, secretResource(s, certs))); // eslint-disable-line @typescript-eslint/no-explicit-any

test("certificate and CA bundle secrets carry their PEM inline", () => {
  assert.deepEqual(sds({ name: "infra/shop-cert", kind: "certificate", certPem: "CERT", keyPem: "KEY" }), {
    name: "infra/shop-cert",
    tlsCertificate: { certificateChain: { inlineString: "CERT" }, privateKey: { inlineString: "KEY" } },
  });
  assert.deepEqual(sds({ name: "apps/backend-ca", kind: "ca-bundle", caPem: "CA" }), { name: "apps/backend-ca", validationContext: { trustedCa: { inlineString: "CA" } } });
});

test("a trust bundle holds the trust domain's roots plus extra PEM; an unknown trust domain is an error with a code", () => {
  const s = sds({ name: "ROOTCA", kind: "trust-bundle", trustDomains: [TRUST_DOMAIN], extraCaPem: "EXTRA" });
  assert.equal(s.validationContext.trustedCa.inlineString, `${rootPem}EXTRA\n`);
  assert.throws(() => sds({ name: "ROOTCA", kind: "trust-bundle", trustDomains: ["other.example"] }), (e: unknown) => e instanceof TrustDomainUnknownError && e.code === "ERR_XDS_TRUST_DOMAIN_UNKNOWN");
});

test("SVIDs are issued once per identity and renewed after half their lifetime", async () => {
  const td = TrustDomain.parse(TRUST_DOMAIN);
  const root = await createRootCa({ trustDomain: td });
  let now = Date.now();
  const certs = new CaCertificateSource({ issuer: new FastSvidIssuer(await createIntermediateCa(root, { mesh: "m" })), roots: new Map([[TRUST_DOMAIN, root.certificatePem]]), ttlMs: 3_600_000, now: () => now });
  const id = `spiffe://${TRUST_DOMAIN}/ns/a/sa/x`;
  const first = certs.svid(id);
  assert.equal(certs.svid(id), first);
  assert.notEqual(certs.svid(`spiffe://${TRUST_DOMAIN}/ns/a/sa/y`), first);
  assert.equal(certs.issued, 2);
  now += 1_800_001;
  assert.notEqual(certs.svid(id), first);
  assert.equal(certs.issued, 3);
});

test("renewDue renews, together, every SVID at or within a tenth of its lifetime of half life; retain forgets identities no longer served; renewal follows the certificate's real notAfter", async () => {
  const td = TrustDomain.parse(TRUST_DOMAIN);
  const root = await createRootCa({ trustDomain: td });
  let now = Date.parse("2026-03-01T00:00:00.400Z");
  const certs = new CaCertificateSource({ issuer: new FastSvidIssuer(await createIntermediateCa(root, { mesh: "m" })), roots: new Map(), ttlMs: 10_000, now: () => now });
  const [a, b, c] = ["a", "b", "c"].map((n) => `spiffe://${TRUST_DOMAIN}/ns/apps/sa/${n}`) as [string, string, string];
  const first = { a: certs.svid(a), b: undefined as unknown, c: undefined as unknown };
  // notAfter is encoded in whole seconds (00:00:10.000): half of the 9.6 s it really has.
  assert.equal(certs.nextRenewal(), Date.parse("2026-03-01T00:00:05.200Z"));
  now += 600; // b a little later: within a tenth of the lifetime (1 s) of a's renewal
  first.b = certs.svid(b);
  now += 2_000; // c much later
  first.c = certs.svid(c);
  now = Date.parse("2026-03-01T00:00:05.200Z");
  assert.equal(certs.renewDue(), 2, "a is due and b is due within 1 s: both renewed");
  assert.notEqual(certs.svid(a), first.a);
  assert.notEqual(certs.svid(b), first.b);
  assert.equal(certs.svid(c), first.c, "c is not due yet");
  assert.equal(certs.renewDue(), 0);
  // c stops being served: it is forgotten, and the next renewal is a's and b's.
  certs.retain(new Set([a, b]));
  assert.ok(certs.nextRenewal()! > now + 4_000, "a removed identity does not hold the next renewal in the past");
  assert.notEqual(certs.svid(c), first.c, "asked for again, it is issued afresh");
});

test("the SVID and trust bundle secrets make a real mTLS handshake between two identities", async (t) => {
  const pair = (name: string) => {
    const svid = sds({ name: "default", kind: "svid", spiffeId: `spiffe://${TRUST_DOMAIN}/ns/apps/sa/${name}` }).tlsCertificate;
    return { cert: svid.certificateChain.inlineString as string, key: svid.privateKey.inlineString as string };
  };
  const ca = sds({ name: "ROOTCA", kind: "trust-bundle", trustDomains: [TRUST_DOMAIN] }).validationContext.trustedCa.inlineString as string;
  const server = tls.createServer({ ...pair("reviews"), ca, requestCert: true, rejectUnauthorized: true }, (s) => s.end(s.getPeerCertificate().subjectaltname ?? ""));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const socket = tls.connect({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, ...pair("productpage"), ca, checkServerIdentity: () => undefined });
  await once(socket, "secureConnect");
  assert.equal(socket.getPeerCertificate().subjectaltname, `URI:spiffe://${TRUST_DOMAIN}/ns/apps/sa/reviews`);
  let body = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (body += d));
  await once(socket, "end");
  assert.equal(body, `URI:spiffe://${TRUST_DOMAIN}/ns/apps/sa/productpage`);
});
