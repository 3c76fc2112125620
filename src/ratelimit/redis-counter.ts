// Fixed-window counters in Redis, shared by every rate limit service instance: one key per
// domain, descriptor (with the request's values) and window, incremented and given its
// expiry in one Lua script, so concurrent services never lose a hit or leave a key behind.

import { Redis, type RedisOptions } from "ioredis";

const SCRIPT = `
local out = {}
local hits = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local n = redis.call('INCRBY', key, hits)
  if n == hits then redis.call('PEXPIRE', key, ARGV[i + 1]) end
  out[i] = n
end
return out`;

export interface CounterHit {
  readonly key: string;
  /** Expiry of a new key, ms (the rest of the window plus a margin). */
  readonly ttlMs: number;
}

type WithCount = Redis & { meshgateCount(numKeys: number, ...args: (string | number)[]): Promise<number[]> };

export class RedisCounter {
  readonly redis: WithCount;

  constructor(options: string | RedisOptions, timeoutMs: number) {
    const base: RedisOptions = {
      // Fail fast while Redis is away (the service then fails open) instead of queueing
      // hits for a reconnect that may come after the proxies gave up waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    };
    this.redis = (typeof options === "string" ? new Redis(options, base) : new Redis({ ...base, ...options })) as WithCount;
    this.redis.defineCommand("meshgateCount", { lua: SCRIPT });
  }

  /** Adds `hits` to each key; returns the counts after adding. */
  async add(keys: readonly CounterHit[], hits: number): Promise<number[]> {
    if (keys.length === 0) return [];
    return this.redis.meshgateCount(keys.length, ...keys.map((k) => k.key), hits, ...keys.map((k) => Math.ceil(k.ttlMs)));
  }

  close(): Promise<void> {
    return this.redis.quit().then(
      () => undefined,
      () => this.redis.disconnect(),
    );
  }
}
