// Convergence tracking: per-type and per-proxy status, "version V is live on all N
// proxies" and its timing, history. The tracker is driven directly with a clock the test
// controls, then once end to end through a real ADS server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvergenceTracker, type VersionHistoryEntry } from "../../src/xds/convergence.js";
import { TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { SotwClient } from "../helpers/ads-client.js";
import { startAds, waitFor } from "../helpers/ads-server.js";
import { node, res, snapshotSet } from "../helpers/xds-snapshots.js";

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("a proxy is STALE until every subscribed type ACKs the current version, NACKED while its last response is rejected", () => {
  const c = clock();
  const tr = new ConvergenceTracker({ now: c.now });
  tr.versionUpdated("1");
  tr.connect(1, { nodeId: "gateway~infra~edge", flavour: "sotw", peer: "ipv4:127.0.0.1:1" });
  assert.equal(tr.statusOf(1), "STALE", "nothing subscribed or sent yet");
  tr.setTarget(1, "1");
  tr.subscribed(1, "cluster");
  tr.subscribed(1, "listener");
  tr.sent(1, "cluster", "1", "n1");
  tr.sent(1, "listener", "1", "n2");
  tr.versionApplied("1");
  tr.acked(1, "cluster", "n1");
  assert.equal(tr.statusOf(1), "STALE", "LDS not ACKed yet");
  tr.acked(1, "listener", "n-old");
  assert.equal(tr.statusOf(1), "STALE", "an ACK for another nonce does not count");
  tr.acked(1, "listener", "n2");
  assert.equal(tr.statusOf(1), "SYNCED");

  tr.versionUpdated("2");
  tr.setTarget(1, "2");
  tr.sent(1, "cluster", "2", "n3");
  tr.unchanged(1, "listener", "2");
  tr.versionApplied("2");
  assert.equal(tr.statusOf(1), "STALE");
  tr.nacked(1, "cluster", "n3", "bad cluster");
  assert.equal(tr.statusOf(1), "NACKED");
  const t = tr.report().proxies[0]!.types;
  assert.deepEqual(
    { cds: t.CDS!.status, nackedVersion: t.CDS!.nacked!.version, detail: t.CDS!.nacked!.detail, acked: t.CDS!.acked!.version, lds: t.LDS!.status, ldsAcked: t.LDS!.acked!.version },
    { cds: "NACKED", nackedVersion: "2", detail: "bad cluster", acked: "1", lds: "SYNCED", ldsAcked: "2" },
  );
  tr.sent(1, "cluster", "3", "n4");
  assert.equal(tr.statusOf(1), "STALE", "a new response replaces the NACKed one");
});

test("an unchanged type counts for the new version: at once when ACKed, on its ACK when still pending", () => {
  const c = clock();
  const tr = new ConvergenceTracker({ now: c.now });
  tr.versionUpdated("1");
  tr.connect(1, { nodeId: "a", flavour: "delta", peer: "p" });
  tr.setTarget(1, "1");
  tr.subscribed(1, "endpoint");
  tr.sent(1, "endpoint", "1", "n1");
  tr.versionApplied("1");
  // Version 2 does not change this proxy's endpoints while version 1's response is unanswered.
  tr.versionUpdated("2");
  tr.setTarget(1, "2");
  tr.unchanged(1, "endpoint", "2");
  tr.versionApplied("2");
  assert.equal(tr.statusOf(1), "STALE");
  tr.acked(1, "endpoint", "n1");
  assert.equal(tr.statusOf(1), "SYNCED");
  assert.equal(tr.report().proxies[0]!.types.EDS!.acked!.version, "2");
  // Version 3, again unchanged: already ACKed, so synced without any message.
  tr.versionUpdated("3");
  tr.setTarget(1, "3");
  tr.unchanged(1, "endpoint", "3");
  tr.versionApplied("3");
  assert.equal(tr.statusOf(1), "SYNCED");
  assert.equal(tr.summary().text, "config version 3 is live on all 1 proxy (converged in 0 ms)");
});

test("'config version V is live on all N proxies': measured from update() to the last ACK; history keeps superseded versions", () => {
  const c = clock();
  const converged: VersionHistoryEntry[] = [];
  const tr = new ConvergenceTracker({ now: c.now, historySize: 3, onConverged: (e) => converged.push({ ...e }) });
  for (const id of [1, 2, 3]) {
    tr.connect(id, { nodeId: `sidecar~shop~w${id}`, flavour: "sotw", peer: "p" });
    tr.subscribed(id, "cluster");
  }
  tr.versionUpdated("7");
  c.advance(10);
  tr.versionUpdated("8"); // replaces 7 within the debounce window
  c.advance(100);
  for (const id of [1, 2, 3]) {
    tr.setTarget(id, "8");
    tr.sent(id, "cluster", "8", `n${id}`);
  }
  tr.versionApplied("8");
  c.advance(5);
  tr.acked(1, "cluster", "n1");
  tr.acked(2, "cluster", "n2");
  let s = tr.summary();
  assert.equal(s.converged, false);
  assert.equal(s.text, "config version 8 is live on 2 of 3 proxies; not yet: sidecar~shop~w3 (STALE)");
  assert.deepEqual([s.synced, s.stale, s.nacked, s.convergedInMs], [2, 1, 0, null]);
  c.advance(20);
  tr.acked(3, "cluster", "n3");
  s = tr.summary();
  assert.equal(s.converged, true);
  assert.equal(s.convergedInMs, 125, "100 ms debounce + 25 ms until the last ACK, from update(8)");
  assert.equal(s.text, "config version 8 is live on all 3 proxies (converged in 125 ms)");
  assert.deepEqual(
    converged.map((e) => [e.version, e.proxies]),
    [["8", 3]],
  );
  const h = tr.report().history;
  assert.deepEqual(
    h.map((x) => [x.version, x.superseded, x.convergedInMs]),
    [
      ["7", true, null],
      ["8", false, 125],
    ],
  );
  for (const v of ["9", "10", "11"]) tr.versionApplied(v);
  assert.deepEqual(
    tr.report().history.map((x) => x.version),
    ["9", "10", "11"],
    "only the last historySize versions are kept",
  );
});

test("a proxy that disconnects no longer holds convergence back", () => {
  const tr = new ConvergenceTracker({ now: clock().now });
  tr.connect(1, { nodeId: "a", flavour: "sotw", peer: "p" });
  tr.connect(2, { nodeId: "b", flavour: "sotw", peer: "p" });
  for (const id of [1, 2]) {
    tr.setTarget(id, "1");
    tr.sent(id, "listener", "1", `n${id}`);
  }
  tr.versionApplied("1");
  tr.acked(1, "listener", "n1");
  assert.equal(tr.summary().converged, false);
  tr.disconnect(2);
  assert.equal(tr.summary().converged, true);
  assert.equal(tr.summary().proxies, 1);
});

test("end to end: three proxies on a real ADS server; the summary names the version, the count and the time", async (t) => {
  const set = (v: string, port: number) =>
    snapshotSet(
      v,
      Object.fromEntries(["a", "b", "c"].map((n) => [`sidecar~shop~${n}`, node(v, { listener: [res.listener(`${n}/in`, `${n}/in`, port)], cluster: [res.cluster("shop/cart")] })])),
    );
  const { server, channel } = await startAds(t, set("1", 8080), { debounceMs: 60 });
  const ch = channel();
  const clients = ["a", "b", "c"].map((n) => new SotwClient(ch, `sidecar~shop~${n}`));
  for (const c of clients) {
    c.send({ typeUrl: TYPE_URLS.listener });
    c.ack(await c.next());
    c.send({ typeUrl: TYPE_URLS.cluster });
    c.ack(await c.next());
  }
  await waitFor(() => server.syncz().summary.converged);
  assert.equal(server.syncz().summary.text.startsWith("config version 1 is live on all 3 proxies"), true, server.syncz().summary.text);

  const started = performance.now();
  server.update(set("2", 9090));
  for (const c of clients) {
    const r = await c.next();
    assert.equal(r.typeUrl, TYPE_URLS.listener, "only LDS changed");
    c.ack(r);
  }
  await waitFor(() => server.syncz().summary.converged && server.syncz().summary.version === "2");
  const elapsed = performance.now() - started;
  const s = server.syncz().summary;
  assert.equal(s.converged, true);
  assert.ok(s.convergedInMs! >= 55 && s.convergedInMs! <= elapsed, `converged in ${s.convergedInMs} ms (debounce 60, wall ${elapsed})`);
  assert.equal(s.text, `config version 2 is live on all 3 proxies (converged in ${s.convergedInMs} ms)`);
  const h = server.syncz().history.find((x) => x.version === "2")!;
  assert.equal(h.proxies, 3);
  for (const c of clients) c.close();
});
