// What `meshgate validate` prints: problems first (the part people act on), then each
// resource's status as a table. Pure functions of the result, so golden tests pin them.

import { relative } from "node:path";
import { stringify } from "yaml";
import { formatFieldPath, formatProblem, hasErrors, type Problem } from "../config/index.js";
import type { Condition, ModelResult } from "../model/index.js";

export interface ValidationReport {
  readonly valid: boolean;
  readonly usable: boolean;
  readonly files: string[];
  readonly summary: { errors: number; warnings: number; resources: number };
  readonly problems: (Omit<Problem, "position" | "path"> & { file?: string; line?: number; column?: number; path?: string })[];
  readonly resources: ModelResult["model"]["statuses"];
}

export function buildReport(result: ModelResult, files: readonly string[], cwd: string): ValidationReport {
  return {
    valid: !hasErrors(result.problems),
    usable: result.usable,
    files: files.map((f) => rel(f, cwd)),
    summary: {
      errors: result.problems.filter((p) => p.severity === "error").length,
      warnings: result.problems.filter((p) => p.severity === "warning").length,
      resources: result.model.index.size,
    },
    problems: result.problems.map((p) => {
      const { position, path, ...rest } = p;
      return {
        ...rest,
        ...(position ? { file: rel(position.file, cwd), line: position.line, column: position.column } : {}),
        ...(path && path.length > 0 ? { path: formatFieldPath(path) } : {}),
      };
    }),
    resources: result.model.statuses,
  };
}

export function renderJson(report: ValidationReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

export function renderYaml(report: ValidationReport): string {
  return stringify(report, { lineWidth: 0 });
}

export function renderText(result: ModelResult, files: readonly string[], cwd: string): string {
  const lines: string[] = [];
  const errors = result.problems.filter((p) => p.severity === "error").length;
  const warnings = result.problems.filter((p) => p.severity === "warning").length;
  if (result.problems.length > 0) {
    lines.push(`Problems (${plural(errors, "error")}, ${plural(warnings, "warning")}):`);
    for (const p of result.problems) lines.push(`  ${formatProblem(p, cwd)}`);
    lines.push("");
  }
  const rows: string[][] = [];
  for (const s of result.model.statuses) {
    const name = s.namespace ? `${s.namespace}/${s.name}` : s.name;
    const st = s.status as { conditions?: Condition[]; listeners?: { name: string; attachedRoutes: number; conditions: Condition[] }[]; parents?: { parentRef: { kind: string; namespace: string; name: string; sectionName?: string; port?: number }; conditions: Condition[] }[] };
    if (st.parents) {
      if (st.parents.length === 0) rows.push([s.kind, name, "(no parents)"]);
      st.parents.forEach((p, i) => {
        const ref = p.parentRef;
        const parent = `${ref.kind} ${ref.namespace}/${ref.name}${ref.sectionName ? `/${ref.sectionName}` : ""}${ref.port ? `:${ref.port}` : ""}`;
        rows.push([i === 0 ? s.kind : "", i === 0 ? name : "", `${parent}: ${summarize(p.conditions)}`]);
      });
      continue;
    }
    rows.push([s.kind, name, summarize(st.conditions ?? [])]);
    for (const l of st.listeners ?? []) rows.push(["", `  listener ${l.name}`, `${plural(l.attachedRoutes, "route")}; ${summarize(l.conditions)}`]);
  }
  if (rows.length > 0) {
    lines.push("Resources:");
    lines.push(...table([["KIND", "NAME", "STATUS"], ...rows]).map((l) => `  ${l}`));
    lines.push("");
  }
  const verdict = errors > 0 ? "INVALID" : "valid";
  lines.push(`${plural(result.model.index.size, "resource")} in ${plural(files.length, "file")}: ${verdict}${errors > 0 ? ` (${plural(errors, "error")})` : ""}`);
  return lines.join("\n") + "\n";
}

/** `Accepted, ResolvedRefs=False (BackendNotFound: Service x is not defined)` */
export function summarize(conditions: readonly Condition[]): string {
  return conditions
    .filter((c) => !(c.type === "Conflicted" && c.status === "False"))
    .map((c) => {
      if (c.status === "True" && c.type !== "Conflicted") return c.type;
      return `${c.type}=${c.status} (${c.reason}${c.message ? `: ${c.message}` : ""})`;
    })
    .join(", ");
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd());
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function rel(file: string, cwd: string): string {
  const r = relative(cwd, file);
  return r.startsWith("..") ? file : r;
}
