export { translate, type TranslateOptions } from "./translate.js";
export { DEFAULT_RATE_LIMIT_SERVICE, RATE_LIMIT_CLUSTER, type RateLimitServiceAddress } from "./rate-limit-service.js";
export { servedGateways } from "./gateway-listeners.js";
