// What the bench configuration generators (bench/gateway/gateway-config.ts,
// bench/mesh/mesh-config.ts) share: YAML files of several documents, writing them, and
// port arguments.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

export type Doc = Record<string, unknown>;

/** Documents as one multi-document YAML file. */
export function yamlFile(docs: readonly Doc[]): string {
  return docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}

/** Writes `files` (name -> text) into `dir`; returns their paths. */
export function writeConfigFiles(dir: string, files: Record<string, string>): string[] {
  mkdirSync(dir, { recursive: true });
  return Object.entries(files).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
}

/** A `--flag` value that must be a port number. */
export function portArg(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${flag} must be a port number, got "${v ?? ""}"`);
  return n;
}
