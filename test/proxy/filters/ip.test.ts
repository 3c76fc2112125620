// Addresses and ranges: the proxy's masked_remote_address values must equal what the
// translator put in the descriptors (resources/rate-limits.ts maskedNetwork), and CIDR
// matching must hold at every prefix length, IPv4 and IPv6.

import { test } from "node:test";
import assert from "node:assert/strict";
import { compileCidr, maskedAddress, parseIp } from "../../../src/proxy/filters/ip.js";
import { ConfigPath, FILTER_CONFIG } from "../../../src/proxy/config-reader.js";
import { maskedNetwork } from "../../../src/xds/resources/rate-limits.js";

test("masked_remote_address agrees with the translator's descriptor values", () => {
  const cases: [string, number][] = [
    ["10.1.2.3", 8],
    ["10.1.2.3", 0],
    ["10.1.2.3", 32],
    ["192.168.255.1", 23],
    ["2001:db8:aa:bb::1", 32],
    ["2001:db8:0:0:1:0:0:1", 128],
    ["2001:db8::1", 0],
    ["fe80::abcd:1", 10],
    ["::1", 127],
  ];
  for (const [address, len] of cases) {
    const ip = parseIp(address)!;
    const got = maskedAddress(ip, ip.v6 ? 32 : len, ip.v6 ? len : 128);
    assert.equal(got, maskedNetwork(`${address}/${len}`)!.value, `${address}/${len}`);
  }
});

test("CIDR ranges match exactly their addresses", () => {
  const w = new ConfigPath(FILTER_CONFIG, "f", "x");
  const v4 = compileCidr({ addressPrefix: "10.128.0.0", prefixLen: { value: 9 } }, w);
  assert.ok(v4(parseIp("10.128.0.1")) && v4(parseIp("10.255.255.255")));
  assert.ok(!v4(parseIp("10.127.255.255")) && !v4(parseIp("11.128.0.0")) && !v4(parseIp("::ffff:10.0.0.1")));
  assert.ok(v4(parseIp("::ffff:10.200.0.1")), "IPv4-mapped IPv6 is IPv4");
  const v6 = compileCidr({ addressPrefix: "2001:db8:8000::", prefixLen: { value: 33 } }, w);
  assert.ok(v6(parseIp("2001:db8:ffff::1")) && !v6(parseIp("2001:db8:7fff::1")) && !v6(parseIp("10.0.0.1")));
  const all6 = compileCidr({ addressPrefix: "::", prefixLen: {} }, w);
  assert.ok(all6(parseIp("2001::1")) && !all6(parseIp("1.2.3.4")));
  const host = compileCidr({ addressPrefix: "2001:db8::1", prefixLen: { value: 128 } }, w);
  assert.ok(host(parseIp("2001:db8:0:0:0:0:0:1")) && !host(parseIp("2001:db8::2")));
  assert.equal(parseIp("not-an-ip"), undefined);
  assert.equal(parseIp("1:2:3:4:5:6:7:8:9"), undefined);
  assert.throws(() => compileCidr({ addressPrefix: "10.0.0.0", prefixLen: { value: 33 } }, w), /prefixLen/);
});
