// Global rate limits in `meshgate up`: with a Redis URL, the rate limit service runs here,
// on the address the proxies are told to call (`--ratelimit-service`), and enforces the
// limits compiled from the configuration in force, swapped on every change the control
// plane accepts (a rejected change leaves the last good limits). Without Redis nothing
// counts global limits: the proxies' calls fail and requests pass (fail open), so each
// policy with global limits is named once in a warning that says how to enforce them.

import { parseRedisUrl, RateLimitService, type RedisUrl } from "../ratelimit/index.js";
import type { Logger } from "../telemetry/logger.js";
import type { RateLimitServiceDomain } from "../xds/rate-limit-service-config.js";
import type { Address } from "./control-plane.js";

export interface GlobalRateLimitsOptions {
  /** Where the proxies call the service; it listens there when it runs. */
  readonly address: Address;
  /** Where the counters live; absent: the service does not run and global limits are not enforced. */
  readonly redisUrl?: string;
  readonly logger: Logger;
}

/** What `/config_dump` shows under `rateLimitService`. */
export interface GlobalRateLimitsStatus {
  /** The service runs in this process (the limits are enforced while Redis answers). */
  readonly running: boolean;
  readonly address: string;
  /** The Redis URL without its password. */
  readonly redis?: string;
  /** Redis answers; false while the service fails open. */
  readonly redisReady?: boolean;
  /** Domains (BackendTrafficPolicies `<namespace>/<name>`) with global limits in the configuration in force. */
  readonly policies: readonly string[];
  readonly note?: string;
}

const HOW_TO_ENFORCE = "start meshgate up with --redis redis://HOST:PORT (or set MESHGATE_REDIS_URL) to run the rate limit service";

export class GlobalRateLimits {
  readonly #log: Logger;
  readonly #address: string;
  readonly #redis: RedisUrl | undefined;
  #service: RateLimitService | undefined;
  #policies: readonly string[] = [];
  #config = "[]";
  /** Policies already named in the "not enforced" warning (forgotten when they go away). */
  #warned = new Set<string>();

  private constructor(options: GlobalRateLimitsOptions, redis: RedisUrl | undefined) {
    this.#log = options.logger;
    const { host, port } = options.address;
    this.#address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
    this.#redis = redis;
  }

  /**
   * Checks the Redis URL (ERR_RATELIMIT_REDIS_URL) and, when there is one, starts the
   * service on its address (ERR_RATELIMIT_LISTEN). Redis need not be up yet: until it
   * answers, the service fails open.
   */
  static async start(options: GlobalRateLimitsOptions): Promise<GlobalRateLimits> {
    const redis = options.redisUrl !== undefined ? parseRedisUrl(options.redisUrl) : undefined;
    const g = new GlobalRateLimits(options, redis);
    if (!redis) return g;
    const log = options.logger.child({ component: "ratelimit" });
    const service = new RateLimitService({ redis: redis.url, logger: log });
    try {
      await service.listen(g.#address);
    } catch (e) {
      await service.close();
      throw e;
    }
    g.#service = service;
    options.logger.info({ address: g.#address, redis: redis.redacted }, "rate limit service listening; global rate limits are counted in Redis");
    void service.ready().then(() => {
      if (g.#service === service) log.info({ redis: redis.redacted }, "rate limit service connected to Redis");
    });
    return g;
  }

  get running(): boolean {
    return this.#service !== undefined;
  }

  /** The limits of the configuration now in force (call before the proxies get it). */
  update(config: readonly RateLimitServiceDomain[]): void {
    this.#policies = config.map((d) => d.domain);
    const text = JSON.stringify(config);
    const changed = text !== this.#config;
    this.#config = text;
    if (this.#service) {
      if (!changed) return;
      this.#service.update(config);
      this.#log.info({ policies: this.#policies }, "rate limit service limits updated");
      return;
    }
    const fresh = this.#policies.filter((p) => !this.#warned.has(p));
    this.#warned = new Set(this.#policies);
    if (fresh.length === 0) return;
    this.#log.warn(
      { policies: fresh },
      `global rate limits are NOT enforced: no Redis is configured, so no rate limit service runs and requests pass (fail open); ${HOW_TO_ENFORCE}`,
    );
  }

  status(): GlobalRateLimitsStatus {
    if (this.#service && this.#redis) return { running: true, address: this.#address, redis: this.#redis.redacted, redisReady: this.#service.redisReady, policies: this.#policies };
    return { running: false, address: this.#address, policies: this.#policies, note: `global rate limits are not enforced (requests pass); ${HOW_TO_ENFORCE}` };
  }

  /** One line for the start-up banner. */
  describe(): string {
    if (this.#redis) return `Global rate limits: rate limit service on ${this.#address}, counters in ${this.#redis.redacted}`;
    return "Global rate limits: not enforced (no --redis given; requests pass)";
  }

  async close(): Promise<void> {
    const s = this.#service;
    this.#service = undefined;
    await s?.close();
  }
}
