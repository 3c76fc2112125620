import { test } from "node:test";
import assert from "node:assert/strict";
import { SpiffeIdInvalidError, TrustDomainInvalidError } from "../../src/errors.js";
import { SpiffeId, TrustDomain, describeMatcher, matchAny, matchId, matchMemberOf, matches } from "../../src/pki/index.js";

// Examples from the SPIFFE ID specification and the go-spiffe conformance cases.
const VALID = [
  "spiffe://example.org",
  "spiffe://example.org/path",
  "spiffe://example.org/path/to/workload",
  "spiffe://example.org/ns/default/sa/web",
  "spiffe://staging.example.com/payments/mysql",
  "spiffe://k8s-west.example.com/ns/staging/sa/default",
  "spiffe://trust_domain-1.example/a.b_c-D/E",
  "spiffe://1.2.3.4/service",
  "spiffe://example.org/..a/a..",
];

const INVALID: Array<[string, RegExp]> = [
  ["", /empty/],
  ["example.org/path", /scheme/],
  ["http://example.org/path", /scheme/],
  ["SPIFFE://example.org/path", /lowercase/],
  ["spiffe://", /trust domain is empty/],
  ["spiffe:///path", /trust domain is empty/],
  ["spiffe://Example.org/path", /lowercase/],
  ["spiffe://example.org:8080/path", /port/],
  ["spiffe://user@example.org/path", /userinfo/],
  ["spiffe://user:pass@example.org/path", /userinfo|port/],
  ["spiffe://example.org/path?query=1", /query/],
  ["spiffe://example.org/path#fragment", /fragment/],
  ["spiffe://example.org/", /trailing slash/],
  ["spiffe://example.org/path/", /trailing slash/],
  ["spiffe://example.org//path", /empty path segment/],
  ["spiffe://example.org/./path", /dot segment/],
  ["spiffe://example.org/path/..", /dot segment/],
  ["spiffe://example.org/pa%20th", /percent/],
  ["spiffe://example.org/pa th", /not allowed in a path segment/],
  ["spiffe://exa$mple.org/path", /not allowed in a trust domain/],
  ["spiffe://example.org/päth", /not allowed in a path segment/],
  [`spiffe://${"a".repeat(256)}/x`, /longer than 255/],
  [`spiffe://example.org/${"a".repeat(2048)}`, /longer than 2048/],
];

test("valid SPIFFE IDs from the specification parse and print unchanged", () => {
  for (const input of VALID) assert.equal(SpiffeId.parse(input).toString(), input, input);
});

test("invalid SPIFFE IDs are rejected with a typed error and the reason", () => {
  for (const [input, reason] of INVALID) {
    assert.throws(
      () => SpiffeId.parse(input),
      (e: unknown) => e instanceof SpiffeIdInvalidError && e.code === "ERR_SPIFFE_ID_INVALID" && reason.test(e.message),
      `${input} should fail with ${reason}`,
    );
  }
});

test("trust domains: bare name or spiffe:// form, lowercase only", () => {
  assert.equal(TrustDomain.parse("example.org").name, "example.org");
  assert.equal(TrustDomain.parse("spiffe://example.org").name, "example.org");
  assert.equal(TrustDomain.parse("example.org").idString, "spiffe://example.org");
  for (const bad of ["", "Example.org", "example.org:443", "spiffe://example.org/path", "http://example.org", "ex ample"]) {
    assert.throws(() => TrustDomain.parse(bad), (e: unknown) => e instanceof TrustDomainInvalidError && e.code === "ERR_TRUST_DOMAIN_INVALID", bad);
  }
});

test("values are immutable and compare by value", () => {
  const a = SpiffeId.parse("spiffe://example.org/ns/a/sa/b");
  assert.ok(Object.isFrozen(a));
  assert.ok(a.equals(SpiffeId.parse("spiffe://example.org/ns/a/sa/b")));
  assert.throws(() => {
    (a as unknown as { path: string }).path = "/x";
  });
});

test("service account helpers build and read spiffe://<td>/ns/<ns>/sa/<sa>", () => {
  const td = TrustDomain.parse("cluster.local");
  const id = SpiffeId.forServiceAccount(td, "shop", "cart");
  assert.equal(id.toString(), "spiffe://cluster.local/ns/shop/sa/cart");
  assert.deepEqual(id.workload, { namespace: "shop", serviceAccount: "cart" });
  assert.equal(SpiffeId.parse("spiffe://cluster.local/other").workload, undefined);
  assert.throws(() => SpiffeId.forServiceAccount(td, "a/b", "c"), SpiffeIdInvalidError);
  assert.throws(() => SpiffeId.forServiceAccount(td, "", "c"), SpiffeIdInvalidError);
});

test("matchers are values: exact id, member of a trust domain, any of", () => {
  const td = TrustDomain.parse("example.org");
  const web = SpiffeId.parse("spiffe://example.org/ns/default/sa/web");
  const db = SpiffeId.parse("spiffe://example.org/ns/default/sa/db");
  const foreign = SpiffeId.parse("spiffe://other.org/ns/default/sa/web");
  assert.ok(matches(matchId(web), web));
  assert.ok(!matches(matchId(web), db));
  assert.ok(matches(matchMemberOf(td), db));
  assert.ok(!matches(matchMemberOf(td), foreign));
  const either = matchAny(matchId(foreign), matchId(web));
  assert.ok(matches(either, foreign) && matches(either, web) && !matches(either, db));
  assert.equal(describeMatcher(either), "spiffe://other.org/ns/default/sa/web or spiffe://example.org/ns/default/sa/web");
  assert.ok(Object.isFrozen(either));
});
