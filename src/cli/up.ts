// `meshgate up --config PATH...`: run everything embedded on this machine until Ctrl-C.

import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { MeshgateError, UsageError } from "../errors.js";
import { parseRedisUrl } from "../ratelimit/index.js";
import { parseHostPort } from "../runtime/admin-server.js";
import { startEmbedded } from "../runtime/embedded.js";
import { createLogger, type LogFormat } from "../telemetry/logger.js";
import type { SetExitCode } from "./commands.js";
import { gatewayUrlLines } from "./gateway-urls.js";
import { collect } from "./options.js";

export function registerUp(program: Command, setExit: SetExitCode): void {
  program
    .command("up")
    .description("Run the control plane and its proxies on this machine, following configuration changes")
    .requiredOption("-c, --config <path>", "a YAML file or a directory (read recursively); repeatable", collect)
    .option("--admin <host:port>", "admin endpoint (/readyz, /config_dump, /debug/syncz)", "127.0.0.1:15000")
    .option("--xds <host:port>", "plaintext xDS (ADS) for proxyless gRPC clients and tools; never serves secrets", "127.0.0.1:15010")
    .option("--xds-tls <host:port>", "mTLS xDS (ADS): proxies authenticate with their SVID and get their secrets", "127.0.0.1:15012")
    .option("--xds-debounce <ms>", "collect configuration changes for this long before pushing to proxies", "100")
    .option("--ratelimit-service <host:port>", "where proxies reach the global rate limit service (BackendTrafficPolicy rateLimit.type Global); with --redis it runs here", "127.0.0.1:18081")
    .addOption(new Option("--redis <url>", "run the global rate limit service, counting in this Redis (redis://[:password@]HOST[:PORT][/DB], rediss:// for TLS); without it global rate limits are not enforced").env("MESHGATE_REDIS_URL"))
    .option("--state-dir <dir>", "where managed CA keys and certificates are kept (keys 0600), and the local xDS socket xds.sock (0600)", ".meshgate")
    .option("--debounce <ms>", "wait this long after a file change before reloading", "50")
    .option("--gateway-workers <n>", "worker processes per gateway proxy, sharing its listeners", String(availableParallelism()))
    .option("--no-workloads", "do not run the Workloads' commands (the applications run elsewhere)")
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExamples:\n  meshgate up --config examples/bookinfo --admin 127.0.0.1:15000 --xds 127.0.0.1:15010\n  meshgate up --config examples/bookinfo --redis redis://127.0.0.1:6379")
    .action(async (opts: { config: string[]; admin: string; xds: string; xdsTls: string; xdsDebounce: string; ratelimitService: string; redis?: string; stateDir: string; debounce: string; gatewayWorkers: string; workloads: boolean; logFormat: LogFormat }) => {
      const address = (flag: string, value: string) => {
        const a = parseHostPort(value);
        if (!a) throw new UsageError(`${flag} must be HOST:PORT, got "${value}"`);
        return a;
      };
      const millis = (flag: string, value: string) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number of milliseconds, got "${value}"`);
        return n;
      };
      const admin = address("--admin", opts.admin);
      const xds = address("--xds", opts.xds);
      const xdsTls = address("--xds-tls", opts.xdsTls);
      const rateLimitService = address("--ratelimit-service", opts.ratelimitService);
      if (opts.redis !== undefined) {
        try {
          parseRedisUrl(opts.redis);
        } catch (e) {
          // The message never repeats the value: it may hold a password.
          if (e instanceof MeshgateError) throw new UsageError(`--redis (or MESHGATE_REDIS_URL): ${e.message}`);
          throw e;
        }
      }
      const debounceMs = millis("--debounce", opts.debounce);
      const xdsDebounceMs = millis("--xds-debounce", opts.xdsDebounce);
      const workers = Number(opts.gatewayWorkers);
      if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--gateway-workers must be a whole number of at least 1, got "${opts.gatewayWorkers}"`);
      const logger = createLogger({ format: opts.logFormat });
      const runtime = await startEmbedded({ configPaths: opts.config, admin, debounceMs, logger, controlPlane: { xds, xdsTls, xdsLocal: join(opts.stateDir, "xds.sock"), stateDir: opts.stateDir, debounceMs: xdsDebounceMs, rateLimitService }, gateways: { workers, logFormat: opts.logFormat }, workloads: opts.workloads, ...(opts.redis !== undefined ? { rateLimit: { redisUrl: opts.redis } } : {}) });
      const model = runtime.watcher.current?.result.model;
      const urls = model ? gatewayUrlLines(model) : [];
      process.stdout.write(`meshgate is up. Admin: ${runtime.adminUrl}/readyz  ${runtime.adminUrl}/config_dump  ${runtime.adminUrl}/debug/syncz\nxDS: ${runtime.xdsAddress} (plaintext), ${runtime.xdsLocalTarget} (local, this user only)\n${runtime.rateLimits.describe()}\n${urls.map((l) => `${l}\n`).join("")}Press Ctrl-C to stop.\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, "shutting down");
          void runtime.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      setExit(0);
    });
}
