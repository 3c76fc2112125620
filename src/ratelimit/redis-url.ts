// The Redis URL the rate limit service counts in (`meshgate up --redis`): checked before
// anything starts, so a typo fails at once instead of as an endless reconnect loop that
// leaves every global limit unenforced. Also the form that may be shown to people: the
// password never appears in a log line, a status line or /config_dump.

import { RateLimitRedisUrlError } from "../errors.js";

export interface RedisUrl {
  /** As given: what the Redis client connects with. */
  readonly url: string;
  /** The URL with its password replaced by `***`: safe for logs and status pages. */
  readonly redacted: string;
}

/**
 * Accepts `redis://[[user]:password@]host[:port][/db]` and `rediss://` (TLS). Query
 * options are refused: the client would take them as connection options and could
 * override the timeouts that make the service fail open quickly.
 */
export function parseRedisUrl(value: string): RedisUrl {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    // Not even a URL: say what was expected without echoing it (it may hold a password).
    throw new RateLimitRedisUrlError("expected redis://[:password@]HOST[:PORT][/DB] or rediss://...");
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new RateLimitRedisUrlError(`the scheme must be redis:// or rediss:// (TLS), got ${u.protocol}//`);
  if (u.hostname === "") throw new RateLimitRedisUrlError("the URL has no host");
  if (u.pathname !== "" && u.pathname !== "/" && !/^\/\d+$/.test(u.pathname)) throw new RateLimitRedisUrlError("the path must be a database number (e.g. /0)");
  if (u.search !== "" || u.hash !== "") throw new RateLimitRedisUrlError("query options and fragments are not supported");
  return { url: value, redacted: redact(u) };
}

function redact(u: URL): string {
  const auth = u.username || u.password ? `${u.username}${u.password ? ":***" : ""}@` : "";
  return `${u.protocol}//${auth}${u.host}${u.pathname === "/" ? "" : u.pathname}`;
}
