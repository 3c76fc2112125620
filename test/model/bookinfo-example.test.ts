import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSources } from "../../src/config/index.js";
import { buildModel } from "../../src/model/index.js";

test("the Bookinfo example is valid and every route attaches", async () => {
  const sources = await loadSources(["examples/bookinfo"]);
  const result = buildModel(sources.documents, sources.problems);
  assert.deepEqual(result.problems.filter((p) => p.severity === "error"), []);
  assert.equal(result.usable, true);
  assert.equal(result.model.gateways.length, 1);
  for (const route of result.model.routes) {
    for (const parent of route.parents) assert.equal(parent.conditions[0]!.status, "True", `${route.resource.name} not accepted`);
  }
  const productpage = result.model.workloads.find((w) => w.name === "productpage-v1");
  assert.equal(productpage?.spiffeId, "spiffe://bookinfo.local/ns/bookinfo/sa/bookinfo-productpage");
});
