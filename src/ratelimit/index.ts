// The rate limit service (global rate limits): see service.ts.
export { RateLimitService, type RateLimitServiceOptions } from "./service.js";
export { Limits, type Limit } from "./limits.js";
export { parseRedisUrl, type RedisUrl } from "./redis-url.js";
