// Multi-document YAML with source positions. Every document keeps its parsed node tree so
// a field path found later (by schema validation or reference resolution) can be turned
// back into file:line:column.

import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from "yaml";
import type { FieldPath, SourcePosition } from "./source-position.js";

export interface YamlSyntaxIssue {
  readonly position: SourcePosition;
  readonly message: string;
}

export interface SourceDocument {
  readonly file: string;
  /** 0-based index of the document within its file. */
  readonly index: number;
  readonly position: SourcePosition;
  /** The document as plain data (null for an empty document). */
  readonly value: unknown;
  /** Position of the field at `path`, or of its nearest existing ancestor. */
  locate(path: FieldPath): SourcePosition;
}

export interface ParsedYamlFile {
  readonly file: string;
  readonly documents: SourceDocument[];
  readonly issues: YamlSyntaxIssue[];
}

// Anchors and aliases are allowed, but a "billion laughs" document must not exhaust memory.
const MAX_ALIAS_COUNT = 1000;

export function parseYamlFile(file: string, text: string): ParsedYamlFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const documents: SourceDocument[] = [];
  const issues: YamlSyntaxIssue[] = [];
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, line, column: col };
  };

  // A stream that is not YAML at all comes back as an EmptyStream with errors.
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    for (const e of (docs as { errors?: { pos: [number, number]; message: string }[] }).errors ?? []) {
      issues.push({ position: at(e.pos[0]), message: firstLine(e.message) });
    }
  }
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) issues.push({ position: at(e.pos[0]), message: firstLine(e.message) });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      issues.push({ position: at(doc.range[0]), message: firstLine((e as Error).message) });
      return;
    }
    if (value === null || value === undefined) return; // empty document between separators
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    documents.push({
      file,
      index,
      position: at(start),
      value,
      locate: (path) => at(offsetOf(doc, path) ?? start),
    });
  });
  return { file, documents, issues };
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

/** Offset of the key (for map entries) or item (for sequences) at `path`. */
function offsetOf(doc: Document, path: FieldPath): number | undefined {
  let node: Node | null | undefined = doc.contents as Node | null;
  let best: number | undefined = node?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      const keyNode = pair.key as Node;
      best = keyNode.range?.[0] ?? best;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) return best;
      best = item.range?.[0] ?? best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}
