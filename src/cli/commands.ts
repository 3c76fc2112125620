// The list of commands; one line per command module. Each module is imported only when its
// command runs: a sidecar (`meshgate proxy`) must not carry the control plane, the
// translator and the PKI library in its memory just because they share one executable.

import type { Command } from "commander";

export type SetExitCode = (code: number) => void;
type Register = (program: Command, setExit: SetExitCode) => void;

const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  validate: async () => (await import("./validate.js")).registerValidate,
  up: async () => (await import("./up.js")).registerUp,
  proxy: async () => (await import("./proxy.js")).registerProxy,
  pki: async () => (await import("./pki.js")).registerPki,
  trust: async () => (await import("./trust.js")).registerTrust,
  status: async () => (await import("./status.js")).registerStatus,
};

/**
 * Registers the command `argv` names, or every command when it names none of them
 * (`--help`, `--version`, a typo: commander then lists or suggests them all).
 */
export async function registerCommands(program: Command, setExit: SetExitCode, argv: readonly string[] = []): Promise<void> {
  const named = argv[0] !== undefined ? COMMANDS[argv[0]] : undefined;
  const chosen = named ? [named] : Object.values(COMMANDS);
  for (const register of await Promise.all(chosen.map((load) => load()))) register(program, setExit);
}
