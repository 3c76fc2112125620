// What `meshgate up` prints so a user can try the gateways at once: each served Gateway's
// HTTP(S) listener URLs and one example request (a path some route attached to it matches).

import type { Model, RouteModel } from "../model/index.js";
import { servedGateways } from "../translate/index.js";

export function gatewayUrlLines(model: Model): string[] {
  const lines: string[] = [];
  let example: string | undefined;
  for (const gw of servedGateways(model)) {
    const { namespace, name } = gw.resource;
    // A wildcard bind is reachable as localhost on this machine.
    const address = gw.addresses[0];
    const host = address === undefined || address === "0.0.0.0" || address === "::" ? "localhost" : address.includes(":") ? `[${address}]` : address;
    for (const l of gw.listeners) {
      if (!l.ready || (l.protocol !== "HTTP" && l.protocol !== "HTTPS")) continue;
      const url = `${l.protocol === "HTTPS" ? "https" : "http"}://${host}:${l.port}`;
      lines.push(`Gateway ${namespace}/${name} listener ${l.name}: ${url}`);
      if (example === undefined && l.protocol === "HTTP") {
        const path = examplePath(model.routes.filter((r) => r.kind === "HTTPRoute" && r.parents.some((p) => p.kind === "Gateway" && p.gateway === gw)));
        if (path !== undefined) example = `Try: curl ${url}${path}`;
      }
    }
  }
  if (example !== undefined) lines.push(example);
  return lines;
}

/** The first Exact path match of the routes (else the first prefix), as written in the route. */
function examplePath(routes: readonly RouteModel[]): string | undefined {
  let prefix: string | undefined;
  for (const r of routes) {
    const rules = ((r.resource as { spec?: { rules?: { matches?: { path?: { type?: string; value?: string } }[] }[] } }).spec?.rules ?? []);
    for (const rule of rules) {
      for (const m of rule.matches ?? []) {
        const v = m.path?.value;
        if (typeof v !== "string" || !v.startsWith("/")) continue;
        if ((m.path?.type ?? "PathPrefix") === "Exact") return v;
        prefix ??= v;
      }
    }
  }
  return prefix;
}
