// Node flags for the processes that serve traffic: gateway workers and sidecar proxies.
// Kept apart from the proxy runtime so that `meshgate up`, which spawns the sidecars, does
// not load the data plane to compute them.

/** The young generation's semi-space, in MB. */
export const SERVING_SEMI_SPACE_MB = 2;

/**
 * A serving process's V8 flags: the parent's, plus a 2 MB young-generation semi-space
 * unless one is given. With Node's default (up to 16 MB per semi-space) a busy gateway
 * worker's RSS grew to 111 MB; with 4 MB to 80 MB, with 2 MB to 74 MB, each time for the
 * same instructions per request (docs/benchmarks.md).
 */
export function servingProcessExecArgv(parent: readonly string[]): string[] {
  return parent.some((a) => a.startsWith("--max-semi-space-size")) ? [...parent] : [...parent, `--max-semi-space-size=${SERVING_SEMI_SPACE_MB}`];
}
