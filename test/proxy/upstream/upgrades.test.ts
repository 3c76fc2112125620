// HTTP/1.1 upgrades forwarded by an upstream cluster: the request goes out with
// `Connection: upgrade` and `Upgrade: <protocol>`, a 101 hands the connection to the sink
// (counted as a request in flight until it closes), any other answer is an ordinary
// response, and an HTTP/2 cluster refuses with a clear reason.

import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { HeaderMap, UpstreamCluster, UpstreamError, UpstreamRequest } from "../../../src/proxy/contracts.js";
import { ClusterManager } from "../../../src/proxy/upstream/cluster-manager.js";
import type { Cluster } from "../../../src/proxy/upstream/cluster.js";
import { config, endpoint, irCluster, request, send, startBackend } from "./helpers.js";

interface UpgradeOutcome {
  status: number;
  headers: HeaderMap;
  socket?: Duplex;
  error?: UpstreamError;
}

function upgrade(cluster: UpstreamCluster, req: UpstreamRequest): Promise<UpgradeOutcome> {
  return new Promise((resolve) => {
    cluster.forward(
      req,
      {
        onHeaders: (status, headers) => (resolve({ status, headers }), true),
        onData: () => true,
        onComplete: () => {},
        onError: (error) => resolve({ status: 0, headers: {}, error }),
        onUpgrade: (status, headers, socket) => resolve({ status, headers, socket }),
      },
      { timeoutMs: 5000 },
    );
  });
}

test("a 101 hands the upstream connection to the sink; it counts as in flight until closed; the pool goes on with a new connection", async (t) => {
  const seen: IncomingMessage["headers"][] = [];
  const backend = await startBackend(t);
  backend.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.push(req.headers);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    if (head.length > 0) socket.write(head);
    socket.on("data", (d: Buffer) => socket.write(`echo:${d.toString()}`));
  });
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("ws", { endpoints: [endpoint(backend.port)] })]));
  const cluster = m.get("ws")!;
  const out = await upgrade(cluster, request("/socket", { upgrade: "websocket", headers: { host: "backend.test", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } }));
  assert.equal(out.status, 101);
  assert.equal(out.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert.ok(out.socket);
  assert.equal(seen[0]?.upgrade, "websocket");
  assert.match(String(seen[0]?.connection), /upgrade/i);
  assert.equal(seen[0]?.["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");

  const socket = out.socket;
  socket.write("hi");
  const [data] = (await once(socket, "data")) as [Buffer];
  assert.equal(data.toString(), "echo:hi");
  assert.equal((cluster as Cluster).active, 1, "the tunnel is a request in flight");

  // An ordinary request meanwhile: the upgraded connection left the pool.
  const plain = await send(cluster, request("/plain"));
  assert.equal(plain.status, 200);
  assert.equal(backend.connections, 2);

  socket.destroy();
  await once(socket, "close");
  assert.equal((cluster as Cluster).active, 0);
});

test("an upgrade the backend does not grant is an ordinary response", async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("upgrade required elsewhere");
  });
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("ws", { endpoints: [endpoint(backend.port)] })]));
  const out = await upgrade(m.get("ws")!, request("/socket", { upgrade: "websocket" }));
  assert.equal(out.status, 426);
  assert.equal(out.socket, undefined);
});

test("an HTTP/2 cluster refuses an HTTP/1.1 upgrade, naming the cluster", async (t) => {
  const m = new ClusterManager();
  t.after(() => m.close());
  m.apply(...config([irCluster("grpc", { protocol: "http2", endpoints: [endpoint(1)] })]));
  const out = await upgrade(m.get("grpc")!, request("/socket", { upgrade: "websocket" }));
  assert.equal(out.error?.kind, "reset");
  assert.match(out.error!.message, /cluster grpc speaks HTTP\/2 to its endpoints: the websocket upgrade needs HTTP\/1\.1/);
});
