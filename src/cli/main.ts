#!/usr/bin/env node
// The `meshgate` command line. Each command lives in its own module; this file only
// wires them up and maps failures to exit codes (1: the input is invalid, 2: usage).

import { Command, CommanderError } from "commander";
import { MeshgateError } from "../errors.js";
import { registerCommands } from "./commands.js";

export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("meshgate")
    .description("One control plane and one trust root for an API gateway and a service mesh")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError("(run with --help for usage)");
  let exitCode = 0;
  await registerCommands(
    program,
    (code) => {
      exitCode = code;
    },
    argv,
  );
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof MeshgateError) {
      process.stderr.write(`meshgate: ${e.message} [${e.code}]\n`);
      return e.code === "ERR_USAGE" || e.code === "ERR_CONFIG_PATH_NOT_FOUND" ? EXIT_USAGE : EXIT_INVALID;
    }
    throw e;
  }
}

const VERSION = "0.1.0";

// Run only when executed, not when imported by tests.
const invoked = process.argv[1] ?? "";
if (/(^|[\\/])main\.(ts|js)$/.test(invoked) || invoked.endsWith("meshgate")) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`meshgate: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
