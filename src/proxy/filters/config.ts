// What only HTTP filter configs carry, read with the proxy's strict config reader (an
// unknown field is refused by name, so an unsupported setting is NACKed, never ignored).

import { num, object, str, type ConfigPath } from "../config-reader.js";
import type { EnvoyResource } from "../contracts.js";

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/**
 * A RuntimeFractionalPercent as a probability in [0, 1]. There is no runtime here, so the
 * default value is what applies. Absent: `absent` (Envoy's default differs per field).
 */
export function fractionalPercent(value: unknown, where: ConfigPath, absent: number): number {
  if (value === undefined) return absent;
  const o = object(value, where, ["defaultValue", "runtimeKey"]);
  if (o.defaultValue === undefined) return 0;
  const d = object(o.defaultValue, where.at("defaultValue"), ["numerator", "denominator"]);
  const denominator = DENOMINATORS[str(d.denominator, where.at("defaultValue.denominator"), "HUNDRED")];
  if (!denominator) return where.at("defaultValue.denominator").fail(`unknown denominator ${String(d.denominator)}`);
  return Math.min(1, num(d.numerator, where.at("defaultValue.numerator"), 0) / denominator);
}

/** Per-route configs may arrive wrapped in a FilterConfig (optional filters): unwrap. */
export function unwrapFilterConfig(config: EnvoyResource | undefined): EnvoyResource | undefined {
  if (config && config["@type"] === "type.googleapis.com/envoy.config.route.v3.FilterConfig") return config.config as EnvoyResource | undefined;
  return config;
}
