// Hand-built IR snapshots for the xDS golden files.

import type { IrProxy, IrRouteTable, IrSnapshot } from "../../../src/ir/index.js";
import { cluster, hcm, meshSnapshot, simpleRoute } from "../../xds/resources/fixtures.js";

/** An edge gateway: HTTP -> HTTPS redirect, HTTPS with SNI, JWT + authorization, rate limits, a canary split. */
function gateway(): IrSnapshot {
  const web = "infra/edge/web/80";
  const canary = "infra/edge/web-canary/80";
  const https: IrRouteTable = {
    name: "infra/edge/https",
    virtualHosts: [
      {
        name: "shop.example",
        domains: ["shop.example", "shop.example:443"],
        routes: [
          simpleRoute("httproute/shop/api/rule/0/match/0", web, {
            match: { path: { kind: "PathPrefix", value: "/api/" }, headers: [], queryParams: [] },
            action: {
              kind: "forward",
              backends: [{ cluster: web, weight: 90 }, { cluster: canary, weight: 10 }, { weight: 5 }],
              pathRewrite: { kind: "ReplacePrefixMatch", prefix: "/api/", value: "/" },
              timeoutMs: 5000,
              retry: { attempts: 2, on: ["connect-failure", "retriable-status-codes"], statusCodes: [503] },
            },
            responseHeaders: { set: [{ name: "x-served-by", value: "meshgate" }], add: [], remove: [] },
            localRateLimit: { rules: [{ id: "shop/api-limit/rule/0", clientSelectors: [{ headers: [{ name: "x-tier", kind: "Exact", value: "free" }] }], requests: 10, unit: "Second" }] },
            globalRateLimit: { domain: "shop/api-limit", rules: [{ id: "shop/api-limit/rule/1", clientSelectors: [{ headers: [{ name: "x-user", kind: "Distinct" }] }], requests: 1000, unit: "Hour" }] },
          }),
          simpleRoute("httproute/shop/web/rule/0/match/0", web),
        ],
      },
    ],
  };
  const http: IrRouteTable = {
    name: "infra/edge/http",
    virtualHosts: [{ name: "redirect", domains: ["*"], routes: [simpleRoute("httproute/shop/redirect/rule/0/match/0", web, { action: { kind: "redirect", scheme: "https", statusCode: 301 } })] }],
  };
  const proxy: IrProxy = {
    id: "gateway~infra~edge",
    role: "gateway",
    namespace: "infra",
    name: "edge",
    listeners: [
      { kind: "socket", name: "infra/edge/http", address: "0.0.0.0", port: 8080, direction: "gateway", filterChains: [{ name: "http", serverNames: [], transport: "raw", http: hcm("infra/edge/http") }] },
      {
        kind: "socket",
        name: "infra/edge/https",
        address: "0.0.0.0",
        port: 8443,
        direction: "gateway",
        filterChains: [
          {
            name: "shop.example",
            serverNames: ["shop.example"],
            transport: "tls",
            tls: { certificates: ["shop/shop-cert"], requireClientCertificate: false, alpn: ["h2", "http/1.1"], minVersion: "1.2" },
            http: hcm("infra/edge/https", {
              requestTimeoutMs: 30_000,
              filters: {
                jwtAuthn: {
                  providers: [
                    { name: "shop/jwt/0", issuer: "https://idp.shop.example", audiences: ["shop"], jwks: { uri: "https://idp.shop.example/jwks" }, fromHeaders: [], fromParams: [], fromCookies: [], forwardOriginalToken: false, outputClaimToHeaders: [{ header: "x-user", claim: "sub" }] },
                  ],
                },
                authorization: {
                  policies: [
                    { name: "shop/block-admin", action: "DENY", rules: [{ to: [{ paths: ["/admin*"] }] }] },
                    { name: "shop/require-jwt", action: "ALLOW", rules: [{ from: [{ requestPrincipals: ["*"] }], to: [{ methods: ["GET", "POST"] }] }, { to: [{ paths: ["/public/*"] }] }] },
                  ],
                },
                globalRateLimit: { domain: "shop/api-limit", rules: [], serviceCluster: "infra/ratelimit/8081" },
              },
            }),
          },
        ],
      },
    ],
    routeTables: ["infra/edge/http", "infra/edge/https"],
    clusters: [canary, web, "infra/ratelimit/8081"],
    secrets: [{ name: "shop/shop-cert", kind: "certificate", certPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", keyPem: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n" }],
  };
  return {
    version: 3,
    proxies: [proxy],
    routeTables: new Map([http, https].map((t) => [t.name, t])),
    clusters: new Map(
      [
        cluster(web, { loadBalancer: "LEAST_REQUEST", outlierDetection: { consecutive5xx: 5, intervalMs: 10_000 } }),
        cluster(canary, { endpoints: [{ address: "10.0.2.1", port: 8080, healthy: true }] }),
        cluster("infra/ratelimit/8081", { protocol: "http2", endpoints: [{ address: "10.0.3.1", port: 8081, healthy: true }] }),
      ].map((c) => [c.name, c]),
    ),
  };
}

export const IR_CASES: Record<string, () => IrSnapshot> = {
  gateway,
  mesh: () => meshSnapshot(),
};
