// Source documents -> typed resources. Checks the envelope (apiVersion, kind, metadata),
// the kind's schema and the API rules that upstream CRDs enforce with CEL (checked in
// api-rules.ts), and reports duplicates. Every error found here is blocking: the
// document would be rejected by a Kubernetes API server too (the one warning, a
// namespace on a cluster-scoped kind, is not).

import type { Problem } from "../config/problem.js";
import type { FieldPath } from "../config/source-position.js";
import type { SourceDocument } from "../config/yaml-documents.js";
import { checkApiRules } from "./api-rules.js";
import { findKind, KINDS, supportedKindsList } from "./kinds.js";
import { displayName, objectKey, type AnyResource } from "./resource.js";
import { describeSchemaErrors } from "./schema-errors.js";
import { findUnknownFields } from "./unknown-fields.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface DecodedResources {
  readonly resources: AnyResource[];
  readonly problems: Problem[];
}

export function decodeResources(documents: readonly SourceDocument[]): DecodedResources {
  const resources: AnyResource[] = [];
  const problems: Problem[] = [];
  const firstSeen = new Map<string, AnyResource>();

  for (const doc of documents) {
    const report = (path: FieldPath, message: string, code: Problem["code"] = "MG_SCHEMA", resource?: string) =>
      problems.push({ code, severity: "error", blocking: true, message, position: doc.locate(path), path, ...(resource ? { resource } : {}) });

    const value = doc.value;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      report([], `expected a resource (a mapping with apiVersion, kind and metadata), got ${Array.isArray(value) ? "a list" : typeof value}`, "MG_NOT_A_RESOURCE");
      continue;
    }
    const obj = value as Record<string, unknown>;
    const { apiVersion, kind } = obj;
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      if (typeof apiVersion !== "string") report(["apiVersion"], "required field is missing or not a string", "MG_NOT_A_RESOURCE");
      if (typeof kind !== "string") report(["kind"], "required field is missing or not a string", "MG_NOT_A_RESOURCE");
      continue;
    }
    const def = findKind(apiVersion, kind);
    if (!def) {
      const sameKind = KINDS.filter((k) => k.kind === kind).map((k) => k.apiVersion);
      report(
        sameKind.length > 0 ? ["apiVersion"] : ["kind"],
        sameKind.length > 0
          ? `meshgate reads ${kind} as apiVersion ${sameKind.join(" or ")}, not ${apiVersion}`
          : `unsupported kind ${apiVersion} ${kind}; supported kinds: ${supportedKindsList()}`,
        "MG_UNKNOWN_KIND",
      );
      continue;
    }

    const meta = obj.metadata;
    if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
      report(["metadata"], "required field is missing or not a mapping (it needs at least a name)", "MG_NOT_A_RESOURCE");
      continue;
    }
    const m = meta as Record<string, unknown>;
    if (typeof m.name !== "string" || m.name === "") {
      report(["metadata", "name"], "required field is missing", "MG_NOT_A_RESOURCE");
      continue;
    }
    const name = m.name;
    const namespace = def.namespaced ? (typeof m.namespace === "string" && m.namespace !== "" ? m.namespace : "default") : "";
    const display = displayName({ kind, namespace, name });
    let bad = false;
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
      report(["metadata", "name"], `"${name}" is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`, "MG_SCHEMA", display);
      bad = true;
    }
    if (def.namespaced && typeof m.namespace === "string" && !DNS_LABEL.test(m.namespace)) {
      report(["metadata", "namespace"], `"${m.namespace}" is not a valid namespace name (RFC 1123 label)`, "MG_SCHEMA", display);
      bad = true;
    }
    if (!def.namespaced && m.namespace !== undefined) {
      problems.push({
        code: "MG_INVALID_VALUE",
        severity: "warning",
        blocking: false,
        message: `${kind} is cluster-scoped; metadata.namespace is ignored`,
        position: doc.locate(["metadata", "namespace"]),
        resource: display,
        path: ["metadata", "namespace"],
      });
    }

    const violations = [...describeSchemaErrors(def.validate(obj), obj), ...findUnknownFields(apiVersion, kind, obj)];
    for (const v of violations) report(v.path, v.message, "MG_SCHEMA", display);
    if (violations.length > 0 || bad) continue;

    const resource: AnyResource = {
      apiVersion,
      group: def.group,
      kind: def.kind,
      name,
      namespace,
      labels: (m.labels as Record<string, string> | undefined) ?? {},
      annotations: (m.annotations as Record<string, string> | undefined) ?? {},
      spec: obj.spec ?? {},
      object: obj,
      source: doc,
    };

    const ruleViolations = checkApiRules(resource);
    for (const v of ruleViolations) report(v.path, v.message, "MG_INVALID_VALUE", display);
    if (ruleViolations.length > 0) continue;

    // ReferenceGrant v1 and v1beta1 are one kind: the same name in both is a duplicate.
    const key = objectKey(def.kind, namespace, name);
    const prior = firstSeen.get(key);
    if (prior) {
      const where = prior.source.position;
      report(["metadata", "name"], `${display} is defined twice; first definition at ${where.file}:${where.line}:${where.column}`, "MG_DUPLICATE_RESOURCE", display);
      continue;
    }
    firstSeen.set(key, resource);
    resources.push(resource);
  }
  return { resources, problems };
}
