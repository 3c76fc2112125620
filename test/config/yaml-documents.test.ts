import { test } from "node:test";
import assert from "node:assert/strict";
import { parseYamlFile } from "../../src/config/yaml-documents.js";
import { formatFieldPath } from "../../src/config/source-position.js";

const TEXT = `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  ports:
    - name: http
      port: 80
    - name: grpc
      port: 81
---
---
apiVersion: v1
kind: ConfigMap
metadata: { name: b }
`;

test("multi-document YAML keeps each document and skips empty ones", () => {
  const parsed = parseYamlFile("f.yaml", TEXT);
  assert.equal(parsed.issues.length, 0);
  assert.equal(parsed.documents.length, 2);
  assert.equal(parsed.documents[0]!.position.line, 2);
  assert.equal(parsed.documents[1]!.position.line, 14);
  assert.equal(parsed.documents[1]!.index, 2);
});

test("locate() maps a field path to its line and column", () => {
  const doc = parseYamlFile("f.yaml", TEXT).documents[0]!;
  assert.deepEqual(doc.locate(["spec", "ports", 1, "port"]), { file: "f.yaml", line: 11, column: 7 });
  assert.deepEqual(doc.locate(["spec", "ports", 1]), { file: "f.yaml", line: 10, column: 7 });
  // A missing field falls back to its nearest existing ancestor.
  assert.deepEqual(doc.locate(["spec", "ports", 0, "targetPort"]), { file: "f.yaml", line: 8, column: 7 });
  assert.deepEqual(doc.locate(["spec", "nothing", "here"]), { file: "f.yaml", line: 6, column: 1 });
});

test("syntax errors are reported with their position, not thrown", () => {
  const parsed = parseYamlFile("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n");
  assert.equal(parsed.documents.length, 0);
  assert.ok(parsed.issues.length > 0);
  assert.equal(parsed.issues[0]!.position.file, "bad.yaml");
  assert.ok(parsed.issues[0]!.position.line >= 2);
});

test("duplicate keys in one mapping are a syntax error", () => {
  const parsed = parseYamlFile("dup.yaml", "kind: Service\nkind: ConfigMap\n");
  assert.equal(parsed.issues.length, 1);
  assert.match(parsed.issues[0]!.message, /unique/i);
  assert.equal(parsed.issues[0]!.position.line, 2);
});

test("alias bombs are refused instead of exhausting memory", () => {
  let text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (let i = 1; i < 12; i++) text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]\n`;
  const parsed = parseYamlFile("bomb.yaml", text);
  assert.equal(parsed.documents.length, 0);
  assert.match(parsed.issues[0]!.message, /alias/i);
});

test("field paths print the way kubectl explains them", () => {
  assert.equal(formatFieldPath(["spec", "rules", 0, "matches", 1, "path", "type"]), "spec.rules[0].matches[1].path.type");
  assert.equal(formatFieldPath(["metadata", "labels", "kubernetes.io/service-name"]), 'metadata.labels["kubernetes.io/service-name"]');
});
