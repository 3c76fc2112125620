// Header mutations (requestHeadersToAdd / ToRemove and the response ones) at the four
// levels Envoy knows: weighted cluster, route, virtual host, route configuration.
//
// Envoy applies each level as "remove, then add", levels from the most specific to the
// most general, so a general level's overwrite wins; `mostSpecificHeaderMutationsWins`
// reverses the level order. The levels are flattened into one op list per route (and per
// weighted cluster) when the configuration is compiled.

import type { HeaderMap } from "../contracts.js";
import { bool, list, object, optStr, str, wrappedBool, type ConfigPath, type Obj } from "../config-reader.js";
import type { HeaderMutations, HeaderOp, HeaderValuePart, HeaderValueTemplate, HeaderVars } from "./route-decision.js";

export const NO_MUTATIONS: HeaderMutations = Object.freeze({ ops: Object.freeze([]) as readonly HeaderOp[] });

/** One level's mutations for one direction. */
export type LevelOps = readonly HeaderOp[];

const APPEND_ACTIONS: Record<string, HeaderOp["op"]> = {
  APPEND_IF_EXISTS_OR_ADD: "append",
  ADD_IF_ABSENT: "add-if-absent",
  OVERWRITE_IF_EXISTS_OR_ADD: "set",
  OVERWRITE_IF_EXISTS: "overwrite-if-exists",
};

/** `<side>HeadersToRemove` then `<side>HeadersToAdd` of one message. */
export function levelOps(m: Obj, side: "request" | "response", where: ConfigPath): LevelOps {
  const ops: HeaderOp[] = [];
  const removes = where.at(`${side}HeadersToRemove`);
  list(m[`${side}HeadersToRemove`], removes).forEach((n, i) => {
    const name = checkName(str(n, removes.at(i)), removes.at(i));
    ops.push({ op: "remove", name });
  });
  const adds = where.at(`${side}HeadersToAdd`);
  list(m[`${side}HeadersToAdd`], adds).forEach((v, i) => ops.push(headerValueOption(v, adds.at(i))));
  return ops;
}

function headerValueOption(v: unknown, where: ConfigPath): HeaderOp {
  const m = object(v, where, ["header", "append", "appendAction", "keepEmptyValue"]);
  const h = object(m.header, where.at("header"), ["key", "value", "rawValue"]);
  const name = checkName(str(h.key, where.at("header.key")), where.at("header.key"));
  let raw = optStr(h.value, where.at("header.value"));
  if (h.rawValue !== undefined) {
    if (raw !== undefined) where.at("header").fail("value and rawValue are both set");
    raw = Buffer.from(str(h.rawValue, where.at("header.rawValue")), "base64").toString("latin1");
  }
  const append = wrappedBool(m.append, where.at("append"));
  if (append !== undefined && m.appendAction !== undefined) where.fail("append and appendAction are both set");
  let op: HeaderOp["op"] = "append";
  if (m.appendAction !== undefined) {
    const a = APPEND_ACTIONS[str(m.appendAction, where.at("appendAction"))];
    if (!a) return where.at("appendAction").fail(`unknown action ${JSON.stringify(m.appendAction)}`);
    op = a;
  } else if (append === false) op = "set";
  return { op, name, value: template(raw ?? "", where.at("header.value")), keepEmptyValue: bool(m.keepEmptyValue, where.at("keepEmptyValue")) } as HeaderOp;
}

function checkName(raw: string, where: ConfigPath): string {
  const name = raw.toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) where.fail(`${JSON.stringify(raw)} is not a valid header name (pseudo-headers cannot be modified)`);
  if (name === "host") where.fail("the host header cannot be modified this way (use a host rewrite)");
  return name;
}

const VARIABLES = new Set([
  "DOWNSTREAM_REMOTE_ADDRESS",
  "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
  "DOWNSTREAM_REMOTE_PORT",
  "DOWNSTREAM_LOCAL_ADDRESS",
  "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
  "DOWNSTREAM_LOCAL_PORT",
  "PROTOCOL",
]);

/** Envoy's header value syntax: `%VAR%` variables, `%%` a literal percent sign. */
export function template(value: string, where: ConfigPath): HeaderValueTemplate {
  if (!value.includes("%")) return value;
  const parts: HeaderValuePart[] = [];
  let text = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== "%") {
      text += c;
      i++;
      continue;
    }
    if (value[i + 1] === "%") {
      text += "%";
      i += 2;
      continue;
    }
    const end = value.indexOf("%", i + 1);
    if (end < 0) where.fail(`unterminated variable in ${JSON.stringify(value)}`);
    const variable = value.slice(i + 1, end);
    const req = /^REQ\(([^)]+)\)$/.exec(variable);
    if (text) parts.push(text);
    text = "";
    if (req) parts.push({ variable: "REQ", header: req[1]!.toLowerCase() });
    else if (VARIABLES.has(variable)) parts.push({ variable: variable as Exclude<Extract<HeaderValuePart, object>["variable"], "REQ"> });
    else where.fail(`variable %${variable}% is not supported`);
    i = end + 1;
  }
  if (text) parts.push(text);
  return parts;
}

/** Flattens levels (most specific first) into the order Envoy applies them. */
export function mergeLevels(levels: readonly LevelOps[], mostSpecificWins: boolean): HeaderMutations {
  const ordered = mostSpecificWins ? [...levels].reverse() : levels;
  const ops = ordered.flat();
  return ops.length === 0 ? NO_MUTATIONS : { ops };
}

// ---- applying ---------------------------------------------------------------------------

function addressWithPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return "";
  const host = address.includes(":") ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

function format(t: HeaderValueTemplate, vars: HeaderVars | undefined): string {
  if (typeof t === "string") return t;
  let out = "";
  for (const p of t) {
    if (typeof p === "string") {
      out += p;
      continue;
    }
    switch (p.variable) {
      case "DOWNSTREAM_REMOTE_ADDRESS":
        out += addressWithPort(vars?.remoteAddress, vars?.remotePort);
        break;
      case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
        out += vars?.remoteAddress ?? "";
        break;
      case "DOWNSTREAM_REMOTE_PORT":
        out += vars?.remotePort ?? "";
        break;
      case "DOWNSTREAM_LOCAL_ADDRESS":
        out += addressWithPort(vars?.localAddress, vars?.localPort);
        break;
      case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
        out += vars?.localAddress ?? "";
        break;
      case "DOWNSTREAM_LOCAL_PORT":
        out += vars?.localPort ?? "";
        break;
      case "PROTOCOL":
        out += vars?.protocol ?? "";
        break;
      case "REQ": {
        const v = vars?.requestHeaders?.[p.header!];
        out += v === undefined ? "" : typeof v === "string" ? v : v.join(",");
        break;
      }
    }
  }
  return out;
}

/**
 * Applies mutations to `headers` in place. `append` adds another value (the header is
 * then sent once per value); `set` replaces every value.
 */
export function applyHeaderMutations(mutations: HeaderMutations, headers: HeaderMap, vars?: HeaderVars): void {
  const ops = mutations.ops;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    if (o.op === "remove") {
      if (headers[o.name] !== undefined) delete headers[o.name];
      continue;
    }
    const current = headers[o.name];
    if (o.op === "add-if-absent" && current !== undefined) continue;
    if (o.op === "overwrite-if-exists" && current === undefined) continue;
    const value = format(o.value, vars);
    if (value === "" && !o.keepEmptyValue) continue;
    if (o.op === "append" && current !== undefined) headers[o.name] = typeof current === "string" ? [current, value] : [...current, value];
    else headers[o.name] = value;
  }
}
