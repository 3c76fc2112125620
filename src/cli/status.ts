// `meshgate status`: which configuration every connected proxy runs, read from a control
// plane's admin endpoint (/debug/syncz). One row per proxy and a column per xDS type, like
// `istioctl proxy-status`, then the one line that matters: is version V live everywhere.
// Exit 0 when every proxy is SYNCED (or none is connected), 1 when any is STALE or
// NACKED, so scripts can wait for a rollout: `until meshgate status; do sleep 1; done`.
// Then the control plane's trust problems (/debug/trustz): gateway -> mesh Service links
// whose two sides do not trust each other's root, with the fixes. They are printed, not
// counted in the exit status: they are no rollout state, and waiting would not end them.

import type { Command } from "commander";
import { Option } from "commander";
import { AdminUnreachableError, UsageError } from "../errors.js";
import { parseHostPort } from "../runtime/admin-server.js";
import type { SyncReport } from "../xds/convergence.js";
import type { TrustProblem } from "../runtime/trust-check.js";
import type { SetExitCode } from "./commands.js";

const COLUMNS = ["CDS", "LDS", "EDS", "RDS", "SDS"] as const;

export function registerStatus(program: Command, setExit: SetExitCode): void {
  program
    .command("status")
    .description("Show which configuration version each connected proxy has ACKed (SYNCED, STALE, NACKED)")
    .option("--admin <host:port>", "the control plane's admin endpoint", "127.0.0.1:15000")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText(
      "after",
      "\nExit status: 0 when every proxy is SYNCED, 1 when any is STALE or NACKED (or the admin endpoint cannot be read).\n\nExamples:\n  meshgate status\n  meshgate status --admin 127.0.0.1:15000 --output json\n  until meshgate status >/dev/null; do sleep 1; done   # wait for a rollout",
    )
    .action(async (opts: { admin: string; output: "text" | "json" }) => {
      const admin = parseHostPort(opts.admin);
      if (!admin) throw new UsageError(`--admin must be HOST:PORT, got "${opts.admin}"`);
      const host = admin.host.includes(":") ? `[${admin.host}]` : admin.host;
      const report = await fetchSyncz(`http://${host}:${admin.port}/debug/syncz`);
      const trust = await fetchTrustz(`http://${host}:${admin.port}/debug/trustz`);
      process.stdout.write(opts.output === "json" ? JSON.stringify(trust ? { ...report, trust } : report, null, 2) + "\n" : renderStatus(report, trust ?? []));
      setExit(report.proxies.every((p) => p.status === "SYNCED") ? 0 : 1);
    });
}

async function fetchSyncz(url: string): Promise<SyncReport> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new AdminUnreachableError(url, cause?.code ?? cause?.message ?? (e as Error).message);
  }
  if (res.status === 404) throw new AdminUnreachableError(url, "this process serves no xDS (no /debug/syncz); point --admin at a control plane");
  if (!res.ok) throw new AdminUnreachableError(url, `HTTP ${res.status}`);
  const body = (await res.json().catch(() => undefined)) as SyncReport | undefined;
  if (!body || !Array.isArray(body.proxies) || typeof body.summary !== "object") throw new AdminUnreachableError(url, "the answer is not a sync report");
  return body;
}

/** The control plane's trust problems; undefined when it does not serve them (an older or other process). */
async function fetchTrustz(url: string): Promise<TrustProblem[] | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { problems?: unknown };
    return Array.isArray(body.problems) ? (body.problems as TrustProblem[]) : undefined;
  } catch {
    return undefined;
  }
}

/** The table, the NACKs, the summary line, then the trust problems. */
export function renderStatus(report: SyncReport, trust: readonly TrustProblem[] = []): string {
  const rows = [["PROXY", "ROLE", ...COLUMNS, "VERSION", "XDS"]];
  for (const p of report.proxies) rows.push([p.id, p.role, ...COLUMNS.map((c) => p.types[c]?.status ?? "-"), p.version ?? "-", p.flavour]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = report.proxies.length ? rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 2))).join("")) : [];
  const nacks: string[] = [];
  for (const p of report.proxies)
    for (const c of COLUMNS) {
      const t = p.types[c];
      if (t?.status === "NACKED" && t.nacked) nacks.push(`  ${p.id} ${c} version ${t.nacked.version}: ${t.nacked.detail}`);
    }
  const problems = trust.flatMap((p) => [`  ${p.message}`, ...p.fixes.map((f) => `    fix: ${f}`), `    diagnose: ${p.doctor}`]);
  return [...lines, ...(lines.length ? [""] : []), ...(nacks.length ? ["Rejected (NACK):", ...nacks, ""] : []), report.summary.text, ...(problems.length ? ["", "Trust problems (mTLS on these links fails):", ...problems] : []), ""].join("\n");
}
