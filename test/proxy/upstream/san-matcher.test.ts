import { test } from "node:test";
import assert from "node:assert/strict";
import type { PeerCertificate } from "node:tls";
import { checkSans, compileSanMatcher, certificateSans } from "../../../src/proxy/upstream/san-matcher.js";
import { ConfigPath, UPSTREAM_RESOURCE } from "../../../src/proxy/config-reader.js";

const where = new ConfigPath(UPSTREAM_RESOURCE, "cluster \"c\"", "m");
const cert = (subjectaltname: string) => ({ subjectaltname }) as PeerCertificate;
const m = (sanType: string, matcher: Record<string, unknown>) => compileSanMatcher({ sanType, matcher }, where);

test("SAN matchers: exact, prefix, suffix, contains, regex, ignoreCase, DNS wildcards", () => {
  const c = cert("DNS:*.apps.example.com, URI:spiffe://td/ns/apps/sa/api, IP Address:10.0.0.1");
  assert.equal(checkSans(c, [m("URI", { exact: "spiffe://td/ns/apps/sa/api" })]), undefined);
  assert.equal(checkSans(c, [m("URI", { prefix: "spiffe://td/ns/apps/" })]), undefined);
  assert.equal(checkSans(c, [m("URI", { suffix: "/sa/api" })]), undefined);
  assert.equal(checkSans(c, [m("URI", { contains: "/ns/apps/" })]), undefined);
  assert.equal(checkSans(c, [m("URI", { safeRegex: { regex: "spiffe://td/ns/[a-z]+/sa/api" } })]), undefined);
  assert.notEqual(checkSans(c, [m("URI", { safeRegex: { regex: "spiffe://td/ns/apps" } })]), undefined, "a regex matches the whole SAN");
  assert.equal(checkSans(c, [m("URI", { exact: "SPIFFE://TD/ns/apps/sa/api", ignoreCase: true })]), undefined);
  assert.equal(checkSans(c, [m("DNS", { exact: "billing.apps.example.com" })]), undefined, "wildcard SAN covers one label");
  assert.notEqual(checkSans(c, [m("DNS", { exact: "a.b.apps.example.com" })]), undefined);
  assert.equal(checkSans(c, [m("IP_ADDRESS", { exact: "10.0.0.1" })]), undefined);
  // A DNS matcher does not match a URI SAN with the same text.
  assert.equal(checkSans(cert("URI:api.example.com"), [m("DNS", { exact: "api.example.com" })]), "certificate SAN (no DNS SAN) does not match api.example.com");
});

test("Node's quoted SAN values are parsed", () => {
  assert.deepEqual(certificateSans(cert('URI:"spiffe://td/ns/a, b/sa/c", DNS:x.example')), [["URI", "spiffe://td/ns/a, b/sa/c"], ["DNS", "x.example"]]);
});
