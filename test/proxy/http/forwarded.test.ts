import { test } from "node:test";
import assert from "node:assert/strict";
import type { HeaderMap } from "../../../src/proxy/contracts.js";
import { appendForwardedFor, ensureRequestId, newRequestId, setForwardedProto } from "../../../src/proxy/http/forwarded.js";

test("x-forwarded-for: set, appended, list values joined, IPv4-mapped shown as IPv4", () => {
  const h: HeaderMap = {};
  appendForwardedFor(h, "10.0.0.1");
  assert.equal(h["x-forwarded-for"], "10.0.0.1");
  appendForwardedFor(h, "::ffff:192.168.1.2");
  assert.equal(h["x-forwarded-for"], "10.0.0.1, 192.168.1.2");
  const g: HeaderMap = { "x-forwarded-for": ["1.1.1.1", "2.2.2.2"] };
  appendForwardedFor(g, "2001:db8::1");
  assert.equal(g["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 2001:db8::1");
});

test("x-forwarded-proto overwrites what the client sent", () => {
  const h: HeaderMap = { "x-forwarded-proto": "https" };
  setForwardedProto(h, "http");
  assert.equal(h["x-forwarded-proto"], "http");
});

test("x-request-id: generated when absent or unusable, kept when sane; generated ids are UUID-shaped and unique", () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const h: HeaderMap = {};
  const id = ensureRequestId(h);
  assert.match(id, uuid);
  assert.equal(h["x-request-id"], id);
  const kept: HeaderMap = { "x-request-id": "abc-123" };
  assert.equal(ensureRequestId(kept), "abc-123");
  for (const bad of ["", "a b", "x".repeat(200), "a,b"]) {
    const b: HeaderMap = { "x-request-id": bad };
    assert.match(ensureRequestId(b), uuid, JSON.stringify(bad));
  }
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) ids.add(newRequestId());
  assert.equal(ids.size, 10_000);
  for (const x of [...ids].slice(0, 50)) assert.match(x, uuid);
});
