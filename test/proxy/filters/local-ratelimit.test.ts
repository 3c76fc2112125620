// Local rate limits: BackendTrafficPolicy (type Local) through the translator to the
// route's per-filter token buckets, counted by the proxy's local_ratelimit filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { checkRouteFilterConfig, compileHttpFilters, LOCAL_RATE_LIMITED_BODY } from "../../../src/proxy/filters/index.js";
import { ProxyFilterUnsupportedError } from "../../../src/errors.js";
import { GATEWAY_CLASS } from "../../helpers/model.js";
import { ctxOf, run, type RequestSpec } from "./helpers.js";
import { xdsOf } from "./helpers.js";

type Obj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const HUNDRED = { defaultValue: { numerator: 100, denominator: "HUNDRED" }, runtimeKey: "k" };

const config = (rules: string) => `${GATEWAY_CLASS}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 8080, protocol: HTTP }]
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: infra }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: infra }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: limits, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: web }]
  rateLimit:
    type: Local
    local:
      rules:
${rules}
`;

async function gateway(rules: string) {
  const x = await xdsOf(config(rules));
  const filters = compileHttpFilters(x.httpFilters("gateway~infra~gw", "0.0.0.0_8080"));
  const route = x.route("gateway~infra~gw", "gateway|infra|gw|8080", "httproute/infra/web/rule/0/match/0");
  return { filters, route };
}

async function statuses(filters: Obj, route: Obj, n: number, spec: RequestSpec = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await run(filters, ctxOf({ ...spec, route }));
    out.push(r.action === "respond" ? r.status : 200);
  }
  return out;
}

test("exactly N requests per unit pass, then 429 local_rate_limited", async () => {
  const { filters, route } = await gateway(`        - limit: { requests: 3, unit: Second }`);
  assert.deepEqual(filters.map((f) => f.name), ["envoy.filters.http.local_ratelimit"]);
  const first = await statuses(filters, route, 5);
  assert.deepEqual(first, [200, 200, 200, 429, 429]);
  const r = await run(filters, ctxOf({ route }));
  assert.deepEqual(r, { action: "respond", status: 429, body: LOCAL_RATE_LIMITED_BODY, headers: {} });
  // The decision is synchronous.
  assert.ok(!(filters[0]!.decode(ctxOf({ route })) instanceof Promise));
});

test("buckets refill after their interval", async () => {
  const route = {
    typedPerFilterConfig: {
      "envoy.filters.http.local_ratelimit": {
        "@type": TYPE,
        statPrefix: "s",
        filterEnabled: HUNDRED,
        filterEnforced: HUNDRED,
        tokenBucket: { maxTokens: 2, tokensPerFill: { value: 1 }, fillInterval: { nanos: 100_000_000 } },
      },
    },
  };
  const filters = compileHttpFilters([{ name: "envoy.filters.http.local_ratelimit", typedConfig: { "@type": TYPE, statPrefix: "s" } }, ROUTER]);
  assert.deepEqual(await statuses(filters, route, 3), [200, 200, 429]);
  await new Promise((r) => setTimeout(r, 130));
  assert.deepEqual(await statuses(filters, route, 2), [200, 429], "one token per fill");
  await new Promise((r) => setTimeout(r, 330));
  assert.deepEqual(await statuses(filters, route, 3), [200, 200, 429], "never more than maxTokens");
});

test("a rule with client selectors counts only the requests it selects", async () => {
  const { filters, route } = await gateway(`        - clientSelectors: [{ headers: [{ name: x-tier, value: free }] }]
          limit: { requests: 2, unit: Minute }`);
  assert.deepEqual(await statuses(filters, route, 3, { headers: { "x-tier": "free" } }), [200, 200, 429]);
  assert.deepEqual(await statuses(filters, route, 3, { headers: { "x-tier": "gold" } }), [200, 200, 200]);
  assert.deepEqual(await statuses(filters, route, 3), [200, 200, 200]);
});

test("a source CIDR rule counts its clients in one bucket", async () => {
  const { filters, route } = await gateway(`        - clientSelectors: [{ sourceCIDR: { type: Exact, value: 10.0.0.0/8 } }]
          limit: { requests: 2, unit: Minute }`);
  assert.deepEqual(await statuses(filters, route, 2, { remoteAddress: "10.1.1.1" }), [200, 200]);
  assert.deepEqual(await statuses(filters, route, 1, { remoteAddress: "10.2.2.2" }), [429], "the same bucket for the whole range");
  assert.deepEqual(await statuses(filters, route, 3, { remoteAddress: "11.0.0.1" }), [200, 200, 200]);
});

test("the listener's filter alone limits nothing; a route without per-route config is not limited", async () => {
  const filters = compileHttpFilters([{ name: "envoy.filters.http.local_ratelimit", typedConfig: { "@type": TYPE, statPrefix: "s" } }, ROUTER]);
  assert.deepEqual(await statuses(filters, {}, 5), [200, 200, 200, 200, 200]);
});

test("filterEnforced 0: counted but let through, with the configured request headers", async () => {
  const filters = compileHttpFilters([
    {
      name: "l",
      typedConfig: {
        "@type": TYPE,
        statPrefix: "s",
        filterEnabled: HUNDRED,
        tokenBucket: { maxTokens: 1, fillInterval: { seconds: 60 } },
        requestHeadersToAddWhenNotEnforced: [{ header: { key: "x-local-rate-limit", value: "true" } }],
      },
    },
    ROUTER,
  ]);
  const a = ctxOf();
  const b = ctxOf();
  assert.deepEqual(filters[0]!.decode(a), { action: "continue" });
  assert.deepEqual(filters[0]!.decode(b), { action: "continue" });
  assert.equal(a.headers["x-local-rate-limit"], undefined);
  assert.equal(b.headers["x-local-rate-limit"], "true");
});

test("x-ratelimit headers, response headers and status when configured; gRPC gets RESOURCE_EXHAUSTED when asked", async () => {
  const filters = compileHttpFilters([
    {
      name: "l",
      typedConfig: {
        "@type": TYPE,
        statPrefix: "s",
        filterEnabled: HUNDRED,
        filterEnforced: HUNDRED,
        status: { code: 503 },
        tokenBucket: { maxTokens: 1, tokensPerFill: { value: 1 }, fillInterval: { seconds: 60 } },
        enableXRatelimitHeaders: "DRAFT_VERSION_03",
        responseHeadersToAdd: [{ header: { key: "X-Limited-By", value: "meshgate" } }],
        rateLimitedAsResourceExhausted: true,
      },
    },
    ROUTER,
  ]);
  // Allowed: the quota goes on the response through the context, not as a local reply.
  const allowed = ctxOf();
  assert.deepEqual(await run(filters, allowed), { action: "continue" });
  assert.equal(allowed.responseHeadersToAdd?.["x-ratelimit-limit"], "1");
  assert.equal(allowed.responseHeadersToAdd?.["x-ratelimit-remaining"], "0");
  assert.ok(Number(allowed.responseHeadersToAdd?.["x-ratelimit-reset"]) > 0);
  assert.equal(allowed.responseHeadersToAdd?.["x-limited-by"], undefined, "responseHeadersToAdd is for limited requests only");
  const r = (await run(filters, ctxOf())) as Obj;
  assert.equal(r.status, 503);
  assert.equal(r.headers["x-limited-by"], "meshgate");
  assert.equal(r.headers["x-ratelimit-limit"], "1");
  assert.equal(r.headers["x-ratelimit-remaining"], "0");
  assert.ok(Number(r.headers["x-ratelimit-reset"]) > 0 && Number(r.headers["x-ratelimit-reset"]) <= 60);
  const g = (await run(filters, ctxOf({ headers: { "content-type": "application/grpc" } }))) as Obj;
  assert.equal(g.headers["grpc-status"], "8");
});

test("per-route configs and rate limit actions the proxy cannot honour are refused", () => {
  const refuses = (f: () => unknown, pattern: RegExp) => assert.throws(f, (e: unknown) => e instanceof ProxyFilterUnsupportedError && pattern.test(e.message));
  refuses(
    () => checkRouteFilterConfig("envoy.filters.http.local_ratelimit", { "@type": TYPE, statPrefix: "s", tokenBucket: { maxTokens: 1, fillInterval: { nanos: 1_000_000 } } }),
    /local_ratelimit: tokenBucket\.fillInterval: must be at least 50 ms/,
  );
  refuses(() => checkRouteFilterConfig("envoy.filters.http.local_ratelimit", { "@type": TYPE, statPrefix: "s", localRateLimitPerDownstreamConnection: true }), /localRateLimitPerDownstreamConnection/);
  refuses(() => compileHttpFilters([{ name: "l", typedConfig: { "@type": TYPE, statPrefix: "s", tokenBucket: { maxTokens: 0, fillInterval: { seconds: 1 } } } }, ROUTER]), /maxTokens/);
  const route = { route: { rateLimits: [{ actions: [{ sourceCluster: {} }] }] } };
  const filters = compileHttpFilters([{ name: "l", typedConfig: { "@type": TYPE, statPrefix: "s", filterEnabled: HUNDRED, tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } }, descriptors: [{ entries: [{ key: "a", value: "b" }], tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } } }] } }, ROUTER]);
  refuses(() => filters[0]!.decode(ctxOf({ route })), /rateLimits\[0\]\.actions\[0\]\.sourceCluster/);
});
