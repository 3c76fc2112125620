// Incremental (Delta) ADS over a real gRPC connection: initial subscriptions, implicit
// and explicit wildcards, per-resource versions, subscribe/unsubscribe, removals,
// reconnects with initial_resource_versions, ACK/NACK.

import { test } from "node:test";
import assert from "node:assert/strict";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { DeltaClient, names } from "../helpers/ads-client.js";
import { startAds, waitFor } from "../helpers/ads-server.js";
import { node, res, snapshotSet } from "../helpers/xds-snapshots.js";

const cart = res.cluster("shop/cart");
const pay = res.cluster("shop/pay");
const cartEps = res.endpoints("shop/cart", "10.0.0.1:8080");
const payEps = res.endpoints("shop/pay", "10.0.0.2:8080");
const ID = "sidecar~shop~cart";

const set = (v: string, over: Parameters<typeof node>[1] = {}) =>
  snapshotSet(v, { [ID]: node(v, { listener: [res.listener("shop/cart/inbound", "shop/cart")], route: [res.route("shop/cart", "shop/cart")], cluster: [cart, pay], endpoint: [cartEps, payEps], ...over }) });

test("Delta: a first CDS request naming nothing is an implicit wildcard; every resource carries its own version", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const c = new DeltaClient(channel(), ID);
  c.send({ typeUrl: TYPE_URLS.cluster });
  const r = await c.next();
  assert.equal(r.typeUrl, TYPE_URLS.cluster);
  assert.equal(r.systemVersionInfo, "v1");
  assert.deepEqual(names(r), ["shop/cart", "shop/pay"]);
  assert.deepEqual(
    Object.fromEntries(r.resources.map((x) => [x.name, x.version])),
    { "shop/cart": cart.version, "shop/pay": pay.version },
  );
  assert.deepEqual(r.removedResources, []);
  c.ack(r);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  const p = server.syncz().proxies[0]!;
  assert.equal(p.flavour, "delta");
  assert.equal(p.status, "SYNCED");
  c.close();
});

test("Delta: named EDS subscriptions, adding and removing names; a name that does not exist comes back in removed_resources", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const c = new DeltaClient(channel(), ID);
  c.send({ typeUrl: TYPE_URLS.endpoint, subscribe: ["shop/cart"] });
  const first = await c.next();
  assert.deepEqual(names(first), ["shop/cart"]);
  c.ack(first);
  // Add a name (and one that does not exist).
  c.send({ typeUrl: TYPE_URLS.endpoint, subscribe: ["shop/pay", "shop/ghost"] });
  const added = await c.next();
  assert.deepEqual(names(added), ["shop/pay"], "only the newly subscribed resource is sent");
  assert.deepEqual(added.removedResources, ["shop/ghost"]);
  c.ack(added);
  // Unsubscribe: no response is needed, and later changes to it are not sent.
  c.send({ typeUrl: TYPE_URLS.endpoint, unsubscribe: ["shop/pay"] });
  assert.deepEqual(await c.collect(80), []);
  server.update(set("v2", { endpoint: [cartEps, res.endpoints("shop/pay", "10.0.0.3:8080")] }));
  server.flush();
  assert.deepEqual(await c.collect(80), [], "shop/pay changed, but the proxy no longer wants it");
  // Subscribing again sends it again, at its current version.
  c.send({ typeUrl: TYPE_URLS.endpoint, subscribe: ["shop/pay"] });
  const back = await c.next();
  assert.deepEqual(names(back), ["shop/pay"]);
  assert.equal(back.systemVersionInfo, "v2");
  c.close();
});

test("Delta: a resource that disappears is sent in removed_resources; a change sends only that resource", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const c = new DeltaClient(channel(), ID);
  c.send({ typeUrl: TYPE_URLS.cluster });
  c.ack(await c.next());
  c.send({ typeUrl: TYPE_URLS.endpoint, subscribe: ["shop/cart", "shop/pay"] });
  c.ack(await c.next());

  server.update(set("v2", { cluster: [cart], endpoint: [cartEps] }));
  const cds = await c.next();
  assert.equal(cds.typeUrl, TYPE_URLS.cluster);
  assert.deepEqual(cds.resources, []);
  assert.deepEqual(cds.removedResources, ["shop/pay"]);
  const eds = await c.next();
  assert.equal(eds.typeUrl, TYPE_URLS.endpoint);
  assert.deepEqual(eds.removedResources, ["shop/pay"]);
  c.ack(cds);
  c.ack(eds);

  const cart2 = res.cluster("shop/cart", 3);
  server.update(set("v3", { cluster: [cart2], endpoint: [cartEps] }));
  const changed = await c.next();
  assert.deepEqual(names(changed), ["shop/cart"]);
  assert.equal(changed.resources[0]!.version, cart2.version);
  assert.deepEqual(changed.removedResources, []);
  assert.deepEqual(await c.collect(80), [], "EDS did not change");
  c.ack(changed);
  await waitFor(() => server.syncz().summary.converged);
  assert.equal(server.syncz().summary.converged, true);
  assert.equal(server.syncz().proxies[0]!.types.EDS!.acked!.version, "v3", "unchanged EDS counts as synced on v3");
  c.close();
});

test("Delta: a reconnecting proxy lists what it holds (initial_resource_versions) and gets only what differs", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const ch = channel();
  const c1 = new DeltaClient(ch, ID);
  c1.send({ typeUrl: TYPE_URLS.cluster });
  const held = await c1.next();
  c1.ack(held);
  const versions = Object.fromEntries(held.resources.map((r) => [r.name, r.version!]));
  c1.close();
  await waitFor(() => server.syncz().proxies.length === 0);

  // While it was away: shop/cart changed, shop/pay was removed, shop/new was added.
  const cart2 = res.cluster("shop/cart", 4);
  const added = res.cluster("shop/new");
  server.update(set("v2", { cluster: [cart2, added] }));
  server.flush();
  const c2 = new DeltaClient(ch, ID);
  c2.send({ typeUrl: TYPE_URLS.cluster, initialResourceVersions: versions });
  const r = await c2.next();
  assert.deepEqual(names(r), ["shop/cart", "shop/new"]);
  assert.deepEqual(r.removedResources, ["shop/pay"]);
  c2.ack(r);

  // Reconnecting again with everything current: an empty answer carrying the version.
  c2.close();
  await waitFor(() => server.syncz().proxies.length === 0);
  const c3 = new DeltaClient(ch, ID);
  c3.send({ typeUrl: TYPE_URLS.cluster, initialResourceVersions: { "shop/cart": cart2.version, "shop/new": added.version } });
  const none = await c3.next();
  assert.deepEqual(none.resources, []);
  assert.deepEqual(none.removedResources, []);
  assert.equal(none.systemVersionInfo, "v2");
  c3.ack(none);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  assert.equal(server.syncz().proxies[0]!.status, "SYNCED");
  c3.close();
});

test("Delta: explicit wildcard '*' for RDS, unsubscribing '*' stops it", async (t) => {
  const routes = [res.route("a", "shop/cart"), res.route("b", "shop/pay")];
  const { server, channel } = await startAds(t, set("v1", { route: routes }));
  const c = new DeltaClient(channel(), ID);
  c.send({ typeUrl: TYPE_URLS.route, subscribe: ["*"] });
  const r = await c.next();
  assert.deepEqual(names(r), ["a", "b"]);
  c.ack(r);
  c.send({ typeUrl: TYPE_URLS.route, unsubscribe: ["*"] });
  assert.deepEqual(await c.collect(50), []);
  server.update(set("v2", { route: [res.route("a", "shop/pay"), routes[1]!] }));
  server.flush();
  assert.deepEqual(await c.collect(80), []);
  c.close();
});

test("Delta: a NACK keeps the proxy's previous resources in the server's view; the next version resends what it lacks", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const c = new DeltaClient(channel(), ID);
  c.send({ typeUrl: TYPE_URLS.cluster });
  c.ack(await c.next());
  const bad = res.cluster("shop/cart", 99);
  server.update(set("v2", { cluster: [bad, pay] }));
  const r = await c.next();
  assert.deepEqual(names(r), ["shop/cart"]);
  c.send({ typeUrl: TYPE_URLS.cluster, responseNonce: r.nonce, errorDetail: { code: 3, message: "timeout out of range" } });
  await waitFor(() => server.syncz().proxies[0]?.status === "NACKED");
  let p = server.syncz().proxies[0]!;
  assert.equal(p.status, "NACKED");
  assert.equal(p.types.CDS!.nacked!.detail, "timeout out of range");
  // v3 changes shop/pay only; shop/cart is back to what the proxy holds, so only pay is sent.
  const pay2 = res.cluster("shop/pay", 7);
  server.update(set("v3", { cluster: [cart, pay2] }));
  const fixed = await c.next();
  assert.deepEqual(names(fixed), ["shop/pay"]);
  assert.equal(fixed.systemVersionInfo, "v3");
  c.ack(fixed);
  await waitFor(() => server.syncz().proxies[0]?.status === "SYNCED");
  p = server.syncz().proxies[0]!;
  assert.equal(p.status, "SYNCED");
  assert.equal(p.types.CDS!.nacked, null);
  c.close();
});

test("Delta: listeners and routes that follow a new cluster wait for the cluster and its endpoints to be ACKed", async (t) => {
  const { server, channel } = await startAds(t, set("v1"));
  const c = new DeltaClient(channel(), ID);
  for (const [typeUrl, subscribe] of [
    [TYPE_URLS.cluster, []],
    [TYPE_URLS.endpoint, ["shop/cart", "shop/pay"]],
    [TYPE_URLS.listener, []],
    [TYPE_URLS.route, ["shop/cart"]],
  ] as const) {
    c.send({ typeUrl, subscribe: [...subscribe] });
    c.ack(await c.next());
  }
  const fresh = res.cluster("shop/fresh");
  server.update(set("v2", { cluster: [cart, pay, fresh], endpoint: [cartEps, payEps, res.endpoints("shop/fresh", "10.0.0.3:8080")], route: [res.route("shop/cart", "shop/fresh")] }));
  const cds = await c.next();
  assert.equal(cds.typeUrl, TYPE_URLS.cluster);
  assert.deepEqual(names(cds), ["shop/fresh"]);
  c.ack(cds);
  assert.deepEqual(await c.collect(150), [], "the route waits for shop/fresh's endpoints");
  c.send({ typeUrl: TYPE_URLS.endpoint, subscribe: ["shop/fresh"] });
  const eds = await c.next();
  assert.deepEqual(names(eds), ["shop/fresh"]);
  c.ack(eds);
  const rds = await c.next();
  assert.equal(rds.typeUrl, TYPE_URLS.route);
  assert.deepEqual(names(rds), ["shop/cart"]);
  c.ack(rds);
  await waitFor(() => server.syncz().summary.converged);
  c.close();
});
