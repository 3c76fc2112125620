// Lookup of decoded resources by kind, namespace and name.

import type { KindName } from "./kinds.js";
import { objectKey, type AnyResource } from "./resource.js";

export class ResourceIndex {
  readonly #byKey = new Map<string, AnyResource>();
  readonly #byKind = new Map<KindName, AnyResource[]>();

  constructor(resources: readonly AnyResource[]) {
    for (const r of resources) {
      this.#byKey.set(objectKey(r.kind, r.namespace, r.name), r);
      let list = this.#byKind.get(r.kind);
      if (!list) this.#byKind.set(r.kind, (list = []));
      list.push(r);
    }
  }

  get<S = any>(kind: KindName, namespace: string, name: string): AnyResource & { spec: S } | undefined { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.#byKey.get(objectKey(kind, namespace, name));
  }

  list(kind: KindName): readonly AnyResource[] {
    return this.#byKind.get(kind) ?? [];
  }

  /** Labels of a namespace; an undeclared namespace has only the well-known name label. */
  namespaceLabels(namespace: string): Record<string, string> {
    const ns = this.get("Namespace", "", namespace);
    return { ...(ns?.labels ?? {}), "kubernetes.io/metadata.name": namespace };
  }

  get size(): number {
    return this.#byKey.size;
  }
}
