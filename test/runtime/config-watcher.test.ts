import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { ConfigWatcher, type AppliedConfig, type RejectedConfig } from "../../src/runtime/config-watcher.js";

const service = (name: string, port: number) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { ports: [{ name: http, port: ${port} }] }\n`;

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-watch-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a file change is picked up; an invalid change keeps the last good model and says why", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.yaml");
    writeFileSync(file, service("a", 80));
    const watcher = new ConfigWatcher([dir], { debounceMs: 50 });
    try {
      const first = once(watcher, "applied");
      await watcher.start();
      const [v1] = (await first) as [AppliedConfig];
      assert.equal(v1.version, 1);

      const applied = once(watcher, "applied");
      writeFileSync(file, service("a", 8080));
      const [v2] = (await applied) as [AppliedConfig];
      assert.equal(v2.version, 2);
      assert.equal(v2.result.model.services[0]!.ports[0]!.port, 8080);

      const rejected = once(watcher, "rejected");
      writeFileSync(file, service("a", 8080).replace("port: 8080", "port: eighty"));
      const [r] = (await rejected) as [RejectedConfig];
      assert.match(r.reason, /keeping configuration version 2/);
      assert.equal(r.problems[0]!.code, "MG_SCHEMA");
      assert.equal(r.problems[0]!.position?.line, 4);
      assert.equal(watcher.current?.version, 2, "the last good configuration stays in force");
      assert.equal(watcher.current?.result.model.services[0]!.ports[0]!.port, 8080);

      // A new file in the directory is read too; fixing the broken one recovers.
      const recovered = once(watcher, "applied");
      writeFileSync(join(dir, "b.yml"), service("b", 81));
      writeFileSync(file, service("a", 9090));
      const [v3] = (await recovered) as [AppliedConfig];
      assert.equal(v3.version, 3);
      assert.deepEqual(v3.result.model.services.map((s) => `${s.name}:${s.ports[0]!.port}`).sort(), ["a:9090", "b:81"]);
    } finally {
      await watcher.close();
    }
  });
});

test("an applied configuration says when its change was seen and how long loading and validating took", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.yaml");
    writeFileSync(file, service("a", 80));
    const watcher = new ConfigWatcher([dir], { debounceMs: 50 });
    try {
      const first = once(watcher, "applied");
      await watcher.start();
      const [v1] = (await first) as [AppliedConfig];
      assert.equal(v1.timings?.changedAt, undefined, "the initial load follows no file change");
      assert.ok(v1.timings!.loadMs >= 0 && v1.timings!.modelMs >= 0);

      const applied = once(watcher, "applied");
      const wrote = Date.now();
      writeFileSync(file, service("a", 8080));
      const [v2] = (await applied) as [AppliedConfig];
      const t = v2.timings!;
      assert.ok(t.changedAt !== undefined && t.changedAt >= wrote, "the change was seen after the write");
      assert.ok(t.startedAt - t.changedAt >= 45, `the load started a debounce after the change (${t.startedAt - t.changedAt} ms)`);
      assert.ok(v2.appliedAt.getTime() >= t.startedAt);
    } finally {
      await watcher.close();
    }
  });
});

test("bursts of changes are debounced into one reload; editor-style rename-into-place works", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.yaml");
    writeFileSync(file, service("a", 80));
    const watcher = new ConfigWatcher([dir], { debounceMs: 150 });
    const versions: number[] = [];
    watcher.on("applied", (c) => versions.push(c.version));
    try {
      await watcher.start();
      const next = once(watcher, "applied");
      for (let p = 81; p <= 90; p++) writeFileSync(file, service("a", p));
      writeFileSync(join(dir, ".svc.yaml.swp"), "swap");
      writeFileSync(join(dir, "tmp"), service("a", 91));
      renameSync(join(dir, "tmp"), file);
      const [c] = (await next) as [AppliedConfig];
      assert.equal(c.result.model.services[0]!.ports[0]!.port, 91);
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(versions.length <= 3, `expected the burst to coalesce, got versions ${versions.join(",")}`);
    } finally {
      await watcher.close();
    }
  });
});

test("a configuration path that disappears is a rejected change, not a crash", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "svc.yaml");
    writeFileSync(file, service("a", 80));
    const watcher = new ConfigWatcher([file], { debounceMs: 20 });
    try {
      await watcher.start();
      rmSync(file);
      const [r] = (await once(watcher, "rejected")) as [RejectedConfig];
      assert.match(r.reason, /configuration path not found/);
      assert.equal(watcher.current?.version, 1);
    } finally {
      await watcher.close();
    }
  });
});
