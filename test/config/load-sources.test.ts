// loadSources with a ParseCache: a reload parses only the files whose text changed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSources, ParseCache } from "../../src/config/index.js";

const service = (name: string, port: number) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { ports: [{ name: http, port: ${port} }] }\n`;

test("a parse cache re-parses only changed files, drops removed ones, and hands out frozen documents", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "meshgate-load-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "a.yaml"), service("a", 80));
  writeFileSync(join(dir, "b.yaml"), service("b", 81));
  const cache = new ParseCache();

  const first = await loadSources([dir], cache);
  assert.equal(cache.parsed, 2);
  assert.ok(Object.isFrozen((first.documents[0]!.value as { spec: { ports: object[] } }).spec.ports[0]), "cached documents are shared, so frozen");

  writeFileSync(join(dir, "b.yaml"), service("b", 8081));
  const second = await loadSources([dir], cache);
  assert.equal(cache.parsed, 1, "only the changed file is parsed again");
  assert.equal(second.documents[0], first.documents[0], "the unchanged file's document is the same object");
  assert.deepEqual((second.documents[1]!.value as { spec: unknown }).spec, { ports: [{ name: "http", port: 8081 }] });

  rmSync(join(dir, "a.yaml"));
  writeFileSync(join(dir, "a.yaml"), service("a", 80));
  const third = await loadSources([dir], cache);
  assert.equal(cache.parsed, 0, "same text, same parse, even for a re-created file");
  assert.equal(third.documents.length, 2);

  rmSync(join(dir, "a.yaml"));
  await loadSources([dir], cache);
  writeFileSync(join(dir, "a.yaml"), service("a", 80));
  await loadSources([dir], cache);
  assert.equal(cache.parsed, 1, "a file that was gone for one load is parsed again");

  // Without a cache nothing is frozen (callers such as `meshgate validate` own their documents).
  const plain = await loadSources([dir]);
  assert.ok(!Object.isFrozen(plain.documents[0]!.value));
});
