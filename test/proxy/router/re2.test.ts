import { test } from "node:test";
import assert from "node:assert/strict";
import { fullMatchRegex, literalPrefix, Re2Error, regexRewrite, translateRe2 } from "../../../src/proxy/router/re2.js";

const full = (p: string, s: string) => fullMatchRegex(p).test(s);

test("full match: the whole input must match, alternation included", () => {
  assert.equal(full("/a/[0-9]+", "/a/12"), true);
  assert.equal(full("/a/[0-9]+", "/a/12/x"), false);
  assert.equal(full("/a/[0-9]+", "x/a/12"), false);
  assert.equal(full("a|ab", "ab"), true);
  assert.equal(full("^/x$", "/x"), true, "explicit anchors are harmless");
});

test("RE2 syntax JavaScript lacks or reads differently is rewritten", () => {
  assert.equal(full("(?i)/Shop", "/SHOP"), true, "leading flag group");
  assert.equal(full("(?s)a.b", "a\nb"), true);
  assert.equal(full("a.b", "a\nb"), false, ". stops at newline only");
  assert.equal(full("a.b", "a\rb"), true, "RE2's . matches \\r (JavaScript's does not)");
  assert.equal(full("(?P<id>[0-9]+)", "42"), true, "(?P<name>");
  assert.equal(full("\\A/x\\z", "/x"), true, "\\A and \\z");
  assert.equal(full("\\Q/a.b*\\E", "/a.b*"), true, "\\Q...\\E quotes");
  assert.equal(full("\\Q/a.b*\\E", "/axbb"), false);
  assert.equal(full("[[:digit:]]+-[[:alpha:]]", "12-x"), true, "POSIX classes");
  assert.equal(full("[[:xdigit:][:space:]]+", "ab 12"), true);
  assert.equal(full("\\s", "\u00a0"), false, "\\s is ASCII whitespace in RE2");
  assert.equal(full("\\s", "\t"), true);
  assert.equal(full("[]a]+", "]a]"), true, "] first in a class is a literal");
  assert.equal(full("\\x{41}\\x42", "AB"), true);
  assert.equal(full("\\-\\/\\.", "-/."), true, "escaped punctuation");
});

test("what RE2 (or this engine) refuses is refused", () => {
  for (const p of ["(?=a)a", "(?!a)b", "(?<=a)b", "(?<!a)b", "(a)\\1", "\\pL", "\\p{Greek}", "a(?i)b", "(?m)^a$", "(?U)a+", "\\C", "\\Z", "[[:^alpha:]]", "[[:nope:]]", "a\\", "[a-", "(a", "\\y", "\\x{1F600}"]) {
    assert.throws(() => translateRe2(p), Re2Error, p);
  }
});

test("regex rewrite: global replacement, \\N groups, \\0 the match, $ is literal", () => {
  const apply = (p: string, sub: string, s: string) => {
    const r = regexRewrite(p, sub);
    return s.replace(r.pattern, r.substitution);
  };
  assert.equal(apply("^/service/([^/]+)(/.*)$", "\\2/instance/\\1", "/service/foo/v1/api"), "/v1/api/instance/foo");
  assert.equal(apply("one", "two", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/two/zzz");
  assert.equal(apply("^/.*$", "/replaced", "/a/b"), "/replaced");
  assert.equal(apply("^/strip/*", "/", "/strip/a"), "/a");
  assert.equal(apply("(b)", "[\\0\\1]$1\\\\", "abc"), "a[bb]$1\\c");
  assert.equal(apply("(a)", "\\10", "a"), "a0", "a digit after a reference stays a digit");
  assert.throws(() => regexRewrite("(a)", "\\2"), Re2Error);
  assert.throws(() => regexRewrite("a", "\\q"), Re2Error);
});

test("literal prefix: what every match starts with, conservative", () => {
  assert.equal(literalPrefix("/api/v[0-9]+/.*"), "/api/v");
  assert.equal(literalPrefix("^/api\\.x/y"), "/api.x/y");
  assert.equal(literalPrefix("/apis?/x"), "/api");
  assert.equal(literalPrefix("/a|/b"), "");
  assert.equal(literalPrefix("(?i)/a"), "");
  assert.equal(literalPrefix("/[^/]+/Health"), "/");
  assert.equal(literalPrefix("\\d+"), "");
});
