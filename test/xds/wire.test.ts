// Responses are written by hand around cached bytes; the part shared by every proxy of a
// push is reused, so consecutive responses must still carry their own nonce and exactly
// their own resources.

import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeResource, envoyRoot, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import type { EncodedResource } from "../../src/xds/snapshot.js";
import { controlPlaneBytes, encodeDeltaResponse, encodeSotwResponse } from "../../src/xds/wire.js";

const res = (name: string, port: number): EncodedResource => ({
  name,
  typeUrl: TYPE_URLS.cluster,
  version: `v${port}`,
  value: encodeResource(TYPE_URLS.cluster, { name, connectTimeout: { seconds: port } }),
});

function decode(kind: "DiscoveryResponse" | "DeltaDiscoveryResponse", b: Buffer) {
  const t = envoyRoot().lookupType(`envoy.service.discovery.v3.${kind}`);
  return t.toObject(t.decode(b), { defaults: false, json: true, longs: Number }) as Record<string, unknown> & { nonce: string; resources?: { "@type"?: string; name?: string }[]; removedResources?: string[]; controlPlane?: { identifier: string } };
}

test("State of the World responses to consecutive proxies share resources but never a nonce; a different list is encoded anew", () => {
  const a = res("a", 1);
  const b = res("b", 2);
  const cp = controlPlaneBytes("meshgate");
  const one = decode("DiscoveryResponse", encodeSotwResponse("7", TYPE_URLS.cluster, "n1", [a, b], cp));
  const two = decode("DiscoveryResponse", encodeSotwResponse("7", TYPE_URLS.cluster, "n2", [a, b], cp));
  assert.equal(one.nonce, "n1");
  assert.equal(two.nonce, "n2");
  assert.deepEqual({ ...two, nonce: "n1" }, one);
  assert.equal(one.versionInfo, "7");
  assert.deepEqual(one.controlPlane, { identifier: "meshgate" });
  assert.deepEqual(one.resources?.map((r) => r.name), ["a", "b"]);

  const fewer = decode("DiscoveryResponse", encodeSotwResponse("7", TYPE_URLS.cluster, "n3", [b], cp));
  assert.deepEqual(fewer.resources?.map((r) => r.name), ["b"]);
  const newer = decode("DiscoveryResponse", encodeSotwResponse("8", TYPE_URLS.cluster, "n4", [b], new Uint8Array()));
  assert.equal(newer.versionInfo, "8");
  assert.equal(newer.controlPlane, undefined);
  const changed = res("b", 3);
  const again = decode("DiscoveryResponse", encodeSotwResponse("8", TYPE_URLS.cluster, "n5", [changed], new Uint8Array()));
  assert.equal((again.resources![0] as { connectTimeout?: { seconds: number } }).connectTimeout?.seconds, 3, "a new object with the same name is not mistaken for the old one");
});

test("Delta responses reuse the shared part only when resources and removed names are the same", () => {
  const a = res("a", 1);
  const cp = controlPlaneBytes("meshgate");
  const one = decode("DeltaDiscoveryResponse", encodeDeltaResponse("3", TYPE_URLS.cluster, "n1", [a], ["gone"], cp));
  const two = decode("DeltaDiscoveryResponse", encodeDeltaResponse("3", TYPE_URLS.cluster, "n2", [a], ["gone"], cp));
  assert.deepEqual([one.nonce, two.nonce], ["n1", "n2"]);
  assert.deepEqual({ ...two, nonce: "n1" }, one);
  assert.deepEqual(one.removedResources, ["gone"]);
  assert.deepEqual(one.controlPlane, { identifier: "meshgate" });
  const other = decode("DeltaDiscoveryResponse", encodeDeltaResponse("3", TYPE_URLS.cluster, "n3", [a], [], cp));
  assert.equal(other.removedResources, undefined);
  assert.equal(other.systemVersionInfo, "3");
});
