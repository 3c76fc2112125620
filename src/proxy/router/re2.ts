// RE2 patterns (Envoy's safe_regex) as JavaScript regular expressions.
//
// The syntaxes mostly agree; where they differ the pattern is rewritten so it matches
// what RE2 matches (`.` also matches `\r`, `\s` is ASCII whitespace, `\A`, `\z`, `\Q..\E`,
// `(?P<name>`, POSIX classes, leading flag groups) and what RE2 refuses
// (lookaround, backreferences) is refused, as Envoy would NACK it. Unicode classes
// (`\pL`) and flags in the middle of a pattern are refused too: Node 20's engine cannot
// express them without changing other semantics.

export class Re2Error extends Error {}

export interface JsRegex {
  readonly source: string;
  readonly flags: string;
  /** Capturing groups in the pattern. */
  readonly groups: number;
}

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

const SPACE = "\\t\\n\\f\\r ";
const isWordChar = (c: string): boolean => /[0-9A-Za-z_]/.test(c);

export function translateRe2(pattern: string): JsRegex {
  let i = 0;
  let flags = "";
  // Flag groups at the very start apply to the whole pattern: JavaScript flags.
  for (let m = /^\(\?([a-zA-Z-]+)\)/.exec(pattern); m; m = /^\(\?([a-zA-Z-]+)\)/.exec(pattern.slice(i))) {
    for (const f of m[1]!) {
      if (f === "i" || f === "s") {
        if (!flags.includes(f)) flags += f;
      } else {
        throw new Re2Error(`flag ${JSON.stringify(f)} in ${JSON.stringify(m[0])} is not supported`);
      }
    }
    i += m[0].length;
  }
  const dotAll = flags.includes("s");
  let out = "";
  let groups = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "\\") {
      const [text, used] = escape(pattern, i, false);
      out += text;
      i += used;
    } else if (c === "[") {
      const [text, used] = charClass(pattern, i);
      out += text;
      i += used;
    } else if (c === "(") {
      if (pattern[i + 1] !== "?") {
        groups++;
        out += "(";
        i++;
        continue;
      }
      const rest = pattern.slice(i);
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (named) {
        groups++;
        out += `(?<${named[1]}>`;
        i += named[0].length;
      } else if (rest.startsWith("(?:")) {
        out += "(?:";
        i += 3;
      } else if (/^\(\?(=|!|<=|<!)/.test(rest)) {
        throw new Re2Error("lookaround assertions are not RE2 syntax");
      } else {
        throw new Re2Error(`group ${JSON.stringify(rest.slice(0, 5))} is not supported (flags are only allowed at the start of the pattern)`);
      }
    } else if (c === ".") {
      out += dotAll ? "." : "[^\\n]";
      i++;
    } else {
      out += c;
      i++;
    }
  }
  let compiled: RegExp;
  try {
    compiled = new RegExp(out, flags);
  } catch (e) {
    throw new Re2Error(`not a valid regular expression: ${(e as Error).message}`);
  }
  void compiled;
  return { source: out, flags, groups };
}

/** `\x` at `pattern[i]` -> [JavaScript text, characters consumed]. */
function escape(pattern: string, i: number, inClass: boolean): [string, number] {
  const c = pattern[i + 1];
  if (c === undefined) throw new Re2Error("trailing backslash");
  if (/[1-9]/.test(c)) throw new Re2Error("backreferences are not RE2 syntax");
  if (c === "0") throw new Re2Error("octal escapes are not supported");
  switch (c) {
    case "A":
      if (inClass) break;
      return ["^", 2];
    case "z":
      if (inClass) break;
      return ["$", 2];
    case "Q": {
      if (inClass) break;
      const end = pattern.indexOf("\\E", i + 2);
      const literal = pattern.slice(i + 2, end < 0 ? undefined : end);
      return [literal.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"), end < 0 ? pattern.length - i : end + 2 - i];
    }
    case "a":
      return ["\\x07", 2];
    case "f":
    case "n":
    case "r":
    case "t":
    case "v":
    case "d":
    case "D":
    case "w":
    case "W":
      return [`\\${c}`, 2];
    case "b":
    case "B":
      if (inClass) break;
      return [`\\${c}`, 2];
    case "s":
      return [inClass ? SPACE : `[${SPACE}]`, 2];
    case "S":
      if (inClass) break;
      return [`[^${SPACE}]`, 2];
    case "x": {
      const braced = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i));
      if (braced) {
        const code = parseInt(braced[1]!, 16);
        if (code > 0xffff) throw new Re2Error("code points above U+FFFF are not supported");
        return [`\\u${code.toString(16).padStart(4, "0")}`, braced[0].length];
      }
      const short = /^\\x[0-9A-Fa-f]{2}/.exec(pattern.slice(i));
      if (short) return [short[0], 4];
      throw new Re2Error("invalid \\x escape");
    }
  }
  if (isWordChar(c)) throw new Re2Error(`escape \\${c} is not supported`);
  return [`\\${c}`, 2];
}

/** `[...]` at `pattern[i]` -> [JavaScript text, characters consumed]. */
function charClass(pattern: string, start: number): [string, number] {
  let i = start + 1;
  let out = "[";
  if (pattern[i] === "^") {
    out += "^";
    i++;
  }
  // A `]` right after the opening bracket is a literal in RE2.
  if (pattern[i] === "]") {
    out += "\\]";
    i++;
  }
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "]") return [`${out}]`, i + 1 - start];
    if (c === "\\") {
      const [text, used] = escape(pattern, i, true);
      out += text;
      i += used;
    } else if (c === "[") {
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(i));
      if (posix) {
        const set = POSIX[posix[2]!];
        if (!set) throw new Re2Error(`unknown character class [:${posix[2]}:]`);
        if (posix[1]) throw new Re2Error(`negated character class [:^${posix[2]}:] is not supported`);
        out += set;
        i += posix[0].length;
      } else {
        out += "\\[";
        i++;
      }
    } else {
      out += c;
      i++;
    }
  }
  throw new Re2Error("missing closing ]");
}

/** A regex that must match the whole input (Envoy's safe_regex matching). */
export function fullMatchRegex(pattern: string): RegExp {
  const t = translateRe2(pattern);
  return new RegExp(`^(?:${t.source})$`, t.flags);
}

/**
 * Envoy's regex_rewrite: every match replaced. The RE2 substitution (`\1`, `\0` the whole
 * match, `\\` a backslash) becomes a String.prototype.replace replacement.
 */
export function regexRewrite(pattern: string, substitution: string): { pattern: RegExp; substitution: string } {
  const t = translateRe2(pattern);
  let out = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    if (c === "$") out += "$$";
    else if (c !== "\\") out += c;
    else {
      const n = substitution[++i];
      if (n === "\\") out += "\\";
      else if (n !== undefined && /[0-9]/.test(n)) {
        const group = Number(n);
        if (group > t.groups) throw new Re2Error(`substitution refers to group ${group}, the pattern has ${t.groups}`);
        // Two-digit form, so a digit after the reference stays a literal digit.
        out += group === 0 ? "$&" : `$0${group}`;
      } else throw new Re2Error(`invalid escape in substitution ${JSON.stringify(substitution)}`);
    }
  }
  return { pattern: new RegExp(t.source, `${t.flags}g`), substitution: out };
}

/**
 * The literal text every match of a full-match pattern starts with ("" when unknown), so
 * a route table can skip regex routes whose prefix a path does not have. Conservative:
 * any alternation or flag gives "".
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes("|") || pattern.startsWith("(?")) return "";
  let i = pattern.startsWith("^") ? 1 : pattern.startsWith("\\A") ? 2 : 0;
  let out = "";
  while (i < pattern.length) {
    const c = pattern[i]!;
    let literal: string | undefined;
    let used = 1;
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n !== undefined && !isWordChar(n)) {
        literal = n;
        used = 2;
      }
    } else if (!".^$*+?()[]{}|".includes(c)) {
      literal = c;
    }
    if (literal === undefined) break;
    const next = pattern[i + used];
    // A quantified last character is optional or repeated: stop before it.
    if (next === "*" || next === "?" || next === "{" || next === "+") break;
    out += literal;
    i += used;
  }
  return out;
}
