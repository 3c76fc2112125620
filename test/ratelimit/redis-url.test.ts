// The Redis URL of `meshgate up --redis`: what is accepted, what is refused (with a typed
// error that never repeats a password), and the redacted form shown to people.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRedisUrl } from "../../src/ratelimit/index.js";

test("redis:// and rediss:// URLs are accepted as given, with the password redacted for display", () => {
  assert.deepEqual(parseRedisUrl("redis://127.0.0.1:6379"), { url: "redis://127.0.0.1:6379", redacted: "redis://127.0.0.1:6379" });
  assert.deepEqual(parseRedisUrl("redis://:pw@redis.internal:6380/2"), { url: "redis://:pw@redis.internal:6380/2", redacted: "redis://:***@redis.internal:6380/2" });
  assert.equal(parseRedisUrl("rediss://app:p%40ss@[::1]/").redacted, "rediss://app:***@[::1]");
  assert.equal(parseRedisUrl("redis://user@host").redacted, "redis://user@host", "a user without a password stays");
});

test("unusable URLs fail with ERR_RATELIMIT_REDIS_URL and never echo the password", () => {
  const cases: [string, RegExp][] = [
    ["localhost:6379", /scheme must be redis:\/\/ or rediss:\/\//],
    ["http://:hunter2@127.0.0.1:6379", /scheme must be redis:\/\/ or rediss:\/\/ \(TLS\), got http:\/\//],
    ["not a url :hunter2", /expected redis:\/\//],
    ["redis://:hunter2@127.0.0.1:99999", /expected redis:\/\//],
    ["redis://:hunter2@127.0.0.1:6379/cache", /database number/],
    ["redis://:hunter2@127.0.0.1:6379?password=hunter2", /query options/],
    ["redis://", /no host/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => parseRedisUrl(value),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_RATELIMIT_REDIS_URL", value);
        assert.match(e.message, message, value);
        assert.ok(!e.message.includes("hunter2"), e.message);
        return true;
      },
    );
  }
});
