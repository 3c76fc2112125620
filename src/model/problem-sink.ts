// Collects problems found while building the model, each tied to a resource and field.

import type { Problem, Severity } from "../config/problem.js";
import type { ProblemCode } from "../config/problem-codes.js";
import type { FieldPath } from "../config/source-position.js";
import { displayName, type AnyResource } from "./resource.js";

export class ProblemSink {
  readonly problems: Problem[] = [];

  report(severity: Severity, code: ProblemCode, r: AnyResource, path: FieldPath, message: string, blocking = false): void {
    this.problems.push({
      code,
      severity,
      blocking,
      message,
      position: r.source.locate(path),
      resource: displayName(r),
      path,
    });
  }

  error(code: ProblemCode, r: AnyResource, path: FieldPath, message: string): void {
    this.report("error", code, r, path, message);
  }

  warning(code: ProblemCode, r: AnyResource, path: FieldPath, message: string): void {
    this.report("warning", code, r, path, message);
  }

  info(code: ProblemCode, r: AnyResource, path: FieldPath, message: string): void {
    this.report("info", code, r, path, message);
  }
}
