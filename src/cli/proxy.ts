// `meshgate proxy --role gateway --xds ADDR --gateway NAMESPACE/NAME`: a gateway that gets
// all of its configuration from a control plane over ADS.

import { availableParallelism } from "node:os";
import * as grpc from "@grpc/grpc-js";
import type { Command } from "commander";
import { Option } from "commander";
import { UsageError } from "../errors.js";
import { ProxyRuntime } from "../proxy/proxy-runtime.js";
import { parseHostPort, startAdminServer } from "../runtime/admin-server.js";
import { createLogger, type LogFormat } from "../telemetry/logger.js";
import type { SetExitCode } from "./commands.js";
import type { SvidFileCredentials } from "./xds-credentials.js";

interface ProxyFlags {
  role: string;
  xds: string;
  gateway?: string;
  workload?: string;
  workers?: string;
  admin?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  logFormat: LogFormat;
}

export function registerProxy(program: Command, setExit: SetExitCode): void {
  program
    .command("proxy")
    .description("Run a gateway or sidecar proxy configured over xDS by a meshgate control plane")
    .addOption(new Option("--role <role>", "what this proxy is").choices(["gateway", "sidecar"]).default("gateway"))
    .requiredOption("--xds <address>", "the control plane's ADS: HOST:PORT, or unix:///path/to/xds.sock (trusted local socket of `meshgate up`)")
    .option("--gateway <namespace/name>", "the Gateway resource this proxy serves (--role gateway)")
    .option("--workload <namespace/name>", "the Workload this sidecar serves (--role sidecar)")
    .option("--workers <n>", "worker processes sharing the listeners (0: serve in this process; default: one per core for a gateway, 0 for a sidecar)")
    .option("--admin <host:port>", "admin endpoint (/readyz, /config_dump)")
    .option("--tls-cert <file>", "this proxy's SVID chain (PEM) for mTLS to the control plane")
    .option("--tls-key <file>", "the SVID's private key (PEM)")
    .option("--tls-ca <file>", "trust bundle (PEM) to verify the control plane")
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  meshgate proxy --role gateway --gateway infra/edge --xds 127.0.0.1:15012 \\\n    --tls-cert edge.pem --tls-key edge.key --tls-ca bundle.pem")
    .action(async (opts: ProxyFlags) => {
      const sidecar = opts.role === "sidecar";
      const flag = sidecar ? "--workload" : "--gateway";
      const ref = sidecar ? opts.workload : opts.gateway;
      if (ref === undefined) throw new UsageError(`--role ${opts.role} needs ${flag} NAMESPACE/NAME`);
      if ((sidecar ? opts.gateway : opts.workload) !== undefined) throw new UsageError(`${sidecar ? "--gateway" : "--workload"} does not go with --role ${opts.role}`);
      const [namespace, name, ...rest] = ref.split("/");
      if (!namespace || !name || rest.length > 0) throw new UsageError(`${flag} must be NAMESPACE/NAME, got "${ref}"`);
      // A sidecar serves one application's traffic: one process is plenty.
      const workers = Number(opts.workers ?? (sidecar ? 0 : availableParallelism()));
      if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a whole number, got "${opts.workers}"`);
      const { target, credentials: xdsCredentials } = await xdsConnection(opts);
      const logger = createLogger({ format: opts.logFormat }).child(sidecar ? { workload: ref } : { gateway: ref });
      let credentials: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
      let channelOptions: grpc.ChannelOptions | undefined;
      if (!(xdsCredentials instanceof grpc.ChannelCredentials)) {
        if (xdsCredentials.warning) logger.warn({ xds: target }, xdsCredentials.warning);
        xdsCredentials.logger = logger;
        credentials = xdsCredentials.get;
        // The control plane is checked by SPIFFE ID, not name; a name (not the dialled IP) as
        // SNI keeps Node from warning that an IP address is not a valid TLS server name.
        channelOptions = { "grpc.ssl_target_name_override": xdsCredentials.serverName };
      } else {
        credentials = xdsCredentials;
      }
      // Workers log the same way as this process.
      process.env.MESHGATE_LOG_FORMAT = opts.logFormat;
      const runtime = await ProxyRuntime.start({ nodeId: `${sidecar ? "sidecar" : "gateway"}~${namespace}~${name}`, xdsTarget: target, credentials, ...(channelOptions ? { channelOptions } : {}), workers, logger });
      let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined;
      if (opts.admin) {
        const a = parseHostPort(opts.admin);
        if (!a) throw new UsageError(`--admin must be HOST:PORT, got "${opts.admin}"`);
        admin = await startAdminServer(a.host, a.port, { ready: () => runtime.ready(), configDump: () => runtime.configDump() });
        logger.info({ admin: `${admin.address.address}:${admin.address.port}` }, "admin endpoint listening");
      }
      logger.info({ xds: target, workers }, `${opts.role} proxy started`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, "shutting down");
          void runtime
            .close()
            .then(() => new Promise<void>((done) => (admin ? admin.server.close(() => done()) : done())))
            .then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        // Started by `meshgate up`: when it goes away (even killed), so does this proxy.
        if (process.env.MESHGATE_SUPERVISED === "1" && process.send) {
          process.once("disconnect", () => stop("parent exited"));
          process.channel?.unref(); // the channel alone must not keep this process alive
        }
      });
      setExit(0);
    });
}

async function xdsConnection(opts: ProxyFlags): Promise<{ target: string; credentials: grpc.ChannelCredentials | SvidFileCredentials }> {
  if (opts.xds.startsWith("unix:")) return { target: opts.xds, credentials: grpc.credentials.createInsecure() };
  const a = parseHostPort(opts.xds);
  if (!a) throw new UsageError(`--xds must be HOST:PORT or unix:///path, got "${opts.xds}"`);
  const target = `${a.host}:${a.port}`;
  const given = [opts.tlsCert, opts.tlsKey, opts.tlsCa].filter(Boolean).length;
  if (given === 0) return { target, credentials: grpc.credentials.createInsecure() };
  if (given !== 3) throw new UsageError("--tls-cert, --tls-key and --tls-ca go together (mTLS to the control plane)");
  // Loaded only here: the certificate checks use the PKI library, which a proxy on the
  // local socket of `meshgate up` (every sidecar) never needs.
  const { SvidFileCredentials } = await import("./xds-credentials.js");
  return { target, credentials: new SvidFileCredentials({ cert: opts.tlsCert!, key: opts.tlsKey!, ca: opts.tlsCa! }) };
}
