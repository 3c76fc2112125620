// Every supported kind with valid and invalid fixtures. Invalid documents carry the
// problems they must produce in the annotation test.meshgate.dev/expect, as
// "CODE field.path" items separated by ";"; the test requires exactly those.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseYamlFile } from "../../../src/config/yaml-documents.js";
import { formatFieldPath } from "../../../src/config/source-position.js";
import { decodeResources } from "../../../src/model/decode-resources.js";
import { KINDS } from "../../../src/model/kinds.js";

const DIR = join(import.meta.dirname, "fixtures");
const files = readdirSync(DIR).sort();

for (const file of files.filter((f) => f.endsWith(".valid.yaml"))) {
  test(`${file}: every document decodes without problems`, () => {
    const parsed = parseYamlFile(file, readFileSync(join(DIR, file), "utf8"));
    assert.deepEqual(parsed.issues, []);
    const decoded = decodeResources(parsed.documents);
    assert.deepEqual(decoded.problems.map((p) => `${p.code} ${formatFieldPath(p.path ?? [])}: ${p.message}`), []);
    assert.equal(decoded.resources.length, parsed.documents.length);
  });
}

for (const file of files.filter((f) => f.endsWith(".invalid.yaml"))) {
  const parsed = parseYamlFile(file, readFileSync(join(DIR, file), "utf8"));
  for (const doc of parsed.documents) {
    const meta = (doc.value as { metadata?: { name?: string; annotations?: Record<string, string> } }).metadata;
    const expect = meta?.annotations?.["test.meshgate.dev/expect"];
    test(`${file}: ${meta?.name ?? `document ${doc.index}`} is rejected with exactly the expected problems`, () => {
      assert.ok(expect, "fixture lacks its test.meshgate.dev/expect annotation");
      const decoded = decodeResources([doc]);
      assert.equal(decoded.resources.length, 0, "an invalid document must not become a resource");
      const actual = decoded.problems.map((p) => `${p.code} ${formatFieldPath(p.path ?? [])}`).sort();
      const wanted = expect.split(";").map((s) => s.trim()).sort();
      assert.deepEqual([...new Set(actual)], wanted, decoded.problems.map((p) => p.message).join("\n"));
      for (const p of decoded.problems) {
        assert.equal(p.blocking, true);
        assert.equal(p.position?.file, file);
        assert.ok(p.message.length > 10, `message too terse: ${p.message}`);
      }
    });
  }
}

test("every supported kind has a valid fixture", () => {
  const seen = new Set<string>();
  for (const file of files.filter((f) => f.endsWith(".valid.yaml"))) {
    for (const doc of parseYamlFile(file, readFileSync(join(DIR, file), "utf8")).documents) {
      const v = doc.value as { apiVersion: string; kind: string };
      seen.add(`${v.apiVersion} ${v.kind}`);
    }
  }
  assert.deepEqual(KINDS.map((k) => `${k.apiVersion} ${k.kind}`).filter((k) => !seen.has(k)), []);
});

test("an unknown kind's error lists the supported kinds", () => {
  const parsed = parseYamlFile("x.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n");
  const [p] = decodeResources(parsed.documents).problems;
  assert.equal(p?.code, "MG_UNKNOWN_KIND");
  assert.match(p!.message, /unsupported kind example\.com\/v1 Widget/);
  assert.match(p!.message, /gateway\.networking\.k8s\.io\/v1 \(GatewayClass, Gateway, HTTPRoute/);
  assert.match(p!.message, /meshgate\.dev\/v1alpha1 \(Mesh, Workload, TokenExchange\)/);
});

test("a resource defined twice is reported at the second definition, naming the first", () => {
  const yaml = "apiVersion: v1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 80 }] }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: a, namespace: default }\nspec: { ports: [{ port: 81 }] }\n";
  const decoded = decodeResources(parseYamlFile("d.yaml", yaml).documents);
  assert.equal(decoded.resources.length, 1);
  assert.equal(decoded.problems.length, 1);
  assert.equal(decoded.problems[0]!.code, "MG_DUPLICATE_RESOURCE");
  assert.equal(decoded.problems[0]!.position?.line, 8);
  assert.match(decoded.problems[0]!.message, /Service default\/a is defined twice; first definition at d\.yaml:1:1/);
});

test("ReferenceGrant v1 and v1beta1 with the same name are one resource defined twice", () => {
  const rg = (v: string) => `apiVersion: gateway.networking.k8s.io/${v}\nkind: ReferenceGrant\nmetadata: { name: g }\nspec: { from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: a }], to: [{ group: "", kind: Service }] }\n`;
  const decoded = decodeResources(parseYamlFile("g.yaml", rg("v1") + "---\n" + rg("v1beta1")).documents);
  assert.deepEqual(decoded.problems.map((p) => p.code), ["MG_DUPLICATE_RESOURCE"]);
});
