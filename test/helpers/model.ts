// Builds a model from inline YAML, as if it were one file, for unit tests.

import { parseYamlFile } from "../../src/config/yaml-documents.js";
import type { Problem } from "../../src/config/problem.js";
import { buildModel, type ModelResult } from "../../src/model/index.js";

export function modelOf(yaml: string, file = "test.yaml"): ModelResult {
  const parsed = parseYamlFile(file, yaml);
  const syntax: Problem[] = parsed.issues.map((i) => ({ code: "MG_YAML_SYNTAX", severity: "error", blocking: true, message: i.message, position: i.position }));
  return buildModel(parsed.documents, syntax);
}

/** `code @line:col path: message` lines, for compact assertions. */
export function problemLines(result: ModelResult, severity?: Problem["severity"]): string[] {
  return result.problems
    .filter((p) => !severity || p.severity === severity)
    .map((p) => `${p.code} @${p.position?.line ?? 0}:${p.position?.column ?? 0} ${p.path ? fieldPath(p.path) : ""}: ${p.message}`);
}

function fieldPath(path: readonly (string | number)[]): string {
  return path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

export const GATEWAY_CLASS = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
`;

export function statusOf(result: ModelResult, kind: string, namespace: string, name: string): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const s = result.model.statuses.find((x) => x.kind === kind && x.namespace === namespace && x.name === name);
  if (!s) throw new Error(`no status for ${kind} ${namespace}/${name}`);
  return s.status;
}
