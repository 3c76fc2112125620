// The list of commands; one line per command module.

import type { Command } from "commander";
import { registerPki } from "./pki.js";
import { registerProxy } from "./proxy.js";
import { registerStatus } from "./status.js";
import { registerTrust } from "./trust.js";
import { registerUp } from "./up.js";
import { registerValidate } from "./validate.js";

export type SetExitCode = (code: number) => void;

export function registerCommands(program: Command, setExit: SetExitCode): void {
  registerValidate(program, setExit);
  registerUp(program, setExit);
  registerProxy(program, setExit);
  registerPki(program, setExit);
  registerTrust(program, setExit);
  registerStatus(program, setExit);
}
