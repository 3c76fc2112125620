import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvergenceTracker } from "../../src/xds/convergence.js";
import { withProgrammedStatus } from "../../src/runtime/programmed-status.js";
import { GATEWAY_CLASS, modelOf } from "../helpers/model.js";


const statuses = () =>
  modelOf(`${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: infra }
spec: { gatewayClassName: meshgate, listeners: [{ name: http, port: 80, protocol: HTTP }] }
`).model!.statuses;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const programmed = (s: ReturnType<typeof statuses>) => {
  const gw = s.find((x) => x.kind === "Gateway")!.status as Obj;
  return [gw.conditions.find((c: Obj) => c.type === "Programmed"), gw.listeners[0].conditions.find((c: Obj) => c.type === "Programmed")];
};

test("a Gateway is Programmed once its proxy has ACKed the version in force, Pending (and why) before", () => {
  const tracker = new ConvergenceTracker();
  tracker.versionUpdated("3");
  tracker.versionApplied("3");
  const [before] = programmed(withProgrammedStatus(statuses(), tracker.report()));
  assert.equal(before.status, "Unknown");
  assert.equal(before.reason, "Pending");
  assert.match(before.message, /Waiting for proxy gateway~infra~edge to acknowledge configuration version 3/);

  tracker.connect(1, { nodeId: "gateway~infra~edge", flavour: "sotw", peer: "test" });
  tracker.setTarget(1, "3");
  for (const kind of ["cluster", "listener", "route", "endpoint"] as const) {
    tracker.subscribed(1, kind);
    tracker.sent(1, kind, "3", `n-${kind}`);
    tracker.acked(1, kind, `n-${kind}`);
  }
  const [gw, listener] = programmed(withProgrammedStatus(statuses(), tracker.report()));
  assert.deepEqual([gw.status, gw.reason], ["True", "Programmed"]);
  assert.deepEqual([listener.status, listener.reason], ["True", "Programmed"]);
  assert.match(gw.message, /runs configuration version 3/);
});
