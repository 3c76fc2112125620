// Every command shares one executable, but a process loads only the command it runs: a
// sidecar (`meshgate proxy`) must not carry the control plane, the translator or the PKI
// library (~40 MB of a sidecar's memory). A child process records every module it
// resolves (a module.register resolve hook) while main() parses the command line.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { MODULE_TRACE_PROLOGUE } from "../helpers/module-trace.js";
import { ROOT } from "../helpers/cli.js";

const run = promisify(execFile);

async function loadedBy(argv: readonly string[]): Promise<string[]> {
  const script = `${MODULE_TRACE_PROLOGUE}
    const { main } = await import("./src/cli/main.ts");
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true; // the help text
    await main(${JSON.stringify(argv)});
    await new Promise((r) => setTimeout(r, 200));
    port1.close();
    write("\\n" + JSON.stringify(seen));
  `;
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, timeout: 60_000 });
  return JSON.parse(stdout.slice(stdout.lastIndexOf("\n") + 1)) as string[];
}

const has = (seen: readonly string[], part: string) => seen.some((u) => u.includes(part));

test("meshgate proxy loads neither the other commands nor the model, translator, control plane or PKI library", async () => {
  const seen = await loadedBy(["proxy", "--help"]);
  assert.ok(has(seen, "/src/cli/proxy.ts"), "the proxy command itself");
  for (const part of ["/src/cli/up.ts", "/src/cli/pki.ts", "/src/cli/trust.ts", "/src/model/", "/src/translate/", "/src/runtime/control-plane.ts", "/src/pki/", "/node_modules/@peculiar/"]) {
    assert.equal(has(seen, part), false, `${part} is not loaded by meshgate proxy`);
  }
});

test("meshgate --help still lists every command (all are loaded)", async () => {
  const seen = await loadedBy(["--help"]);
  for (const cmd of ["validate", "up", "proxy", "pki", "trust", "status"]) assert.ok(has(seen, `/src/cli/${cmd}.ts`), cmd);
});
