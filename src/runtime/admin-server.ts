// The admin HTTP endpoint every meshgate process serves: /readyz for supervisors and
// load balancers, /config_dump for people (the configuration in force, its status and
// the problems of the last rejected change). Plain node:http: it is not a hot path.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface AdminState {
  ready(): { ready: boolean; reason: string };
  configDump(): unknown;
  /**
   * `/debug/syncz`: what each proxy was sent, ACKed and NACKed (the ADS server's
   * `syncz()`). A plain function, so the admin endpoint needs nothing from the xDS layer.
   */
  syncz?(): unknown;
  /** `/debug/trustz`: mTLS links whose two sides share no root (the control plane's trust check). */
  trustz?(): unknown;
}

export async function startAdminServer(host: string, port: number, state: AdminState): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://admin");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (url.pathname) {
      case "/readyz": {
        const r = state.ready();
        res.writeHead(r.ready ? 200 : 503, { "content-type": "text/plain; charset=utf-8" }).end(r.reason + "\n");
        return;
      }
      case "/config_dump":
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.configDump(), null, 2) + "\n");
        return;
      case "/debug/syncz":
        if (state.syncz) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.syncz(), null, 2) + "\n");
          return;
        }
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("this process serves no xDS: /debug/syncz is not available\n");
        return;
      case "/debug/trustz":
        if (state.trustz) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.trustz(), null, 2) + "\n");
          return;
        }
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("this process serves no xDS: /debug/trustz is not available\n");
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`endpoints: /readyz /config_dump${state.syncz ? " /debug/syncz" : ""}${state.trustz ? " /debug/trustz" : ""}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}

/** `127.0.0.1:15000` / `[::1]:15000` / `:15000` -> host and port. */
export function parseHostPort(value: string, defaultHost = "127.0.0.1"): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || defaultHost), port };
}
