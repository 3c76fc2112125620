import { test } from "node:test";
import assert from "node:assert/strict";
import { isNormalPath, normalizePath, removeDotSegments, type PathNormalizationOptions } from "../../../src/proxy/http/path-normalization.js";

const FORWARD: PathNormalizationOptions = { mergeSlashes: true, escapedSlashes: "UNESCAPE_AND_FORWARD" };
const REDIRECT: PathNormalizationOptions = { mergeSlashes: true, escapedSlashes: "UNESCAPE_AND_REDIRECT" };
const KEEP: PathNormalizationOptions = { mergeSlashes: false, escapedSlashes: "KEEP_UNCHANGED" };
const REJECT: PathNormalizationOptions = { mergeSlashes: true, escapedSlashes: "REJECT_REQUEST" };

function ok(raw: string, o: PathNormalizationOptions): string {
  const r = normalizePath(raw, o);
  assert.equal(r.kind, "ok", `${raw}: ${JSON.stringify(r)}`);
  return r.kind === "ok" ? r.path : "";
}

test("every spelling of /admin that a policy must catch normalises to /admin", () => {
  for (const raw of ["/admin", "/public/../admin", "/%2e%2e/admin", "/%2E%2E/admin", "//admin", "/./admin", "/public/..%2Fadmin", "/public/..%5Cadmin", "/x/y/../../admin", "/public\\..\\admin", "/%61dmin", "///admin/."]) {
    const p = ok(raw, FORWARD);
    assert.ok(p === "/admin" || p === "/admin/", `${raw} -> ${p}`);
  }
  assert.equal(ok("/admin/../public", FORWARD), "/public");
  assert.equal(ok("/../../admin", FORWARD), "/admin");
});

test("UNESCAPE_AND_REDIRECT redirects to the normalised path (with the query) only when an escaped slash was present", () => {
  assert.deepEqual(normalizePath("/public/..%2Fadmin?x=1", REDIRECT), { kind: "redirect", location: "/admin?x=1" });
  assert.deepEqual(normalizePath("/a%2fb", REDIRECT), { kind: "redirect", location: "/a/b" });
  assert.deepEqual(normalizePath("/public/../admin?x=1", REDIRECT), { kind: "ok", path: "/admin", query: "x=1" });
});

test("REJECT_REQUEST and KEEP_UNCHANGED for %2F and %5C", () => {
  const r = normalizePath("/a%2Fb", REJECT);
  assert.equal(r.kind, "reject");
  assert.equal(normalizePath("/a%5cb", REJECT).kind, "reject");
  // Kept encoded (uppercase hex), so "..%2Fadmin" is an ordinary segment.
  assert.equal(ok("/public/..%2fadmin", KEEP), "/public/..%2Fadmin");
  assert.equal(ok("/a%5cb", KEEP), "/a%5Cb");
});

test("percent-encoding: unreserved decoded, the rest uppercase, invalid rejected", () => {
  assert.equal(ok("/%7euser/%41%42", FORWARD), "/~user/AB");
  assert.equal(ok("/a%20b/%3f/%c3%a9", FORWARD), "/a%20b/%3F/%C3%A9");
  for (const bad of ["/a%", "/a%2", "/a%zz", "/a%2g/b"]) {
    const r = normalizePath(bad, FORWARD);
    assert.deepEqual(r.kind, "reject", bad);
    assert.equal(r.kind === "reject" && r.status, 400);
  }
  // Characters outside pchar are encoded; raw non-ASCII bytes (latin1 chars) too.
  assert.equal(ok("/a{b}|c", FORWARD), "/a%7Bb%7D%7Cc");
  assert.equal(ok("/\u00e9", FORWARD), "/%E9");
});

test("targets that are not origin-form", () => {
  assert.equal(normalizePath("admin", FORWARD).kind, "reject");
  assert.equal(normalizePath("", FORWARD).kind, "reject");
  assert.deepEqual(normalizePath("http://example.com/a/../b?q=1", FORWARD), { kind: "ok", path: "/b", query: "q=1" });
  assert.deepEqual(normalizePath("https://example.com:8443", FORWARD), { kind: "ok", path: "/", query: "" });
  assert.deepEqual(normalizePath("http://example.com?q", FORWARD), { kind: "ok", path: "/", query: "q" });
  assert.deepEqual(normalizePath("*", { ...FORWARD, method: "OPTIONS" }), { kind: "ok", path: "*", query: "" });
  assert.equal(normalizePath("*", { ...FORWARD, method: "GET" }).kind, "reject");
  assert.equal(normalizePath("/a#frag", FORWARD).kind, "reject");
  assert.equal(normalizePath("/a b", FORWARD).kind, "reject");
});

test("mergeSlashes off keeps empty segments; the query is never touched", () => {
  assert.equal(ok("//admin", KEEP), "//admin");
  assert.deepEqual(normalizePath("/a/./b?x=/../y&%2e", FORWARD), { kind: "ok", path: "/a/b", query: "x=/../y&%2e" });
});

test("fast path: canonical paths are recognised (no rewrite) and returned as they are", () => {
  for (const p of ["/", "/api/v1/items", "/static/app.min.js", "/a/.well-known/x", "/a..b/c.", "/x?y=../..//z", "/~u/a-b_c;p=1:@!$&'()*+,="]) {
    assert.equal(isNormalPath(p, FORWARD), true, p);
    const r = normalizePath(p, FORWARD);
    assert.equal(r.kind, "ok");
    if (r.kind === "ok") assert.equal(r.query === "" ? r.path : `${r.path}?${r.query}`, p);
  }
  for (const p of ["/a/../b", "/a/./b", "/a/..", "/a/.", "//a", "/a%41", "/a\\b", "a", "/a#b", "/é", "/a/..?q"]) assert.equal(isNormalPath(p, FORWARD), false, p);
  assert.equal(isNormalPath("//a", KEEP), true);
});

test("remove_dot_segments follows RFC 3986 §5.2.4 examples", () => {
  assert.equal(removeDotSegments("/a/b/c/./../../g"), "/a/g");
  assert.equal(removeDotSegments("/a/b/.."), "/a/");
  assert.equal(removeDotSegments("/.."), "/");
  assert.equal(removeDotSegments("/a/b/."), "/a/b/");
});
