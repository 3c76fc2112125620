// Typed errors with stable codes, so callers (and scripts reading `--output json`)
// can switch on `err.code` instead of matching message text. docs/errors.md lists every
// code; a test keeps that page in sync with this file.

export type ErrorCode =
  // configuration sources
  | "ERR_CONFIG_PATH_NOT_FOUND"
  | "ERR_CONFIG_READ"
  // command line
  | "ERR_USAGE";

export class MeshgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A path given with --config does not exist. */
export class ConfigPathNotFoundError extends MeshgateError {
  constructor(readonly path: string) {
    super("ERR_CONFIG_PATH_NOT_FOUND", `configuration path not found: ${path}`);
  }
}

/** A configuration file exists but cannot be read. */
export class ConfigReadError extends MeshgateError {
  constructor(readonly path: string, cause: unknown) {
    super("ERR_CONFIG_READ", `cannot read ${path}: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

/** The command line itself is wrong (exit code 2). */
export class UsageError extends MeshgateError {
  constructor(message: string) {
    super("ERR_USAGE", message);
  }
}
