// A route moved to a cluster the proxy has not seen before arrives as CDS, then RDS, then
// EDS (asked for once the cluster is known). The data plane serves every request in
// between: the dropped cluster stays while the table in force targets it, and the new
// table waits for its cluster's endpoints.

import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import type { EnvoyResource } from "../../src/proxy/contracts.js";
import { DataPlane } from "../../src/proxy/data-plane.js";
import type { XdsResourceSet } from "../../src/proxy/xds/resource-set.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { decodeResource } from "../../src/xds/envoy-protos.js";
import type { EncodedResource } from "../../src/xds/snapshot.js";
import { startEcho } from "../helpers/echo-backend.js";
import { freePort } from "../helpers/gateway-harness.js";
import { res } from "../helpers/xds-snapshots.js";

const dec = (r: EncodedResource) => decodeResource(r.typeUrl, r.value) as EnvoyResource;
const map = (o: Record<string, EnvoyResource>) => new Map(Object.entries(o));

test("moving a route to a new EDS cluster: CDS, RDS and EDS applied one by one never leave a request without a backend", async (t) => {
  const port = await freePort();
  const a = await startEcho(t, "a");
  const b = await startEcho(t, "b");
  const listener = dec(res.listener("l", "r", port));
  const routeTo = (cluster: string) => dec(res.route("r", cluster));
  const clusters = { A: dec(res.cluster("A")), B: dec(res.cluster("B")) };
  const endpoints = { A: dec(res.endpoints("A", `127.0.0.1:${a.port}`)), B: dec(res.endpoints("B", `127.0.0.1:${b.port}`)) };
  const set = (route: EnvoyResource, c: Record<string, EnvoyResource>, e: Record<string, EnvoyResource>): XdsResourceSet => ({
    listeners: map({ l: listener }),
    routes: map({ r: route }),
    clusters: map(c),
    endpoints: map(e),
    secrets: new Map(),
    versions: { listener: "1", route: "1", cluster: "1", endpoint: "1", secret: "" },
  });
  const plane = new DataPlane({ logger: createLogger({ level: "silent" }) });
  t.after(() => plane.close());
  const backend = async () => {
    const r = await request(`http://127.0.0.1:${port}/`);
    await r.body.text();
    return r.statusCode === 200 ? String(r.headers["x-backend"]) : `status ${r.statusCode}`;
  };

  await plane.apply(set(routeTo("A"), { A: clusters.A }, { A: endpoints.A }), "all");
  assert.equal(await backend(), "a");
  // CDS: B replaces A; A's endpoints are dropped with it (nothing the new clusters name).
  await plane.apply(set(routeTo("A"), { B: clusters.B }, {}), "cluster");
  assert.equal(await backend(), "a", "the route in force keeps its cluster");
  // RDS: the route moves to B, whose endpoints have not arrived.
  const toB = routeTo("B");
  await plane.apply(set(toB, { B: clusters.B }, {}), "route");
  assert.equal(await backend(), "a", "the new route waits for B's endpoints");
  assert.deepEqual(plane.clusters.names().sort(), ["A", "B"]);
  // EDS: B is warm; the new route goes in and A goes.
  await plane.apply(set(toB, { B: clusters.B }, { B: endpoints.B }), "endpoint");
  assert.equal(await backend(), "b");
  assert.deepEqual(plane.clusters.names(), ["B"]);

  // A route to a cluster that does not exist is not a wait: it goes in (and answers 503).
  await plane.apply(set(routeTo("C"), { B: clusters.B }, { B: endpoints.B }), "route");
  assert.match(await backend(), /^status 5\d\d$/);
  assert.equal(b.requests.length, 1);
});

test("a listener is bound only once the route table it names has arrived (LDS before RDS never answers 404); a changed listener keeps its previous version meanwhile", async (t) => {
  const port = await freePort();
  const a = await startEcho(t, "a");
  const clusters = map({ A: dec(res.cluster("A")) });
  const endpoints = map({ A: dec(res.endpoints("A", `127.0.0.1:${a.port}`)) });
  const set = (listeners: Record<string, EnvoyResource>, routes: Record<string, EnvoyResource>): XdsResourceSet => ({
    listeners: map(listeners),
    routes: map(routes),
    clusters,
    endpoints,
    secrets: new Map(),
    versions: { listener: "1", route: "1", cluster: "1", endpoint: "1", secret: "" },
  });
  const plane = new DataPlane({ logger: createLogger({ level: "silent" }) });
  t.after(() => plane.close());
  const get = async () => {
    try {
      const r = await request(`http://127.0.0.1:${port}/`);
      await r.body.text();
      return r.statusCode === 200 ? String(r.headers["x-backend"]) : `status ${r.statusCode}`;
    } catch (e) {
      return (e as { code?: string }).code ?? (e as Error).message;
    }
  };

  await plane.apply(set({}, {}), "all");
  // LDS: a listener naming route table r, which has not come yet: not bound.
  await plane.apply(set({ l: dec(res.listener("l", "r", port)) }, {}), "listener");
  assert.equal(await get(), "ECONNREFUSED");
  // RDS: r arrives; the listener is bound with it.
  await plane.apply(set({ l: dec(res.listener("l", "r", port)) }, { r: dec(res.route("r", "A")) }), "route");
  assert.equal(await get(), "a");
  // The listener changes to name r2, not here yet: the previous version keeps serving.
  await plane.apply(set({ l: dec(res.listener("l", "r2", port)) }, { r: dec(res.route("r", "A")) }), "listener");
  assert.equal(await get(), "a");
  await plane.apply(set({ l: dec(res.listener("l", "r2", port)) }, { r: dec(res.route("r", "A")), r2: dec(res.route("r2", "missing")) }), "route");
  assert.match(await get(), /^status 5\d\d$/, "the new version (routing to a missing cluster) is in force");
});
