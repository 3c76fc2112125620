// A tiny gRPC backend for interop tests: one unary method `/meshgate.test.Echo/Who` that
// answers with the backend's name (raw bytes, no .proto needed).

import * as grpc from "@grpc/grpc-js";

export const WHO_PATH = "/meshgate.test.Echo/Who";

const bytes = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

export const echoDefinition: grpc.ServiceDefinition = {
  Who: {
    path: WHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes.serialize,
    requestDeserialize: bytes.deserialize,
    responseSerialize: bytes.serialize,
    responseDeserialize: bytes.deserialize,
  },
};

export interface EchoBackend {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a backend on 127.0.0.1 (an ephemeral port) that answers with `name`. */
export async function startEchoBackend(name: string): Promise<EchoBackend> {
  const server = new grpc.Server();
  server.addService(echoDefinition, { Who: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    name,
    port,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}
