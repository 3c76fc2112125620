// Option parsers shared by the `pki` and `trust` commands.

import { existsSync } from "node:fs";
import { UsageError } from "../errors.js";
import { readPassphrase } from "../pki/index.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };

/** "90s", "30m", "24h", "365d", "10y" -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d|y)$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid duration ${JSON.stringify(text)} (use e.g. 30m, 24h, 90d, 10y)`);
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms <= 0) throw new UsageError(`duration must be positive: ${text}`);
  return ms;
}

export interface PassphraseOptions {
  passphraseEnv?: string;
  passphraseFile?: string;
}

export function passphraseFrom(opts: PassphraseOptions): string | undefined {
  return readPassphrase({ env: opts.passphraseEnv, file: opts.passphraseFile });
}

export function mustExist(path: string, what: string): string {
  if (!existsSync(path)) throw new UsageError(`${what} not found: ${path}`);
  return path;
}
