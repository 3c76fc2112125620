// A proxyless gRPC client (@grpc/grpc-js-xds) run as its own process, so the xDS
// bootstrap (GRPC_XDS_BOOTSTRAP_CONFIG, read once per process) is its own. It calls
// `xds:///<target>` every 20 ms and prints one JSON line per answer:
// {"ok":true,"backend":"a"} or {"ok":false,"error":"..."}.

import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { WHO_PATH } from "./grpc-echo.js";

grpcXds.register();
const target = process.argv[2];
if (!target) throw new Error("usage: xds-grpc-client.ts <host:port>");
const client = new grpc.Client(`xds:///${target}`, grpc.credentials.createInsecure());

function once(): Promise<void> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      WHO_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 2000 } as grpc.CallOptions,
      (err: grpc.ServiceError | null, res?: Buffer) => {
        process.stdout.write(`${JSON.stringify(err ? { ok: false, error: `${err.code} ${err.details}` } : { ok: true, backend: res!.toString() })}\n`);
        resolve();
      },
    );
  });
}

process.on("SIGTERM", () => {
  client.close();
  process.exit(0);
});
for (;;) {
  await once();
  await new Promise((r) => setTimeout(r, 20));
}
