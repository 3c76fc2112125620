// Gateway API filters that change a request or its response: header modifiers,
// RequestRedirect (with the spec's port defaulting) and URLRewrite.

import type { IrHeaderModifier, IrPathMatch, IrPathRewrite, IrRouteAction } from "../ir/index.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** RequestHeaderModifier / ResponseHeaderModifier; header names are case-insensitive, so lower-cased. */
export function headerModifier(spec: Obj | undefined): IrHeaderModifier | undefined {
  if (!spec) return undefined;
  const pairs = (list: Obj[] | undefined) => (list ?? []).map((h) => ({ name: String(h.name).toLowerCase(), value: String(h.value) }));
  const mod: IrHeaderModifier = { set: pairs(spec.set), add: pairs(spec.add), remove: ((spec.remove ?? []) as string[]).map((n) => n.toLowerCase()) };
  return mod.set.length + mod.add.length + mod.remove.length > 0 ? mod : undefined;
}

/** Two modifiers in filter order: the later one's operations run after the earlier one's. */
export function mergeHeaderModifiers(a: IrHeaderModifier | undefined, b: IrHeaderModifier | undefined): IrHeaderModifier | undefined {
  if (!a) return b;
  if (!b) return a;
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

/**
 * URLRewrite / RequestRedirect `path`. ReplacePrefixMatch replaces the matched PathPrefix
 * (the API only allows it with a PathPrefix match); with any other match it cannot apply.
 */
export function pathModifier(spec: Obj | undefined, matched: IrPathMatch): IrPathRewrite | undefined {
  if (!spec) return undefined;
  if (spec.type === "ReplaceFullPath" && typeof spec.replaceFullPath === "string") return { kind: "ReplaceFullPath", value: spec.replaceFullPath };
  if (spec.type === "ReplacePrefixMatch" && typeof spec.replacePrefixMatch === "string" && matched.kind === "PathPrefix") {
    return { kind: "ReplacePrefixMatch", prefix: matched.value, value: spec.replacePrefixMatch };
  }
  return undefined;
}

/**
 * RequestRedirect. The port is always resolved here, per the spec: the given port; else
 * the scheme's well-known port (80 / 443) when a scheme is given; else the port of the
 * listener (or Service port) the route serves. The Location header leaves the port out
 * when it is the default of the redirect's scheme (http:80, https:443).
 */
export function redirectAction(spec: Obj, matched: IrPathMatch, listenerPort: number): Extract<IrRouteAction, { kind: "redirect" }> {
  const scheme: "http" | "https" | undefined = spec.scheme === "http" || spec.scheme === "https" ? spec.scheme : undefined;
  const port: number = typeof spec.port === "number" ? spec.port : scheme ? (scheme === "https" ? 443 : 80) : listenerPort;
  const path = pathModifier(spec.path, matched);
  return {
    kind: "redirect",
    ...(scheme ? { scheme } : {}),
    ...(typeof spec.hostname === "string" ? { hostname: spec.hostname } : {}),
    port,
    ...(path ? { path } : {}),
    statusCode: typeof spec.statusCode === "number" ? spec.statusCode : 302,
  };
}
