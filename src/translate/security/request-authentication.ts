// RequestAuthentication -> IrJwtAuthn for one proxy: every jwtRule of every policy that
// applies (policy-selection.ts) becomes a provider; a token must be valid for one of them.

import type { IrJwtAuthn, IrJwtProvider } from "../../ir/index.js";
import type { Model, PolicyModel } from "../../model/index.js";
import type { ProxyTarget } from "../proxy-target.js";
import { qualifiedName } from "../policy-order.js";
import { policiesFor } from "./policy-selection.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Where a token is looked for when a rule names no location: Istio's (and Envoy's) default. */
const DEFAULT_HEADERS = [{ name: "Authorization", prefix: "Bearer " }] as const;
const DEFAULT_PARAMS = ["access_token"] as const;

export function jwtAuthnFor(model: Model, target: ProxyTarget): IrJwtAuthn | undefined {
  const providers = policiesFor(model, "RequestAuthentication", target).flatMap(toProviders);
  return providers.length > 0 ? { providers } : undefined;
}

function toProviders(p: PolicyModel): IrJwtProvider[] {
  return (((p.resource.spec as Obj).jwtRules ?? []) as Obj[]).map((rule, i) => toProvider(rule, `${qualifiedName(p)}/${i}`));
}

function toProvider(rule: Obj, name: string): IrJwtProvider {
  // The model refuses rules with neither jwks nor jwksUri (OpenID discovery is not supported).
  const uri: string | undefined = rule.jwksUri ?? rule.jwks_uri;
  const jwks = rule.jwks !== undefined ? { inline: rule.jwks as string } : { uri: uri! };
  const explicit = rule.fromHeaders !== undefined || rule.fromParams !== undefined || rule.fromCookies !== undefined;
  const fromHeaders = ((rule.fromHeaders ?? []) as Obj[]).map((h) => (h.prefix !== undefined ? { name: h.name as string, prefix: h.prefix as string } : { name: h.name as string }));
  return {
    name,
    issuer: rule.issuer,
    audiences: rule.audiences ?? [],
    jwks,
    fromHeaders: explicit ? fromHeaders : DEFAULT_HEADERS.map((h) => ({ ...h })),
    fromParams: explicit ? (rule.fromParams ?? []) : [...DEFAULT_PARAMS],
    fromCookies: rule.fromCookies ?? [],
    forwardOriginalToken: rule.forwardOriginalToken === true,
    ...(rule.outputPayloadToHeader !== undefined ? { outputPayloadToHeader: rule.outputPayloadToHeader as string } : {}),
    outputClaimToHeaders: ((rule.outputClaimToHeaders ?? []) as Obj[]).map((o) => ({ header: o.header as string, claim: o.claim as string })),
  };
}
