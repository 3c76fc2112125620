// examples/two-cas, fix A: one root for both meshes, both ways the README shows, each on a
// state directory that already holds the two roots of the broken setup (as a user who ran
// it first has): one shared managed root (fix-one-root), and a root and two
// intermediates made with `meshgate pki` (fix-one-root-pki). 200 through the gateway, no
// trust problem, and the doctor agrees.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { copyExample, meshgate, until, up, type ExampleCopy, type RunningUp } from "./two-cas-helpers.js";

let copy: ExampleCopy;
before(async () => {
  copy = await copyExample();
  // The broken setup first: its roots and intermediates are in the state directory.
  const broken = await up(copy, "two-roots");
  await until("the broken setup's 503", async () => ((await broken.get("/shop")).status === 503 ? true : undefined), broken.output);
  assert.equal(await broken.stop(), 0, broken.output());
});
after(() => copy.cleanup());

async function expectShop(run: RunningUp): Promise<void> {
  const r = await until("200 through the gateway", async () => {
    const x = await run.get("/shop");
    return x.status === 200 ? x : undefined;
  }, run.output);
  // One trust domain now: the gateway's identity is in example.org.
  assert.deepEqual(JSON.parse(r.body), { service: "shop", message: "hello from the shop mesh", caller: "spiffe://example.org/ns/edge/sa/edge-gateway" });
  const status = await meshgate("status", "--admin", run.admin.replace("http://", ""));
  assert.doesNotMatch(status.stdout, /Trust problems/);
  assert.doesNotMatch(run.output(), /trust mismatch|CERTIFICATE_VERIFY_FAILED/);
}

test("fix A, one managed root (the same ca.rootName and trust domain): both intermediates are reissued under it; 200", async () => {
  const run = await up(copy, "fix-one-root");
  try {
    await expectShop(run);
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
  const d = await meshgate("trust", "doctor", "--client", join(copy.stateDir, "pki/meshes/edge"), "--server", join(copy.stateDir, "pki/meshes/shop"));
  assert.equal(d.code, 0, d.stdout);
});

test("fix A, your own root: meshgate pki init + one intermediate per mesh, ca.mode Provided; 200", async () => {
  const ca = join(copy.dir, "fix-one-root-pki/ca");
  for (const args of [
    ["pki", "init", "--trust-domain", "example.org", "--out", join(ca, "root")],
    ["pki", "intermediate", "--root", join(ca, "root"), "--mesh", "edge", "--out", join(ca, "edge")],
    ["pki", "intermediate", "--root", join(ca, "root"), "--mesh", "shop", "--out", join(ca, "shop")],
  ]) {
    const r = await meshgate(...args);
    assert.equal(r.code, 0, r.stderr);
  }
  const d = await meshgate("trust", "doctor", "--client", join(ca, "edge"), "--server", join(ca, "shop"));
  assert.equal(d.code, 0, d.stdout);
  const run = await up(copy, "fix-one-root-pki");
  try {
    await expectShop(run);
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
});
