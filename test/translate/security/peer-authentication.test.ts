import { test } from "node:test";
import assert from "node:assert/strict";
import type { Model } from "../../../src/model/index.js";
import { mtlsModeFor } from "../../../src/translate/security/peer-authentication.js";
import { meshModel, policy, sidecar } from "./fixture.js";

const pa = (ns: string, name: string, spec: string, created?: string) =>
  policy("PeerAuthentication", ns, name, spec).replace(`namespace: ${ns} }`, `namespace: ${ns}${created ? `, creationTimestamp: "${created}"` : ""} }`);
const mode = (m: Model, key: string, port = 8080) => {
  const t = sidecar(m, key);
  return mtlsModeFor(m, t.kind === "sidecar" ? t.workload : (undefined as never), port);
};

test("nothing set anywhere: PERMISSIVE (Istio's default)", () => {
  assert.equal(mode(meshModel(""), "apps/web"), "PERMISSIVE");
});

test("mesh-wide (root namespace) < namespace-wide < workload selector", () => {
  const mesh = pa("istio-system", "default", "{ mtls: { mode: STRICT } }");
  const ns = pa("apps", "default", "{ mtls: { mode: DISABLE } }");
  const own = pa("apps", "web", "{ selector: { matchLabels: { app: web } }, mtls: { mode: PERMISSIVE } }");
  let m = meshModel(mesh);
  assert.deepEqual([mode(m, "apps/web"), mode(m, "other/db")], ["STRICT", "STRICT"]);
  m = meshModel(mesh + ns);
  assert.deepEqual([mode(m, "apps/web"), mode(m, "apps/api"), mode(m, "other/db")], ["DISABLE", "DISABLE", "STRICT"]);
  m = meshModel(mesh + ns + own);
  assert.deepEqual([mode(m, "apps/web"), mode(m, "apps/api"), mode(m, "other/db", 8082)], ["PERMISSIVE", "DISABLE", "STRICT"]);
});

test("a selector policy in the root namespace is ignored (Istio: only mesh-wide policies live there)", () => {
  const m = meshModel(
    pa("istio-system", "default", "{ mtls: { mode: STRICT } }") +
      pa("istio-system", "web-off", '{ selector: { matchLabels: { app: web } }, mtls: { mode: DISABLE }, portLevelMtls: { "8080": { mode: DISABLE } } }') +
      pa("other", "default", "{ mtls: { mode: PERMISSIVE } }"),
  );
  assert.deepEqual([mode(m, "apps/web"), mode(m, "other/db", 8082), mode(m, "apps/api")], ["STRICT", "PERMISSIVE", "STRICT"]);
  // Without a mesh-wide policy either, the root-namespace selector policy still sets nothing.
  assert.equal(mode(meshModel(pa("istio-system", "web-strict", "{ selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }")), "apps/web"), "PERMISSIVE");
});

test("portLevelMtls overrides the workload's mode for that port only; UNSET there inherits", () => {
  const m = meshModel(
    pa("apps", "default", "{ mtls: { mode: STRICT } }") +
      pa("apps", "web", '{ selector: { matchLabels: { app: web } }, mtls: { mode: UNSET }, portLevelMtls: { "8080": { mode: DISABLE }, "9000": { mode: UNSET } } }'),
  );
  assert.equal(mode(m, "apps/web", 8080), "DISABLE");
  assert.equal(mode(m, "apps/web", 9000), "STRICT"); // UNSET port -> workload (UNSET) -> namespace
  assert.equal(mode(m, "apps/web", 7000), "STRICT");
});

test("UNSET (or no mtls block) inherits from the level above at every level", () => {
  const m = meshModel(
    pa("istio-system", "default", "{ mtls: { mode: UNSET } }") +
      pa("apps", "default", "{ mtls: { mode: STRICT } }") +
      pa("apps", "web", "{ selector: { matchLabels: { app: web } } }") +
      pa("other", "default", "{ mtls: { mode: UNSET } }"),
  );
  assert.deepEqual([mode(m, "apps/web"), mode(m, "other/db", 8082)], ["STRICT", "PERMISSIVE"]);
});

test("several selector policies for one workload: the oldest wins (creationTimestamp, then name)", () => {
  const a = pa("apps", "a", "{ selector: { matchLabels: { app: web } }, mtls: { mode: DISABLE } }", "2024-02-01T00:00:00Z");
  const b = pa("apps", "b", "{ selector: { matchLabels: { tier: front } }, mtls: { mode: STRICT } }", "2024-01-01T00:00:00Z");
  assert.equal(mode(meshModel(a + b), "apps/web"), "STRICT");
  const c = pa("apps", "c", "{ selector: { matchLabels: { app: web } }, mtls: { mode: DISABLE } }");
  const d = pa("apps", "d", "{ selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }");
  assert.equal(mode(meshModel(d + c), "apps/web"), "DISABLE");
  // A policy with a timestamp is older than one without.
  assert.equal(mode(meshModel(c + pa("apps", "z", "{ selector: { matchLabels: { app: web } }, mtls: { mode: STRICT } }", "2024-01-01T00:00:00Z")), "apps/web"), "STRICT");
});
