// Router micro-benchmark: nanoseconds per RouteTable.route() call for typical requests.
//
//   node --import tsx bench/gateway/router.bench.ts
//
// Tables come from the real pipeline (Gateway API YAML -> model -> translate -> Envoy
// RouteConfiguration -> encoded -> decoded -> compiled), as the proxy would receive them:
// - "100 vhosts": 100 HTTPRoutes with their own hostname and 10 rules each (exact,
//   prefixes, a header match, a regex, a query match, a method match, a rewrite, and /),
//   so 100 virtual hosts and 1,000 routes;
// - "1 vhost": the same 1,000 routes under one hostname with a per-service first path
//   segment (/svc<i>/...), the shape the first-segment index is for.
// Environment: ITERATIONS (per request kind, default 2,000,000), ROUNDS (default 5;
// the best round is reported, then the median).

import { parseYamlFile } from "../../src/config/yaml-documents.js";
import { buildModel } from "../../src/model/index.js";
import type { RouteDecision, RouteInput } from "../../src/proxy/router/route-decision.js";
import { compileRouteConfiguration, type RouteTable } from "../../src/proxy/router/route-table.js";
import { translate } from "../../src/translate/index.js";
import { decodeResource, encodeResource, TYPE_URLS } from "../../src/xds/envoy-protos.js";
import { routeConfiguration } from "../../src/xds/resources/route-configuration.js";

const ITERATIONS = Number(process.env.ITERATIONS ?? 2_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SERVICES = 100;

function rules(prefix: string): string {
  return `    - matches: [{ path: { type: Exact, value: ${prefix}/api/v1/users } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/api/v1/orders } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/api/v2 }, headers: [{ name: x-version, value: "2" }] }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/static } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: RegularExpression, value: "${prefix}/items/[0-9]+" } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/search }, queryParams: [{ name: q, value: books }] }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/admin }, method: POST }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/health } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix}/v1/legacy } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } } }]
      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: ${prefix === "" ? "/" : prefix} } }]
      backendRefs: [{ name: app, port: 8080 }]
`;
}

function config(oneHost: boolean): string {
  let yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: meshgate }
spec: { controllerName: meshgate.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: bench }
spec:
  gatewayClassName: meshgate
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: bench }
spec: { ports: [{ name: http, port: 8080 }] }
`;
  for (let i = 0; i < SERVICES; i++) {
    yaml += `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: svc${i}, namespace: bench }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [${oneHost ? "shop.example.com" : `svc${i}.example.com`}]
  rules:
${rules(oneHost ? `/svc${i}` : "")}`;
  }
  return yaml;
}

function table(oneHost: boolean): { table: RouteTable; vhosts: number; routes: number } {
  const parsed = parseYamlFile("bench.yaml", config(oneHost));
  const { model, problems } = buildModel(parsed.documents);
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length > 0) throw new Error(errors.map((p) => p.message).join("\n"));
  const ir = translate(model, 1);
  const t = ir.routeTables.get("gateway|bench|gw|80");
  if (!t) throw new Error("no route table");
  // Through the wire format, so the router sees exactly what a proxy decodes.
  const bytes = encodeResource(TYPE_URLS.route, routeConfiguration(t, { grpc: false }));
  const decoded = decodeResource(TYPE_URLS.route, bytes);
  const vhosts = t.virtualHosts.length;
  const routes = t.virtualHosts.reduce((s, v) => s + v.routes.length, 0);
  return { table: compileRouteConfiguration(decoded), vhosts, routes };
}

interface Case {
  readonly name: string;
  readonly input: RouteInput;
  readonly expect: string;
}

const get = (authority: string, path: string, headers: Record<string, string> = {}, method = "GET"): RouteInput => ({ authority, path, method, headers, scheme: "http" });
const BROWSER = { "user-agent": "Mozilla/5.0", accept: "*/*", "accept-encoding": "gzip" };

function cases(oneHost: boolean): Case[] {
  const host = (i: number) => (oneHost ? "shop.example.com" : `svc${i}.example.com`);
  const p = (i: number, path: string) => (oneHost ? `/svc${i}${path}` : path);
  return [
    { name: "exact path", input: get(host(57), p(57, "/api/v1/users"), BROWSER), expect: "httproute/bench/svc57/rule/0/match/0" },
    { name: "prefix, host with port", input: get(`${host(3)}:80`, p(3, "/static/css/app.css"), BROWSER), expect: "httproute/bench/svc3/rule/3/match/0" },
    { name: "prefix + header", input: get(host(12), p(12, "/api/v2/carts/1"), { ...BROWSER, "x-version": "2" }), expect: "httproute/bench/svc12/rule/2/match/0" },
    { name: "regex", input: get(host(99), p(99, "/items/12345?ref=home"), BROWSER), expect: "httproute/bench/svc99/rule/4/match/0" },
    { name: "prefix + query", input: get(host(10), p(10, "/search?q=books&page=2"), BROWSER), expect: "httproute/bench/svc10/rule/5/match/0" },
    { name: "prefix + method", input: get(host(42), p(42, "/admin/users"), BROWSER, "POST"), expect: "httproute/bench/svc42/rule/6/match/0" },
    { name: "fallthrough to /", input: get(host(7), p(7, "/some/page/that/is/long?x=1"), BROWSER), expect: "httproute/bench/svc7/rule/9/match/0" },
    { name: "no virtual host (404)", input: get("nomatch.example.org", "/", BROWSER), expect: "404" },
  ];
}

function measure(t: RouteTable, c: Case): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    const d: RouteDecision | undefined = t.route(c.input);
    if (d !== undefined) sink++;
  }
  const ns = Number(process.hrtime.bigint() - start) / ITERATIONS;
  if (sink < 0) console.log(sink);
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

console.log(`node ${process.version}, ${ITERATIONS.toLocaleString("en")} calls per request kind, best / median of ${ROUNDS} rounds`);
for (const oneHost of [false, true]) {
  const built = Date.now();
  const { table: t, vhosts, routes } = table(oneHost);
  console.log(`\n${vhosts} virtual host(s), ${routes} routes (pipeline + compile ${Date.now() - built} ms)`);
  const compileStart = process.hrtime.bigint();
  const list = cases(oneHost);
  for (const c of list) {
    const got = t.route(c.input)?.routeName ?? "404";
    if (got !== c.expect) throw new Error(`${c.name}: routed to ${got}, expected ${c.expect}`);
  }
  void compileStart;
  // Warm-up: let the JIT settle on every path before measuring.
  for (const c of list) for (let i = 0; i < 200_000; i++) t.route(c.input);
  console.log("| request | ns/call (best) | ns/call (median) |");
  console.log("|---|---|---|");
  for (const c of list) {
    const rounds = Array.from({ length: ROUNDS }, () => measure(t, c));
    console.log(`| ${c.name} | ${Math.min(...rounds).toFixed(0)} | ${median(rounds).toFixed(0)} |`);
  }
}
