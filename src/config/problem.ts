// A problem found in the configuration: what, where (file:line:column, resource, field
// path) and how bad. Every stage reports problems instead of throwing, so one run shows
// all of them at once.

import { formatFieldPath, type FieldPath, type SourcePosition } from "./source-position.js";
import type { ProblemCode } from "./problem-codes.js";

export type Severity = "error" | "warning" | "info";

export interface Problem {
  readonly code: ProblemCode;
  readonly severity: Severity;
  /**
   * A blocking problem makes the whole configuration unusable (it does not parse, does
   * not match its schema, names an unknown kind, or repeats a resource). A running
   * process keeps its last good configuration instead. Non-blocking errors (a dangling
   * reference, a conflicting listener) are reported and the resource carries them in
   * its status, as a Kubernetes controller would.
   */
  readonly blocking: boolean;
  readonly message: string;
  readonly position?: SourcePosition;
  /** `HTTPRoute default/reviews` */
  readonly resource?: string;
  readonly path?: FieldPath;
}

/** `file:line:col: error: HTTPRoute default/reviews: spec.rules[0]...: message [CODE]` */
export function formatProblem(p: Problem, cwd?: string): string {
  const parts: string[] = [];
  if (p.position) parts.push(`${relative(p.position.file, cwd)}:${p.position.line}:${p.position.column}`);
  parts.push(p.severity);
  if (p.resource) parts.push(p.resource);
  if (p.path && p.path.length > 0) parts.push(formatFieldPath(p.path));
  return `${parts.join(": ")}: ${p.message} [${p.code}]`;
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === "error");
}

export function hasBlocking(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.blocking);
}

/** Stable order: by file, line, column, then message. */
export function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => {
    const fa = a.position?.file ?? "", fb = b.position?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    const la = a.position?.line ?? 0, lb = b.position?.line ?? 0;
    if (la !== lb) return la - lb;
    const ca = a.position?.column ?? 0, cb = b.position?.column ?? 0;
    if (ca !== cb) return ca - cb;
    return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
  });
}

function relative(file: string, cwd?: string): string {
  if (cwd && file.startsWith(cwd + "/")) return file.slice(cwd.length + 1);
  return file;
}
