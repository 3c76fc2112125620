// Every HTTP filter chain, per-route filter config and route rate limit the translator
// emits (test/golden/xds/*.out.yaml, the decoded resources) compiles in the proxy.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { checkRouteFilterConfig, checkRouteRateLimits, compileHttpFilters } from "../../../src/proxy/filters/index.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const DIR = join(import.meta.dirname, "../../golden/xds");

function walk(v: Obj, visit: (key: string, value: Obj, where: string) => void, where = ""): void {
  if (Array.isArray(v)) v.forEach((x, i) => walk(x, visit, `${where}[${i}]`));
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      visit(k, x, `${where}.${k}`);
      walk(x, visit, `${where}.${k}`);
    }
  }
}

test("the proxy compiles every filter shape in the xDS golden files", () => {
  const seen = { chains: 0, filters: new Set<string>(), perRoute: 0, rateLimits: 0 };
  for (const file of readdirSync(DIR).filter((f) => f.endsWith(".out.yaml"))) {
    const doc = parse(readFileSync(join(DIR, file), "utf8"));
    walk(doc, (key, value, where) => {
      const at = `${file}${where}`;
      if (key === "httpFilters") {
        const filters = compileHttpFilters(value);
        seen.chains++;
        for (const f of filters) seen.filters.add(f.name.replace(/\.(audit|deny|allow)$/, ""));
        for (const f of filters) f.close?.();
        assert.equal(filters.length, value.length - 1, `${at}: one filter per entry but the router`);
      } else if (key === "typedPerFilterConfig") {
        for (const [name, config] of Object.entries(value as Obj)) {
          assert.doesNotThrow(() => checkRouteFilterConfig(name, config as Obj), `${at}.${name}`);
          seen.perRoute++;
        }
      } else if (key === "rateLimits") {
        assert.doesNotThrow(() => checkRouteRateLimits(value, at), at);
        seen.rateLimits++;
      }
    });
  }
  assert.deepEqual([...seen.filters].sort(), ["envoy.filters.http.jwt_authn", "envoy.filters.http.local_ratelimit", "envoy.filters.http.ratelimit", "envoy.filters.http.rbac"]);
  assert.ok(seen.chains > 20 && seen.perRoute > 0 && seen.rateLimits > 0, JSON.stringify({ ...seen, filters: [...seen.filters] }));
});
