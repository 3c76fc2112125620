export { loadSources, listConfigFiles, ParseCache, type LoadedSources } from "./load-sources.js";
export { formatProblem, hasBlocking, hasErrors, sortProblems, type Problem, type Severity } from "./problem.js";
export { PROBLEM_CODES, type ProblemCode } from "./problem-codes.js";
export { parseYamlFile, type SourceDocument } from "./yaml-documents.js";
export { formatFieldPath, type FieldPath, type SourcePosition } from "./source-position.js";
