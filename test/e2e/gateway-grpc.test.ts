// gRPC through the gateway: a real grpc-js client (h2c, as gRPC without TLS speaks) calls
// a real grpc-js server behind a GRPCRoute. What gRPC needs of the proxy end to end: the
// request's `te: trailers`, HTTP/2 to the backend, the response's trailers (grpc-status,
// grpc-message) after its DATA, trailers-only answers for errors, streams of messages, and
// metadata both ways; a method no route matches is a 404 the client sees as UNIMPLEMENTED.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { serviceYaml } from "../helpers/echo-backend.js";
import { edgeGatewayYaml, freePort, GATEWAY_CLASS, startGatewayHarness } from "../helpers/gateway-harness.js";

// Messages are raw bytes (no protobuf needed to test the transport).
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: raw.serialize,
  requestDeserialize: raw.deserialize,
  responseSerialize: raw.serialize,
  responseDeserialize: raw.deserialize,
});
const STORE = {
  getItem: method("/store.v1.Store/GetItem", false),
  listItems: method("/store.v1.Store/ListItems", true),
  unrouted: method("/store.v1.Secret/Peek", false),
};

async function startBackend(t: { after: (fn: () => Promise<void>) => void }): Promise<number> {
  const server = new grpc.Server();
  server.addService(STORE, {
    getItem: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const name = call.request.toString();
      if (name === "missing") {
        cb({ code: grpc.status.NOT_FOUND, details: "no item named missing" });
        return;
      }
      const md = new grpc.Metadata();
      md.set("x-served-by", "store-backend");
      call.sendMetadata(md);
      cb(null, Buffer.from(`item ${name} for ${String(call.metadata.get("x-tenant")[0] ?? "?")}`));
    },
    listItems: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`item-${i}`));
      call.end();
    },
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return port;
}

function config(port: number, backendPort: number): string {
  return `${GATEWAY_CLASS}---
${edgeGatewayYaml(port)}---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: store, namespace: infra }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ method: { service: store.v1.Store } }]
      backendRefs: [{ name: store, port: 9000 }]
${serviceYaml("infra", "store", 9000, [{ port: backendPort }])}`;
}

test("gRPC through the gateway: unary with metadata, server streaming, error status in trailers, unrouted method UNIMPLEMENTED", { timeout: 60_000 }, async (t) => {
  const backendPort = await startBackend(t);
  const port = await freePort();
  await startGatewayHarness(t, { gateway: "infra/edge", yaml: config(port, backendPort) });
  const Client = grpc.makeGenericClientConstructor(STORE, "Store");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<keyof typeof STORE, (...a: unknown[]) => unknown>;
  t.after(() => client.close());

  const unary = (name: string, md = new grpc.Metadata()): Promise<{ value?: string; error?: grpc.ServiceError; headers?: grpc.Metadata }> =>
    new Promise((resolve) => {
      let headers: grpc.Metadata | undefined;
      const call = client.getItem(Buffer.from(name), md, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, value?: Buffer) =>
        resolve(error ? { error } : { value: value!.toString(), ...(headers ? { headers } : {}) }),
      ) as grpc.ClientUnaryCall;
      call.on("metadata", (m: grpc.Metadata) => (headers = m));
    });

  const md = new grpc.Metadata();
  md.set("x-tenant", "acme");
  const ok = await unary("apple", md);
  assert.equal(ok.error, undefined, ok.error?.message);
  assert.equal(ok.value, "item apple for acme", "request metadata reached the backend");
  assert.equal(ok.headers?.get("x-served-by")[0], "store-backend", "response metadata reached the client");

  // Several calls in flight on the client's one connection.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(`n${i}`)));
  assert.deepEqual(
    many.map((r) => r.value),
    Array.from({ length: 20 }, (_, i) => `item n${i} for ?`),
  );

  const missing = await unary("missing");
  assert.equal(missing.error?.code, grpc.status.NOT_FOUND);
  assert.equal(missing.error?.details, "no item named missing");

  const items = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const s = client.listItems(Buffer.from("5"), new grpc.Metadata(), { deadline: Date.now() + 10_000 }) as grpc.ClientReadableStream<Buffer>;
    s.on("data", (b: Buffer) => got.push(b.toString()));
    s.on("status", (st: grpc.StatusObject) => (st.code === grpc.status.OK ? resolve(got) : reject(new Error(st.details))));
    s.on("error", reject);
  });
  assert.deepEqual(items, ["item-0", "item-1", "item-2", "item-3", "item-4"]);

  const unrouted = await new Promise<grpc.ServiceError | null>((resolve) => client.unrouted(Buffer.from("x"), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null) => resolve(e)));
  assert.equal(unrouted?.code, grpc.status.UNIMPLEMENTED);
});
