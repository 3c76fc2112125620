// Malformed, truncated and random input must produce clean problems — never an uncaught
// exception — all the way through validation. The generator is seeded so a failure
// reproduces; the seed is in the test name.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseYamlFile } from "../../src/config/yaml-documents.js";
import type { Problem } from "../../src/config/problem.js";
import { buildModel } from "../../src/model/index.js";
import { renderText } from "../../src/cli/validation-report.js";
import { ROOT } from "../helpers/cli.js";

function validateText(file: string, text: string) {
  const parsed = parseYamlFile(file, text);
  const syntax: Problem[] = parsed.issues.map((i) => ({ code: "MG_YAML_SYNTAX", severity: "error", blocking: true, message: i.message, position: i.position }));
  const result = buildModel(parsed.documents, syntax);
  renderText(result, [file], "/"); // rendering must not throw either
  for (const p of result.problems) {
    assert.equal(typeof p.message, "string");
    assert.ok(p.message.length > 0);
    if (p.position) assert.ok(p.position.line >= 1 && p.position.column >= 1, JSON.stringify(p.position));
  }
  return result;
}

/** mulberry32: small, seedable. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES = ["examples/bookinfo/gateway.yaml", "examples/bookinfo/policies.yaml", "examples/bookinfo/services.yaml", "examples/broken/routes.yaml"].map((f) => readFileSync(join(ROOT, f), "utf8"));
const ALPHABET = ":-[]{}\"'&*!|>%@`#,? \n\t\\ab0\u0000\u00e9";

test("hand-picked malformed documents", () => {
  const cases: Record<string, string> = {
    "not a mapping": "- a\n- b\n",
    "a scalar": "42\n",
    "apiVersion is a number": "apiVersion: 1\nkind: Service\nmetadata: { name: a }\n",
    "metadata is a list": "apiVersion: v1\nkind: Service\nmetadata: [a]\n",
    "name is a number": "apiVersion: v1\nkind: Service\nmetadata: { name: 7 }\n",
    "spec is a string": "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: a }\nspec: nope\n",
    "rules is a mapping": "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: a }\nspec: { rules: { a: 1 } }\n",
    "listeners null": "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: a }\nspec: { gatewayClassName: x, listeners: null }\n",
    "tab indentation": "apiVersion: v1\nkind: Service\nmetadata:\n\tname: a\n",
    "unterminated quote": 'apiVersion: "v1\nkind: Service\n',
    "binary garbage": "\u0000\u0001\u0002\uffff",
    "lone document marker": "---\n...\n---\n",
    "anchor to nothing": "a: *missing\n",
    "huge number": "apiVersion: v1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 1e400 }] }\n",
    "prototype keys": "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a, __proto__: { polluted: true } }\ndata: { constructor: x }\n",
  };
  for (const [name, text] of Object.entries(cases)) {
    const result = validateText(`${name}.yaml`, text);
    assert.ok(result.problems.some((p) => p.severity === "error") || result.model.index.size === 0, `${name}: expected a problem`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("every truncation of real configuration files", () => {
  for (const text of SAMPLES) {
    for (let cut = 0; cut < text.length; cut += 7) validateText("truncated.yaml", text.slice(0, cut));
  }
});

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`random mutations of real configuration files (seed ${seed})`, () => {
    const random = rng(seed);
    for (let i = 0; i < 150; i++) {
      const chars = [...SAMPLES[i % SAMPLES.length]!];
      const edits = 1 + Math.floor(random() * 6);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const op = random();
        const c = ALPHABET[Math.floor(random() * ALPHABET.length)]!;
        if (op < 0.4) chars.splice(at, 1);
        else if (op < 0.8) chars.splice(at, 0, c);
        else chars[at] = c;
      }
      validateText("mutated.yaml", chars.join(""));
    }
  });
}

test("random bytes", () => {
  const random = rng(42);
  for (let i = 0; i < 200; i++) {
    const len = Math.floor(random() * 300);
    let s = "";
    for (let j = 0; j < len; j++) s += String.fromCharCode(Math.floor(random() * 128));
    validateText("random.yaml", s);
  }
});
