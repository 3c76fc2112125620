// `meshgate up --config PATH...`: run everything embedded on this machine until Ctrl-C.

import type { Command } from "commander";
import { Option } from "commander";
import { UsageError } from "../errors.js";
import { parseHostPort } from "../runtime/admin-server.js";
import { startEmbedded } from "../runtime/embedded.js";
import { createLogger, type LogFormat } from "../telemetry/logger.js";
import type { SetExitCode } from "./commands.js";
import { collect } from "./options.js";

export function registerUp(program: Command, setExit: SetExitCode): void {
  program
    .command("up")
    .description("Run the control plane and its proxies on this machine, following configuration changes")
    .requiredOption("-c, --config <path>", "a YAML file or a directory (read recursively); repeatable", collect)
    .option("--admin <host:port>", "admin endpoint (/readyz, /config_dump)", "127.0.0.1:15000")
    .option("--debounce <ms>", "wait this long after a file change before reloading", "200")
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExample:\n  meshgate up --config examples/bookinfo --admin 127.0.0.1:15000")
    .action(async (opts: { config: string[]; admin: string; debounce: string; logFormat: LogFormat }) => {
      const admin = parseHostPort(opts.admin);
      if (!admin) throw new UsageError(`--admin must be HOST:PORT, got "${opts.admin}"`);
      const debounceMs = Number(opts.debounce);
      if (!Number.isInteger(debounceMs) || debounceMs < 0) throw new UsageError(`--debounce must be a whole number of milliseconds, got "${opts.debounce}"`);
      const logger = createLogger({ format: opts.logFormat });
      const runtime = await startEmbedded({ configPaths: opts.config, admin, debounceMs, logger });
      process.stdout.write(`meshgate is up. Admin: ${runtime.adminUrl}/readyz  ${runtime.adminUrl}/config_dump\nPress Ctrl-C to stop.\n`);
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
