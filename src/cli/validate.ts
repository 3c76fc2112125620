// `meshgate validate --config PATH...`: reads the configuration, prints every problem
// and each resource's status. Exit 0 when valid, 1 when not, 2 on usage errors.

import type { Command } from "commander";
import { Option } from "commander";
import { loadSources } from "../config/index.js";
import { buildModel } from "../model/index.js";
import type { SetExitCode } from "./commands.js";
import { collect } from "./options.js";
import { buildReport, renderJson, renderText, renderYaml } from "./validation-report.js";

export function registerValidate(program: Command, setExit: SetExitCode): void {
  program
    .command("validate")
    .description("Check configuration files and show each resource's status")
    .requiredOption("-c, --config <path>", "a YAML file or a directory (read recursively); repeatable", collect)
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json", "yaml"]).default("text"))
    .addHelpText("after", "\nExample:\n  meshgate validate --config examples/bookinfo\n  meshgate validate -c gateway.yaml -c routes/ --output json")
    .action(async (opts: { config: string[]; output: "text" | "json" | "yaml" }) => {
      const cwd = process.cwd();
      const sources = await loadSources(opts.config);
      const result = buildModel(sources.documents, sources.problems);
      const report = buildReport(result, sources.files, cwd);
      const out = opts.output === "json" ? renderJson(report) : opts.output === "yaml" ? renderYaml(report) : renderText(result, sources.files, cwd);
      process.stdout.write(out);
      setExit(report.valid ? 0 : 1);
    });
}
