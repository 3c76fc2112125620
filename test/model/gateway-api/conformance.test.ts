// Every upstream HTTPRoute conformance manifest is read as the suite applies it. Valid
// manifests must produce no error at all (our schema and API-rule checks accept what
// upstream accepts); the ones the suite uses to test rejection produce exactly the status
// the suite expects.

import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel } from "../../../src/model/index.js";
import { conformanceDocuments, conformanceTests } from "../../helpers/conformance.js";
import { statusOf } from "../../helpers/model.js";

const NS = "gateway-conformance-infra";

/** Errors each test file is designed to produce: `CODE resource-name`. */
const EXPECTED_ERRORS: Record<string, string[]> = {
  "httproute-hostname-intersection.yaml": ["MG_ROUTE_NOT_ACCEPTED no-intersecting-hosts"],
  "httproute-invalid-backendref-unknown-kind.yaml": ["MG_INVALID_KIND invalid-backend-ref-unknown-kind"],
  "httproute-invalid-cross-namespace-backend-ref.yaml": ["MG_REF_NOT_PERMITTED invalid-cross-namespace-backend-ref"],
  "httproute-invalid-nonexistent-backendref.yaml": ["MG_BACKEND_NOT_FOUND invalid-nonexistent-backend-ref"],
  "httproute-invalid-reference-grant.yaml": ["MG_REF_NOT_PERMITTED reference-grant"],
  "httproute-partially-invalid-via-invalid-reference-grant.yaml": ["MG_REF_NOT_PERMITTED invalid-reference-grant"],
};

for (const file of conformanceTests()) {
  test(`conformance ${file}: exactly the intended errors`, () => {
    const result = buildModel(conformanceDocuments(file));
    assert.equal(result.usable, true);
    const errors = result.problems.filter((p) => p.severity === "error").map((p) => `${p.code} ${p.resource?.split("/").pop()}`);
    assert.deepEqual(errors.sort(), (EXPECTED_ERRORS[file] ?? []).sort());
  });
}

function parentConditions(file: string, route: string, ns = NS) {
  const result = buildModel(conformanceDocuments(file));
  const parents = statusOf(result, "HTTPRoute", ns, route).parents as { conditions: { type: string; status: string; reason: string }[] }[];
  return { result, conditions: Object.fromEntries(parents[0]!.conditions.map((c) => [c.type, `${c.status}/${c.reason}`])) };
}

test("a backend in another namespace without a ReferenceGrant: Accepted, ResolvedRefs=False RefNotPermitted", () => {
  const { conditions } = parentConditions("httproute-invalid-reference-grant.yaml", "reference-grant");
  assert.deepEqual(conditions, { Accepted: "True/Accepted", ResolvedRefs: "False/RefNotPermitted" });
});

test("the same backend with a matching ReferenceGrant resolves", () => {
  const { conditions } = parentConditions("httproute-reference-grant.yaml", "reference-grant");
  assert.deepEqual(conditions, { Accepted: "True/Accepted", ResolvedRefs: "True/ResolvedRefs" });
});

test("a missing backend Service: ResolvedRefs=False BackendNotFound; an unknown kind: InvalidKind", () => {
  assert.equal(parentConditions("httproute-invalid-nonexistent-backendref.yaml", "invalid-nonexistent-backend-ref").conditions.ResolvedRefs, "False/BackendNotFound");
  assert.equal(parentConditions("httproute-invalid-backendref-unknown-kind.yaml", "invalid-backend-ref-unknown-kind").conditions.ResolvedRefs, "False/InvalidKind");
});

test("hostname intersection: routes attach only where hostnames intersect, with the intersected names", () => {
  const { result, conditions } = parentConditions("httproute-hostname-intersection.yaml", "no-intersecting-hosts");
  assert.equal(conditions.Accepted, "False/NoMatchingListenerHostname");
  const route = (name: string) => result.model.routes.find((r) => r.resource.name === name)!;
  const attached = (name: string) => {
    const p = route(name).parents[0]!;
    return p.kind === "Gateway" ? p.listeners.map((l) => `${l.listener.name}=${l.hostnames.join(",")}`) : [];
  };
  assert.deepEqual(attached("specific-host-matches-listener-specific-host"), ["listener-1=very.specific.com"]);
  assert.deepEqual(attached("specific-host-matches-listener-wildcard-host"), ["listener-2=bar.wildcard.io,foo.bar.wildcard.io,foo.wildcard.io"]);
  assert.deepEqual(attached("wildcard-host-matches-listener-specific-host"), ["listener-1=very.specific.com"]);
  assert.deepEqual(attached("wildcard-host-matches-listener-wildcard-host"), ["listener-3=*.anotherwildcard.io"]);
});

test("port and sectionName select listeners", () => {
  const { result } = parentConditions("httproute-listener-port-matching.yaml", "backend-v1");
  const names = (route: string) => {
    const p = result.model.routes.find((r) => r.resource.name === route)!.parents[0]!;
    return p.kind === "Gateway" ? p.listeners.map((l) => l.listener.name) : [];
  };
  assert.deepEqual(names("backend-v1"), ["listener-1"]);
  assert.deepEqual(names("backend-v2"), ["listener-2", "listener-3"]);
  assert.deepEqual(names("backend-v3"), ["listener-4"]);
});

test("attachedRoutes counts routes per listener", () => {
  const result = buildModel(conformanceDocuments("httproute-listener-port-matching.yaml"));
  const gw = statusOf(result, "Gateway", NS, "httproute-listener-port-matching");
  const counts = Object.fromEntries((gw.listeners as { name: string; attachedRoutes: number }[]).map((l) => [l.name, l.attachedRoutes]));
  assert.equal(counts["listener-1"], 1);
  assert.equal(counts["listener-4"], 1);
});
