// CA hot path benchmark: X.509-SVIDs from CSRs on one core, library path
// (@peculiar/x509) vs fast path (FastSvidIssuer), CSR (PEM) in -> signed PEM out.
// Run: taskset -c 0 node --import tsx bench/pki/run.ts   (see bench/pki/README.md)
// Every certificate of a sample from each path is checked with `openssl verify`.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FastSvidIssuer,
  SpiffeId,
  TrustDomain,
  createCsr,
  createIntermediateCa,
  createRootCa,
  encodePem,
  generateKeyPair,
  issueWorkloadSvidFromCsr,
} from "../../src/pki/index.js";

const CSRS = 200;
const FAST_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LIBRARY_SECONDS = Math.max(2, FAST_SECONDS / 2);

const td = TrustDomain.parse("bench.example");
const root = await createRootCa({ trustDomain: td });
const intermediate = await createIntermediateCa(root, { mesh: "bench" });
const csrs: string[] = [];
for (let i = 0; i < CSRS; i++) csrs.push(await createCsr(generateKeyPair("ec-p256").privateKey));
const ids = csrs.map((_, i) => SpiffeId.forServiceAccount(td, "bench", `sa-${i}`));

async function measure(name: string, seconds: number, issueOne: (i: number) => Promise<string> | string): Promise<{ name: string; perSecond: number; sample: string[] }> {
  for (let i = 0; i < 50; i++) await issueOne(i % CSRS); // warm-up
  const sample: string[] = [];
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    for (let k = 0; k < 20; k++, n++) {
      const pem = await issueOne(n % CSRS);
      if (n % 7 === 0 && sample.length < 100) sample.push(pem);
    }
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { name, perSecond: n / elapsed, sample };
}

const fast = new FastSvidIssuer(intermediate);
const results = [
  await measure("library (@peculiar/x509)", LIBRARY_SECONDS, async (i) => {
    const svid = await issueWorkloadSvidFromCsr(intermediate, csrs[i]!, { spiffeId: ids[i]! });
    return encodePem("CERTIFICATE", svid.certificate.raw);
  }),
  await measure("fast path (FastSvidIssuer)", FAST_SECONDS, (i) => fast.issueFromCsr(csrs[i]!, ids[i]!).certificatePem),
];

// Every sampled output must pass openssl verify -x509_strict.
const dir = mkdtempSync(join(tmpdir(), "meshgate-bench-"));
try {
  writeFileSync(join(dir, "root.pem"), root.certificatePem);
  writeFileSync(join(dir, "int.pem"), intermediate.certificatePem);
  for (const r of results) {
    const files = r.sample.map((pem, i) => {
      const f = join(dir, `${r.name.split(" ")[0]}-${i}.pem`);
      writeFileSync(f, pem);
      return f;
    });
    const v = spawnSync("openssl", ["verify", "-x509_strict", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "int.pem"), ...files], { encoding: "utf8" });
    if (v.status !== 0) throw new Error(`openssl verify failed for ${r.name}: ${v.stdout}${v.stderr}`);
    (r as { verified?: number }).verified = files.length;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}, CSR PEM (ECDSA P-256) in -> signed PEM out, CA key ECDSA P-256`);
console.log("path                          SVIDs/s   openssl-verified sample");
for (const r of results) console.log(`${r.name.padEnd(30)}${Math.round(r.perSecond).toString().padStart(7)}   ${(r as { verified?: number }).verified} OK`);
console.log(`speed-up: ${(results[1]!.perSecond / results[0]!.perSecond).toFixed(1)}x`);
