// A gateway configuration with global rate limits, and the rate limit service config the
// translator computes for it.

import { GATEWAY_CLASS, modelOf } from "../helpers/model.js";
import { translate } from "../../src/translate/index.js";
import { rateLimitServiceConfig, type RateLimitServiceDomain } from "../../src/xds/rate-limit-service-config.js";

export function globalLimitsYaml(requests: number, unit = "Minute", selectors = "[{ headers: [{ name: x-user, type: Distinct }] }]"): string {
  return `${GATEWAY_CLASS}---
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
metadata: { name: api, namespace: infra }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: other, namespace: infra }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: { name: api-limits, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }]
  rateLimit:
    type: Global
    global:
      rules:
        - clientSelectors: ${selectors}
          limit: { requests: ${requests}, unit: ${unit} }
`;
}

export function limitsOf(yaml: string): RateLimitServiceDomain[] {
  return rateLimitServiceConfig(translate(modelOf(yaml).model, 1));
}
