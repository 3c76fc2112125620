import { test } from "node:test";
import assert from "node:assert/strict";
import { jwtAuthnFor } from "../../../src/translate/security/request-authentication.js";
import { modelOf } from "../../helpers/model.js";
import { MESH, gateway, meshModel, policy, sidecar } from "./fixture.js";

const JWKS = '{"keys":[]}';

test("every jwtRule field maps to a provider named <ns>/<name>/<index>", () => {
  const m = meshModel(
    policy(
      "RequestAuthentication",
      "apps",
      "jwt",
      `
  selector: { matchLabels: { app: web } }
  jwtRules:
    - issuer: https://a.test
      audiences: [web, api]
      jwksUri: https://a.test/jwks.json
      fromHeaders: [{ name: x-token, prefix: "Token " }, { name: x-raw }]
      fromParams: [tok]
      fromCookies: [session]
      forwardOriginalToken: true
      outputPayloadToHeader: x-jwt-payload
      outputClaimToHeaders: [{ header: x-sub, claim: sub }]
    - issuer: https://b.test
      jwks: '${JWKS}'`,
    ),
  );
  assert.deepEqual(jwtAuthnFor(m, sidecar(m, "apps/web")), {
    providers: [
      {
        name: "apps/jwt/0",
        issuer: "https://a.test",
        audiences: ["web", "api"],
        jwks: { uri: "https://a.test/jwks.json" },
        fromHeaders: [{ name: "x-token", prefix: "Token " }, { name: "x-raw" }],
        fromParams: ["tok"],
        fromCookies: ["session"],
        forwardOriginalToken: true,
        outputPayloadToHeader: "x-jwt-payload",
        outputClaimToHeaders: [{ header: "x-sub", claim: "sub" }],
      },
      {
        // No location given: Istio's default, the Authorization bearer header then ?access_token.
        name: "apps/jwt/1",
        issuer: "https://b.test",
        audiences: [],
        jwks: { inline: JWKS },
        fromHeaders: [{ name: "Authorization", prefix: "Bearer " }],
        fromParams: ["access_token"],
        fromCookies: [],
        forwardOriginalToken: false,
        outputClaimToHeaders: [],
      },
    ],
  });
});

test("naming one token location replaces the default locations", () => {
  const m = meshModel(policy("RequestAuthentication", "apps", "cookie", `{ jwtRules: [{ issuer: https://c.test, jwksUri: https://c.test/k, fromCookies: [s] }] }`));
  const [p] = jwtAuthnFor(m, sidecar(m, "apps/web"))!.providers;
  assert.deepEqual([p!.fromHeaders, p!.fromParams, p!.fromCookies], [[], [], ["s"]]);
});

test("the selection rules are AuthorizationPolicy's: root namespace, namespace, selector, targetRef", () => {
  const rule = (iss: string) => `[{ issuer: "${iss}", jwksUri: "https://k.test/jwks" }]`;
  const m = meshModel(
    policy("RequestAuthentication", "istio-system", "mesh", `{ jwtRules: ${rule("mesh")} }`) +
      policy("RequestAuthentication", "apps", "ns", `{ jwtRules: ${rule("ns")} }`) +
      policy("RequestAuthentication", "apps", "sel", `{ selector: { matchLabels: { app: api } }, jwtRules: ${rule("sel")} }`) +
      policy("RequestAuthentication", "edge", "gw", `{ targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: gw }, jwtRules: ${rule("gw")} }`) +
      policy("RequestAuthentication", "apps", "svc", `{ targetRefs: [{ group: "", kind: Service, name: web }], jwtRules: ${rule("svc")} }`),
  );
  const issuers = (t: Parameters<typeof jwtAuthnFor>[1]) => jwtAuthnFor(m, t)?.providers.map((p) => p.issuer);
  assert.deepEqual(issuers(sidecar(m, "apps/web")), ["ns", "svc", "mesh"]);
  assert.deepEqual(issuers(sidecar(m, "apps/api")), ["ns", "sel", "mesh"]);
  assert.deepEqual(issuers(sidecar(m, "other/db")), ["mesh"]);
  assert.deepEqual(issuers(gateway(m)), ["gw", "mesh"]);
});

test("no RequestAuthentication applies: undefined", () => {
  const m = meshModel(policy("RequestAuthentication", "other", "x", `{ jwtRules: [{ issuer: i, jwksUri: "https://k.test/j" }] }`));
  assert.equal(jwtAuthnFor(m, sidecar(m, "apps/web")), undefined);
});

test("settings meshgate cannot enforce are refused as blocking (OpenID discovery, fetch timeout)", () => {
  const r = modelOf(`${MESH}${policy("RequestAuthentication", "apps", "x", "{ jwtRules: [{ issuer: https://d.test }, { issuer: https://e.test, jwksUri: https://e.test/k, timeout: 5s }] }")}`);
  assert.equal(r.usable, false);
  assert.deepEqual(
    r.problems.filter((p) => p.code === "MG_UNSUPPORTED").map((p) => [p.path?.join("."), p.blocking]),
    [["spec.jwtRules.0.issuer", true], ["spec.jwtRules.1.timeout", true]],
  );
});
