// What `meshgate up` prints to try the gateways: listener URLs and one example curl built
// from a path an attached HTTPRoute matches (the Bookinfo example and a hand-written one).

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { gatewayUrlLines } from "../../src/cli/gateway-urls.js";
import { loadSources } from "../../src/config/index.js";
import { buildModel } from "../../src/model/index.js";
import { ROOT } from "../helpers/cli.js";
import { GATEWAY_CLASS } from "../helpers/gateway-harness.js";
import { modelOf } from "../helpers/model.js";

test("the Bookinfo example: the ingress URL and a curl of /productpage", async () => {
  const sources = await loadSources([join(ROOT, "examples/bookinfo")]);
  const model = buildModel(sources.documents, sources.problems).model;
  assert.deepEqual(gatewayUrlLines(model), ["Gateway ingress/bookinfo-gateway listener http: http://localhost:8080", "Try: curl http://localhost:8080/productpage"]);
});

test("a Gateway with an address: its URLs use it; a prefix match serves as the example when no exact one exists", () => {
  const model = modelOf(`${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec:
  gatewayClassName: meshgate
  addresses: [{ type: IPAddress, value: 127.0.0.2 }]
  listeners: [{ name: web, port: 8081, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /api } }] }]
`).model;
  assert.deepEqual(gatewayUrlLines(model), ["Gateway infra/edge listener web: http://127.0.0.2:8081", "Try: curl http://127.0.0.2:8081/api"]);
});
