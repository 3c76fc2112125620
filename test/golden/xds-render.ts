// Renders a SnapshotSet as YAML for golden files: per node (the `*` fallback included),
// per resource kind, every resource decoded with its keys sorted. Secrets' key material
// and CA PEM are redacted (SVIDs and test CAs are fresh on every run), and so are their
// versions, which hash that material.

import { stringify } from "yaml";
import { decodeResource } from "../../src/xds/envoy-protos.js";
import type { NodeSnapshot, SnapshotSet } from "../../src/xds/snapshot.js";

const KINDS = ["listener", "route", "cluster", "endpoint", "secret"] as const;

export function renderSnapshotSet(set: SnapshotSet): string {
  const nodes: Record<string, unknown> = {};
  for (const id of [...set.nodes.keys()].sort()) nodes[id] = renderNode(set.nodes.get(id)!);
  nodes["*"] = renderNode(set.fallback);
  return stringify({ version: set.version, nodes }, { lineWidth: 0, sortMapEntries: true });
}

function renderNode(node: NodeSnapshot): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const resources = node.resources[kind];
    if (resources.size === 0) continue;
    const byName: Record<string, unknown> = {};
    for (const name of [...resources.keys()].sort()) {
      const r = resources.get(name)!;
      const value = decodeResource(r.typeUrl, r.value);
      byName[name] = kind === "secret" ? { version: "<redacted>", value: redact(value) } : { version: r.version, value };
    }
    out[kind] = byName;
  }
  return out;
}

/** Every inline string in a secret is key or certificate material. */
function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "inlineString" ? `<redacted ${pemKind(String(x))}>` : redact(x)]));
  return v;
}

function pemKind(s: string): string {
  const labels = [...s.matchAll(/-----BEGIN ([A-Z ]+)-----/g)].map((m) => m[1]!);
  return labels.length > 0 ? labels.join(", ") : `${s.length} characters`;
}
