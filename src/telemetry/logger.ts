// Structured logs (pino). JSON for machines, or a compact text form for a terminal.
// Never pass secrets or key material as log fields: serializers below redact the
// well-known places they could appear.

import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

export type LogFormat = "text" | "json";
export type { Logger };

const REDACT = ["*.privateKey", "*.keyPem", "*.key", "*.password", "*.passphrase", "*.token", "*.authorization", "*.data"];

export function createLogger(options: { format?: LogFormat; level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const dest = options.destination ?? process.stderr;
  const stream = options.format === "json" ? dest : textStream(dest);
  return pino({ level: options.level ?? "info", base: undefined, redact: { paths: REDACT, censor: "[redacted]" } }, stream);
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

function textStream(dest: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          const { level, time, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
          const extra = Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
            .join(" ");
          const ts = new Date(time as number).toISOString().slice(11, 23);
          dest.write(`${ts} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${String(msg ?? "")}${extra ? " " + extra : ""}\n`);
        } catch {
          dest.write(line + "\n");
        }
      }
      cb();
    },
  });
}
