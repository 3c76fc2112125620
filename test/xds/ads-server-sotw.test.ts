// State of the World ADS over a real gRPC connection: subscriptions, versions and
// nonces, ACK/NACK, stale nonces, debounced and targeted pushes, reconnects, fallback.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { names, SotwClient, type SotwResponse } from "../helpers/ads-client.js";
import { sleep, startAds, waitFor } from "../helpers/ads-server.js";
import { node, res, resourceSet, snapshotSet } from "../helpers/xds-snapshots.js";

const clusters = resourceSet(res.cluster("shop/cart"), res.cluster("shop/pay"));
const endpoints = resourceSet(res.endpoints("shop/cart", "10.0.0.1:8080"), res.endpoints("shop/pay", "10.0.0.2:8080"));
const routes = resourceSet(res.route("edge/http", "shop/cart"), res.route("edge/admin", "shop/pay"));

function edge(version: string, over: Parameters<typeof node>[1] = {}) {
  return node(version, { listener: [res.listener("edge/http", "edge/http")], route: routes, cluster: clusters, endpoint: endpoints, ...over });
}

/** Subscribes like Envoy: CDS and LDS wildcard, EDS and RDS by name; returns the four first responses by type. */
async function subscribeAll(c: SotwClient): Promise<Record<"cds" | "lds" | "eds" | "rds", SotwResponse>> {
  c.send({ typeUrl: TYPE_URLS.cluster });
  const cds = await c.next();
  c.ack(cds);
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/cart", "shop/pay"] });
  const eds = await c.next();
  c.ack(eds);
  c.send({ typeUrl: TYPE_URLS.listener });
  const lds = await c.next();
  c.ack(lds);
  c.send({ typeUrl: TYPE_URLS.route, resourceNames: ["edge/http"] });
  const rds = await c.next();
  c.ack(rds);
  return { cds, lds, eds, rds };
}

test("SotW: wildcard CDS/LDS carry every resource, named EDS/RDS only those asked for; version, nonces, control plane", async (t) => {
  const { channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  const { cds, lds, eds, rds } = await subscribeAll(c);
  assert.deepEqual(names(cds), ["shop/cart", "shop/pay"]);
  assert.equal(cds.typeUrl, TYPE_URLS.cluster);
  assert.deepEqual(names(lds), ["edge/http"]);
  assert.deepEqual(names(eds), ["shop/cart", "shop/pay"]);
  assert.deepEqual(names(rds), ["edge/http"], "edge/admin exists but was not asked for");
  for (const r of [cds, lds, eds, rds]) {
    assert.equal(r.versionInfo, "v1");
    assert.equal(r.controlPlane, "meshgate");
    assert.ok(r.nonce.length > 0);
  }
  assert.equal(new Set([cds.nonce, lds.nonce, eds.nonce, rds.nonce]).size, 4, "every response has its own nonce");
  // Every resource arrives as an Any of its type.
  assert.ok(cds.resources.every((r) => r.typeUrl === TYPE_URLS.cluster));

  // A name that does not exist is simply absent.
  c.send({ typeUrl: TYPE_URLS.route, resourceNames: ["edge/http", "edge/missing"], versionInfo: "v1", responseNonce: rds.nonce });
  const again = await c.next();
  assert.deepEqual(names(again), ["edge/http"]);
  assert.equal(again.versionInfo, "v1");
  c.close();
});

test("SotW: ACKs make a proxy SYNCED; before them it is STALE", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  c.send({ typeUrl: TYPE_URLS.cluster });
  const cds = await c.next();
  await sleep(30);
  assert.equal(server.syncz().proxies[0]!.status, "STALE");
  assert.equal(server.syncz().proxies[0]!.types.CDS!.status, "STALE");
  c.ack(cds);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  const p = server.syncz().proxies[0]!;
  assert.equal(p.status, "SYNCED");
  assert.equal(p.types.CDS!.acked!.version, "v1");
  assert.equal(p.types.CDS!.sent!.nonce, cds.nonce);
  assert.equal(p.flavour, "sotw");
  assert.equal(p.role, "gateway");
  c.close();
});

test("SotW: a NACK is recorded (detail, version, time), the proxy is NACKED, and the next good version clears it", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  const first = await subscribeAll(c);
  await waitFor(() => server.syncz().summary.converged);
  assert.equal(server.syncz().summary.converged, true);

  // v2 changes a cluster; the proxy rejects it and keeps v1.
  server.update(snapshotSet("v2", { "gateway~infra~edge": edge("v2", { cluster: resourceSet(res.cluster("shop/cart", 5), res.cluster("shop/pay")) }) }));
  const bad = await c.next();
  assert.equal(bad.typeUrl, TYPE_URLS.cluster);
  assert.equal(bad.versionInfo, "v2");
  c.send({ typeUrl: TYPE_URLS.cluster, versionInfo: first.cds.versionInfo, responseNonce: bad.nonce, errorDetail: { code: 3, message: "cluster shop/cart: connect_timeout too long" } });
  await waitFor(() => server.syncz().proxies[0]?.status === "NACKED");
  let p = server.syncz().proxies[0]!;
  assert.equal(p.status, "NACKED");
  assert.equal(p.types.CDS!.status, "NACKED");
  assert.equal(p.types.CDS!.nacked!.version, "v2");
  assert.equal(p.types.CDS!.nacked!.detail, "cluster shop/cart: connect_timeout too long");
  assert.ok(Date.parse(p.types.CDS!.nacked!.at) > 0);
  assert.equal(p.types.CDS!.acked!.version, "v1", "the last good version stays recorded");
  assert.equal(p.types.LDS!.status, "SYNCED", "other types are unaffected");
  assert.equal(server.syncz().summary.converged, false);
  assert.match(server.syncz().summary.text, /live on 0 of 1 proxies; not yet: gateway~infra~edge \(NACKED\)/);

  // v3 fixes it: a full CDS set is sent again, ACKed, and the NACK is gone.
  server.update(snapshotSet("v3", { "gateway~infra~edge": edge("v3") }));
  const good = await c.next();
  assert.equal(good.typeUrl, TYPE_URLS.cluster);
  assert.equal(good.versionInfo, "v3");
  assert.deepEqual(names(good), ["shop/cart", "shop/pay"]);
  c.ack(good);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  p = server.syncz().proxies[0]!;
  assert.equal(p.status, "SYNCED");
  assert.equal(p.types.CDS!.nacked, null);
  assert.equal(p.types.CDS!.acked!.version, "v3");
  assert.equal(server.syncz().summary.converged, true);
  c.close();
});

test("SotW: updates within the debounce window become one push, with the newest version", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }), { debounceMs: 150 });
  const c = new SotwClient(channel(), "gateway~infra~edge");
  await subscribeAll(c);
  for (const [i, port] of [9001, 9002, 9003].entries()) {
    server.update(snapshotSet(`v${i + 2}`, { "gateway~infra~edge": edge(`v${i + 2}`, { listener: [res.listener("edge/http", "edge/http", port)] }) }));
    await sleep(20);
  }
  assert.deepEqual(await c.collect(60), [], "nothing is pushed inside the window");
  const pushed = await c.collect(250);
  assert.equal(pushed.length, 1);
  assert.equal(pushed[0]!.typeUrl, TYPE_URLS.listener);
  assert.equal(pushed[0]!.versionInfo, "v4");
  const superseded = server.syncz().history.filter((h) => h.superseded).map((h) => h.version);
  assert.deepEqual(superseded, ["v2", "v3"]);
  c.close();
});

test("SotW: only streams whose resources changed are pushed; the others count as synced on the new version", async (t) => {
  const a = "gateway~infra~edge";
  const b = "sidecar~shop~cart";
  const set = (v: string, port: number) => snapshotSet(v, { [a]: edge(v, { listener: [res.listener("edge/http", "edge/http", port)] }), [b]: edge(v) });
  const { server, channel } = await startAds(t, set("v1", 8080));
  const ch = channel();
  const ca = new SotwClient(ch, a);
  const cb = new SotwClient(ch, b);
  await subscribeAll(ca);
  await subscribeAll(cb);
  server.update(set("v2", 9090));
  const pushedA = await ca.next();
  assert.equal(pushedA.typeUrl, TYPE_URLS.listener);
  assert.equal(pushedA.versionInfo, "v2");
  assert.deepEqual(await ca.collect(80), [], "only the listener changed for a");
  assert.deepEqual(await cb.collect(0), [], "b's resources did not change: nothing is sent to it");
  ca.ack(pushedA);
  await waitFor(() => server.syncz().summary.converged);
  const report = server.syncz();
  assert.deepEqual(
    report.proxies.map((p) => [p.id, p.status, p.types.LDS!.acked!.version, p.types.CDS!.acked!.version]),
    [
      [a, "SYNCED", "v2", "v2"],
      [b, "SYNCED", "v2", "v2"],
    ],
  );
  assert.equal(report.summary.text.startsWith("config version v2 is live on all 2 proxies (converged in "), true);
  ca.close();
  cb.close();
});

test("SotW: EDS/RDS pushes carry only what changed; CDS/LDS always the full set; pushes go CDS, EDS, then LDS, RDS once CDS and EDS are ACKed", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  await subscribeAll(c);
  server.update(
    snapshotSet("v2", {
      "gateway~infra~edge": edge("v2", {
        cluster: resourceSet(res.cluster("shop/cart", 2), res.cluster("shop/pay")),
        endpoint: resourceSet(res.endpoints("shop/cart", "10.0.0.9:8080"), res.endpoints("shop/pay", "10.0.0.2:8080")),
        listener: [res.listener("edge/http", "edge/http", 8443)],
        route: resourceSet(res.route("edge/http", "shop/pay"), res.route("edge/admin", "shop/pay")),
      }),
    }),
  );
  const pushed = [await c.next(), await c.next()];
  assert.deepEqual(await c.collect(150), [], "listeners and routes wait while the clusters warm");
  c.ack(pushed[0]!);
  assert.deepEqual(await c.collect(150), [], "the endpoints are not ACKed yet");
  c.ack(pushed[1]!);
  pushed.push(await c.next(), await c.next());
  assert.deepEqual(
    pushed.map((p) => p.typeUrl),
    [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route],
  );
  assert.deepEqual(names(pushed[0]!), ["shop/cart", "shop/pay"], "CDS: full set although shop/pay is unchanged");
  assert.deepEqual(names(pushed[1]!), ["shop/cart"], "EDS: only the changed assignment");
  assert.deepEqual(names(pushed[3]!), ["edge/http"]);
  c.close();
});

test("SotW: a route to a new cluster is pushed only after the proxy took the cluster, asked for its endpoints and ACKed them (make-before-break)", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  await subscribeAll(c);
  // v2: the route moves to shop/new, a cluster the proxy has never seen.
  server.update(
    snapshotSet("v2", {
      "gateway~infra~edge": edge("v2", {
        cluster: resourceSet(res.cluster("shop/cart"), res.cluster("shop/pay"), res.cluster("shop/new")),
        endpoint: resourceSet(res.endpoints("shop/cart", "10.0.0.1:8080"), res.endpoints("shop/pay", "10.0.0.2:8080"), res.endpoints("shop/new", "10.0.0.3:8080")),
        route: resourceSet(res.route("edge/http", "shop/new"), res.route("edge/admin", "shop/pay")),
      }),
    }),
  );
  const cds = await c.next();
  assert.equal(cds.typeUrl, TYPE_URLS.cluster);
  assert.deepEqual(names(cds), ["shop/cart", "shop/new", "shop/pay"]);
  // Like Envoy: ACK the clusters, then ask for the new cluster's endpoints (an EDS request
  // naming it, carrying the last EDS nonce).
  c.ack(cds);
  assert.deepEqual(await c.collect(150), [], "no route while shop/new has no endpoints at the proxy");
  const edsBefore = server.syncz().proxies[0]!.types.EDS!.sent!.nonce;
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/cart", "shop/pay", "shop/new"], versionInfo: "v1", responseNonce: edsBefore });
  const eds = await c.next();
  assert.equal(eds.typeUrl, TYPE_URLS.endpoint);
  assert.ok(names(eds).includes("shop/new"));
  assert.deepEqual(await c.collect(150), [], "the endpoints are sent but not ACKed");
  c.ack(eds);
  const rds = await c.next();
  assert.equal(rds.typeUrl, TYPE_URLS.route);
  assert.equal(rds.versionInfo, "v2");
  assert.deepEqual(names(rds), ["edge/http"]);
  c.ack(rds);
  await waitFor(() => server.syncz().summary.converged);
  c.close();
});

test("SotW: a proxy that never warms its new clusters gets the held listeners and routes after warmingHoldMs", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }), { warmingHoldMs: 300 });
  const c = new SotwClient(channel(), "gateway~infra~edge");
  await subscribeAll(c);
  server.update(
    snapshotSet("v2", {
      "gateway~infra~edge": edge("v2", {
        cluster: resourceSet(res.cluster("shop/cart"), res.cluster("shop/pay"), res.cluster("shop/new")),
        endpoint: resourceSet(res.endpoints("shop/cart", "10.0.0.1:8080"), res.endpoints("shop/pay", "10.0.0.2:8080"), res.endpoints("shop/new", "10.0.0.3:8080")),
        route: resourceSet(res.route("edge/http", "shop/new"), res.route("edge/admin", "shop/pay")),
      }),
    }),
  );
  const cds = await c.next();
  const started = Date.now();
  // Never ACKed: after the hold the route comes anyway.
  const rds = await c.next(3000);
  assert.equal(rds.typeUrl, TYPE_URLS.route);
  assert.ok(Date.now() - started >= 250, `held for the warming time (${Date.now() - started} ms)`);
  assert.equal(cds.typeUrl, TYPE_URLS.cluster);
  c.close();
});

test("SotW: a removed listener disappears from the next LDS response", async (t) => {
  const two = [res.listener("edge/http", "edge/http"), res.listener("edge/https", "edge/http", 8443)];
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1", { listener: two }) }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  const { lds } = await subscribeAll(c);
  assert.deepEqual(names(lds), ["edge/http", "edge/https"]);
  server.update(snapshotSet("v2", { "gateway~infra~edge": edge("v2", { listener: [two[0]!] }) }));
  const next = await c.next();
  assert.equal(next.typeUrl, TYPE_URLS.listener);
  assert.deepEqual(names(next), ["edge/http"]);
  c.close();
});

test("SotW: requests with a stale nonce are ignored; a changed resource_names list is answered", async (t) => {
  const { channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const c = new SotwClient(channel(), "gateway~infra~edge");
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/cart"] });
  const first = await c.next();
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/cart", "shop/pay"], versionInfo: "v1", responseNonce: first.nonce });
  const second = await c.next();
  assert.deepEqual(names(second), ["shop/cart", "shop/pay"]);
  // The first nonce is stale now: this request (fewer names) must not be answered.
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/pay"], versionInfo: "v1", responseNonce: first.nonce });
  assert.deepEqual(await c.collect(100), []);
  // The same change with the current nonce is.
  c.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/pay"], versionInfo: "v1", responseNonce: second.nonce });
  const third = await c.next();
  assert.deepEqual(names(third), ["shop/pay"]);
  // An ACK that repeats the same names gets no response.
  c.ack(third, ["shop/pay"]);
  assert.deepEqual(await c.collect(100), []);
  c.close();
});

test("SotW: a reconnecting proxy resubscribes and gets the current state again", async (t) => {
  const { server, channel } = await startAds(t, snapshotSet("v1", { "gateway~infra~edge": edge("v1") }));
  const ch = channel();
  const c1 = new SotwClient(ch, "gateway~infra~edge");
  await subscribeAll(c1);
  c1.close();
  await waitFor(() => server.syncz().proxies.length === 0);
  assert.equal(server.syncz().proxies.length, 0, "the closed stream is gone");
  server.update(snapshotSet("v2", { "gateway~infra~edge": edge("v2", { endpoint: resourceSet(res.endpoints("shop/cart", "10.0.0.7:8080"), res.endpoints("shop/pay", "10.0.0.2:8080")) }) }));
  server.flush();
  const c2 = new SotwClient(ch, "gateway~infra~edge");
  // Envoy sends the version it holds and an empty nonce on a new stream.
  c2.send({ typeUrl: TYPE_URLS.cluster, versionInfo: "v1" });
  const cds = await c2.next();
  assert.equal(cds.versionInfo, "v2");
  assert.deepEqual(names(cds), ["shop/cart", "shop/pay"]);
  c2.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ["shop/cart", "shop/pay"], versionInfo: "v1" });
  const eds = await c2.next();
  assert.deepEqual(names(eds), ["shop/cart", "shop/pay"], "a new stream gets every requested resource");
  c2.ack(cds);
  c2.ack(eds);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  const p = server.syncz().proxies;
  assert.equal(p.length, 1);
  assert.equal(p[0]!.status, "SYNCED");
  c2.close();
});

test("SotW: an unknown node id gets the fallback snapshot; streams that arrive before any snapshot wait for one", async (t) => {
  const fallback = node("v1", { listener: [res.listener("client/view", "client/view")], cluster: [res.cluster("shop/cart")] });
  const { server, channel } = await startAds(t, undefined);
  const c = new SotwClient(channel(), "some-grpc-client-1234");
  c.send({ typeUrl: TYPE_URLS.listener });
  assert.deepEqual(await c.collect(80), [], "no snapshot yet");
  server.update(snapshotSet("v1", { "gateway~infra~edge": edge("v1") }, fallback));
  const lds = await c.next();
  assert.deepEqual(names(lds), ["client/view"]);
  assert.equal(lds.versionInfo, "v1");
  const p = server.syncz().proxies[0]!;
  assert.equal(p.role, "client");
  c.close();
});

test("SotW: a first request without node.id is refused with INVALID_ARGUMENT", async (t) => {
  const { channel } = await startAds(t, snapshotSet("v1", {}));
  const c = new SotwClient(channel(), "");
  c.send({ typeUrl: TYPE_URLS.cluster, node: false });
  const status = await c.closed;
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.match(status.details, /node\.id/);
});
