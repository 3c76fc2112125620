// Encoded resources, kept across builds. A resource is keyed by its kind, name and a
// hash of the input it was built from; a build that meets the same input again gets the
// very same EncodedResource object back (no conversion, no encoding), so after a small
// configuration change only what changed is re-encoded, and unchanged resources keep
// their identity (the ADS server can compare objects, not bytes).
//
// Generations: every build is one; entries not used by the current or the previous build
// are dropped when a build ends, so the cache holds at most two configurations.

import { createHash } from "node:crypto";
import { encodeResource, TYPE_URLS, type ResourceKind } from "../envoy-protos.js";
import type { EncodedResource } from "../snapshot.js";
import type { Json } from "./common.js";

interface Entry {
  readonly resource: EncodedResource;
  generation: number;
}

export interface EncodeStats {
  /** Resources converted and encoded in the last build. */
  encoded: number;
  /** Resources found in the cache in the last build. */
  reused: number;
}

/** sha256, base64url, 16 characters: short, and collisions are not a practical concern. */
export function contentHash(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("base64url").slice(0, 16);
}

export class EncodeCache {
  private readonly entries = new Map<string, Entry>();
  private generation = 0;
  stats: EncodeStats = { encoded: 0, reused: 0 };

  beginBuild(): void {
    this.generation++;
    this.stats = { encoded: 0, reused: 0 };
  }

  endBuild(): void {
    for (const [key, entry] of this.entries) if (entry.generation < this.generation - 1) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The encoded resource for `input` (any JSON-serialisable value that fully determines
   * the resource); `build` runs only on a miss.
   */
  get(kind: ResourceKind, name: string, input: unknown, build: () => Json): EncodedResource {
    const key = `${kind}\u0000${name}\u0000${contentHash(JSON.stringify(input))}`;
    const hit = this.entries.get(key);
    if (hit) {
      hit.generation = this.generation;
      this.stats.reused++;
      return hit.resource;
    }
    const typeUrl = TYPE_URLS[kind];
    const value = encodeResource(typeUrl, build());
    const resource: EncodedResource = Object.freeze({ name, version: contentHash(value), typeUrl, value });
    this.entries.set(key, { resource, generation: this.generation });
    this.stats.encoded++;
    return resource;
  }
}
