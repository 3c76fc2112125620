// Virtual hosts of a Gateway port. Route hostnames were already intersected with each
// listener's (RouteParentModel.listeners[].hostnames); what is left is how requests find
// them:
//
// - One virtual host per hostname that appears (a listener's own hostname, or a route
//   hostname), `*` for routes and listeners without one. Domains are the hostname with
//   and without `:<port>`; a `*.example.com` wildcard matches one or more labels, as in
//   the Gateway API.
// - A request is handled by the most specific listener whose hostname matches it, so a
//   virtual host belongs to the listener whose hostname covers it most specifically
//   (exact, then the longest wildcard, then a listener without hostname); only that
//   listener's routes go into it. A listener hostname always gets its virtual host, even
//   without routes, so its requests cannot fall through to a less specific listener.
// - Inside a virtual host, routes whose hostname is a wildcard (or any) covering it come
//   after the routes for the exact name: the spec gives precedence to the route with the
//   most characters in a matching non-wildcard hostname, then in any matching hostname,
//   and only then compares matches (route-precedence.ts).

import type { IrRoute, IrVirtualHost } from "../ir/index.js";
import type { RouteEntry } from "./http-route.js";
import { comparePrecedence } from "./route-precedence.js";
import { byString } from "./names.js";

/** One route on one listener: the hostnames it serves there (`*` = any) and its compiled matches. */
export interface HostedRoute {
  readonly hostnames: readonly string[];
  readonly entries: readonly RouteEntry[];
}

export interface ListenerRoutes {
  readonly hostname: string | undefined;
  readonly routes: readonly HostedRoute[];
}

/** Does `pattern` (`*`, `*.example.com` or exact) cover `host` (which may itself be a wildcard)? */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (host === "*") return false;
  if (!pattern.startsWith("*.")) return pattern === host;
  const suffix = pattern.slice(1);
  if (host.startsWith("*.")) return host.slice(1).endsWith(suffix) && host.length - 1 >= suffix.length;
  return host.endsWith(suffix) && host.length > suffix.length;
}

/** Sort key of a covering hostname: exact names first, then longer wildcards, `*` last. */
function specificity(h: string): [number, number] {
  if (h === "*") return [2, 0];
  return h.startsWith("*.") ? [1, -h.length] : [0, -h.length];
}

function compareSpecificity(a: string, b: string): number {
  const [ka, la] = specificity(a);
  const [kb, lb] = specificity(b);
  return ka - kb || la - lb || byString(a, b);
}

export function gatewayVirtualHosts(listeners: readonly ListenerRoutes[], port: number): IrVirtualHost[] {
  const hosts = new Set<string>();
  for (const l of listeners) {
    hosts.add(l.hostname ?? "*");
    for (const r of l.routes) for (const h of r.hostnames) hosts.add(h);
  }
  const vhosts: IrVirtualHost[] = [];
  for (const host of [...hosts].sort(compareSpecificity)) {
    const owner = ownerOf(listeners, host);
    if (!owner) continue;
    const candidates: { cover: string; entry: RouteEntry }[] = [];
    for (const r of owner.routes) {
      const cover = r.hostnames.filter((h) => hostCovers(h, host)).sort(compareSpecificity)[0];
      if (cover !== undefined) for (const entry of r.entries) candidates.push({ cover, entry });
    }
    candidates.sort((a, b) => compareSpecificity(a.cover, b.cover) || comparePrecedence(a.entry.key, b.entry.key));
    vhosts.push({ name: `${host}:${port}`, domains: host === "*" ? ["*"] : [host, `${host}:${port}`], routes: candidates.map((c) => c.entry.route) });
  }
  return vhosts;
}

/** Routes in precedence order (no hostnames involved: east-west and the client view). */
export function orderedRoutes(entries: readonly RouteEntry[]): IrRoute[] {
  return [...entries].sort((a, b) => comparePrecedence(a.key, b.key)).map((e) => e.route);
}

function ownerOf(listeners: readonly ListenerRoutes[], host: string): ListenerRoutes | undefined {
  let best: ListenerRoutes | undefined;
  for (const l of listeners) {
    const lh = l.hostname ?? "*";
    if (!hostCovers(lh, host)) continue;
    if (!best || compareSpecificity(lh, best.hostname ?? "*") < 0) best = l;
  }
  return best;
}
