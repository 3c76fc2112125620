// Reads the configuration paths given with --config: files, or directories walked
// recursively for *.yaml / *.yml, in a stable (sorted) order so results never depend on
// the file system's listing order.

import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ConfigPathNotFoundError, ConfigReadError } from "../errors.js";
import type { Problem } from "./problem.js";
import { parseYamlFile, type ParsedYamlFile, type SourceDocument } from "./yaml-documents.js";

export interface LoadedSources {
  readonly files: string[];
  readonly documents: SourceDocument[];
  readonly problems: Problem[];
}

const YAML_FILE = /\.ya?ml$/i;

/** Every YAML file under the given paths. Throws ConfigPathNotFoundError for a missing path. */
export async function listConfigFiles(paths: readonly string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    let st;
    try {
      st = await stat(abs);
    } catch {
      throw new ConfigPathNotFoundError(p);
    }
    if (st.isDirectory()) for (const f of await walk(abs)) files.add(f);
    else files.add(abs);
  }
  return [...files].sort();
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith(".")) continue; // editor swap files, .git
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (e.isFile() && YAML_FILE.test(e.name)) out.push(full);
  }
  return out;
}

/**
 * Parsed files kept between loads by a long-running process: a file whose text is
 * unchanged is not parsed again (parsing dominates a reload of a large configuration
 * in which one file changed). Entries of files no longer listed are dropped.
 */
export class ParseCache {
  readonly #files = new Map<string, { text: string; parsed: ParsedYamlFile }>();
  /** Files parsed (not taken from the cache) by the last load. */
  parsed = 0;

  get(file: string, text: string): ParsedYamlFile {
    const hit = this.#files.get(file);
    if (hit && hit.text === text) return hit.parsed;
    const parsed = parseYamlFile(file, text);
    // Shared between loads: nothing downstream may change a document.
    for (const d of parsed.documents) deepFreeze(d.value);
    this.#files.set(file, { text, parsed });
    this.parsed++;
    return parsed;
  }

  retain(files: readonly string[]): void {
    const keep = new Set(files);
    for (const f of this.#files.keys()) if (!keep.has(f)) this.#files.delete(f);
    this.parsed = 0;
  }
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== "object" || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}

export async function loadSources(paths: readonly string[], cache?: ParseCache): Promise<LoadedSources> {
  const files = await listConfigFiles(paths);
  cache?.retain(files);
  const documents: SourceDocument[] = [];
  const problems: Problem[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw new ConfigReadError(file, e);
    }
    const parsed = cache ? cache.get(file, text) : parseYamlFile(file, text);
    documents.push(...parsed.documents);
    for (const issue of parsed.issues) {
      problems.push({
        code: "MG_YAML_SYNTAX",
        severity: "error",
        blocking: true,
        message: issue.message,
        position: issue.position,
      });
    }
  }
  return { files, documents, problems };
}
