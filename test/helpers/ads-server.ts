// Starts a real ADS server on a free local port for a test and stops it afterwards.

import type { TestContext } from "node:test";
import { AdsServer, type AdsServerOptions } from "../../src/xds/ads-server.js";
import type { SnapshotSet } from "../../src/xds/snapshot.js";
import { adsChannel } from "./ads-client.js";
import type * as grpc from "@grpc/grpc-js";

export async function startAds(t: TestContext, snapshot: SnapshotSet | undefined, options: Partial<AdsServerOptions> = {}): Promise<{ server: AdsServer; port: number; channel: () => grpc.Client }> {
  const server = new AdsServer({ security: { mode: "plaintext" }, debounceMs: 20, ...(snapshot ? { snapshot } : {}), ...options });
  const port = await server.listen("127.0.0.1:0");
  const channels: grpc.Client[] = [];
  t.after(async () => {
    for (const c of channels) c.close();
    await server.close();
  });
  return {
    server,
    port,
    channel: () => {
      const c = adsChannel(port);
      channels.push(c);
      return c;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `condition` holds (the server handles an ACK a moment after the client sends it); gives up after `ms`, leaving the assertions that follow to report what is wrong. */
export async function waitFor(condition: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await sleep(10);
}
