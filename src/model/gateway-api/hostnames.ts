// Hostname intersection between a listener and a route, per the Gateway API spec:
// a leading "*." matches one or more DNS labels; an unset hostname matches everything.

/** Does `host` (exact or wildcard) fall under `pattern` (exact or wildcard)? */
function covers(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  if (host.startsWith("*.")) return host.slice(1).endsWith(suffix) && host.length - 1 >= suffix.length;
  return host.endsWith(suffix) && host.length > suffix.length;
}

/**
 * The hostnames a route serves on a listener: the route's hostnames narrowed to the
 * listener's. `undefined` listener hostname = any. Returns [] when they do not intersect,
 * and ["*"]-free lists: an empty route list on an open listener yields [] + `any: true`.
 */
export function intersectHostnames(listener: string | undefined, route: readonly string[]): { any: boolean; hostnames: string[] } {
  if (route.length === 0) return listener === undefined ? { any: true, hostnames: [] } : { any: false, hostnames: [listener] };
  if (listener === undefined) return { any: false, hostnames: [...route] };
  const out = new Set<string>();
  for (const h of route) {
    if (covers(listener, h)) out.add(h);
    else if (covers(h, listener)) out.add(listener);
  }
  return { any: false, hostnames: [...out].sort() };
}

export function hostnamesIntersect(listener: string | undefined, route: readonly string[]): boolean {
  const r = intersectHostnames(listener, route);
  return r.any || r.hostnames.length > 0;
}
