// The control plane of `meshgate up`: every configuration the watcher puts in force is
// compiled (model -> IR -> Envoy resources) and served over ADS. A compile failure keeps
// the last good snapshot serving; SVIDs are renewed at half life by rebuilding the same
// configuration under a new version (`<config>+certs.<n>`), so proxies pick up new
// certificates the way they pick up any change. SVIDs that fall due close together are
// renewed by one rebuild; the control plane's own SVID (presented on the mTLS xDS port)
// is renewed with them and swapped into the running server.

import { resolve } from "node:path";
import { translate } from "../translate/index.js";
import type { IrSnapshot } from "../ir/index.js";
import type { Logger } from "../telemetry/logger.js";
import { AdsServer } from "../xds/ads-server.js";
import { ConvergenceTracker, type SyncReport } from "../xds/convergence.js";
import { rateLimitServiceConfig, type RateLimitServiceDomain } from "../xds/rate-limit-service-config.js";
import { SnapshotBuilder } from "../xds/resources/build-snapshots.js";
import type { AppliedConfig } from "./config-watcher.js";
import { MeshCertificates } from "./mesh-ca.js";
import { checkMeshTrust, type TrustProblem } from "./trust-check.js";

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface ControlPlaneOptions {
  /** Managed CAs live here (`<stateDir>/pki`). */
  readonly stateDir: string;
  /** Plaintext ADS: proxyless gRPC clients and local tools; never serves secrets. */
  readonly xds: Address;
  /** mTLS ADS: proxies authenticate with their SVID and get their own secrets. Needs a Mesh. */
  readonly xdsTls?: Address;
  /**
   * Local ADS on this Unix socket path (created 0600; a stale file is replaced): for the
   * proxies this process starts itself, which get the secrets of the node id they claim.
   */
  readonly xdsLocal?: string;
  readonly debounceMs?: number;
  /** Where proxies reach the global rate limit service (default 127.0.0.1:18081). */
  readonly rateLimitService?: Address;
  /**
   * The global rate limits (the rate limit service's domains) of each configuration
   * compiled, called before its resources are served, so the service knows a limit
   * before any proxy sends its descriptors. Not called for a configuration that fails.
   */
  readonly onRateLimits?: (config: readonly RateLimitServiceDomain[]) => void;
  readonly logger: Logger;
}

export interface CompileFailure {
  readonly version: number;
  readonly reason: string;
  readonly at: Date;
}

/** One configuration compiled and handed to the ADS servers: how long each phase took (ms). */
export interface CompileReport {
  readonly version: string;
  /** When the snapshot was handed to the ADS servers (epoch ms); pushes follow their debounce. */
  readonly servedAt: number;
  readonly translateMs: number;
  /** Issuing or loading the mesh CAs and SVIDs the configuration needs. */
  readonly certificatesMs: number;
  /** IR -> encoded Envoy resources for every proxy. */
  readonly snapshotMs: number;
  readonly encoded: number;
  readonly reused: number;
}

/** setTimeout's limit; renewals further away are re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Renewal rebuilds are at least this far apart, whatever the certificates say: a
 * certificate that could never be renewed into the future must not spin the process.
 */
const MIN_RENEWAL_INTERVAL_MS = 1000;

export class ControlPlane {
  readonly tracker = new ConvergenceTracker();
  readonly certificates: MeshCertificates;
  readonly #builder: SnapshotBuilder;
  readonly #log: Logger;
  readonly #plaintext: AdsServer;
  #tls: AdsServer | undefined;
  #local: AdsServer | undefined;
  #ir: IrSnapshot | undefined;
  #identities = new Map<string, string>();
  #renewals = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  #lastRenewalAt = 0;
  #lastFailure: CompileFailure | undefined;
  #lastCompile: CompileReport | undefined;
  #trustProblems: readonly TrustProblem[] = [];
  #ports: { xds: number; xdsTls?: number; xdsLocal?: string } = { xds: 0 };

  private constructor(readonly options: ControlPlaneOptions) {
    this.#log = options.logger;
    this.certificates = new MeshCertificates(`${options.stateDir}/pki`);
    this.#builder = new SnapshotBuilder(this.certificates);
    const common = { tracker: this.tracker, logger: this.#log, ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}) };
    this.#plaintext = new AdsServer({ ...common, security: { mode: "plaintext" } });
    if (options.xdsLocal !== undefined) this.#local = new AdsServer({ ...common, security: { mode: "local" } });
  }

  /** Binds the plaintext xDS port and the local socket; the mTLS port is bound at the first configuration with a Mesh. */
  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const cp = new ControlPlane(options);
    cp.#ports.xds = await cp.#plaintext.listen(`${options.xds.host}:${options.xds.port}`);
    if (cp.#local && options.xdsLocal !== undefined) {
      try {
        const path = resolve(options.xdsLocal);
        await cp.#local.listen(path);
        cp.#ports.xdsLocal = path;
      } catch (e) {
        await cp.close();
        throw e;
      }
    }
    return cp;
  }

  /** The bound xDS endpoints: TCP ports, and the local socket's absolute path. */
  get ports(): { readonly xds: number; readonly xdsTls?: number; readonly xdsLocal?: string } {
    return this.#ports;
  }

  get lastFailure(): CompileFailure | undefined {
    return this.#lastFailure;
  }

  /**
   * Gateway -> mesh Service links of the configuration in force whose two sides do not
   * trust each other's root (see trust-check.ts); empty when every link can verify.
   */
  get trustProblems(): readonly TrustProblem[] {
    return this.#trustProblems;
  }

  /** The last configuration compiled and served, with its phase durations. */
  get lastCompile(): CompileReport | undefined {
    return this.#lastCompile;
  }

  /** Compiles and serves a configuration; on failure the previous snapshot keeps serving. */
  async apply(config: AppliedConfig): Promise<boolean> {
    const t0 = performance.now();
    try {
      const ir = translate(config.result.model, config.version, this.options.rateLimitService ? { rateLimitService: this.options.rateLimitService } : {});
      const t1 = performance.now();
      await this.certificates.prepare(config.result.model.meshes);
      await this.#ensureTls();
      const t2 = performance.now();
      const set = this.#builder.build(ir);
      // Part of the compile: limits the service cannot be given reject the configuration.
      const rateLimits = rateLimitServiceConfig(ir);
      const t3 = performance.now();
      this.options.onRateLimits?.(rateLimits);
      this.#ir = ir;
      this.#renewals = 0;
      this.#identities = new Map(ir.proxies.filter((p) => p.identity !== undefined).map((p) => [p.id, p.identity!]));
      // Identities this configuration no longer serves are not renewed any more.
      this.certificates.retain(ir.proxies.flatMap((p) => p.secrets.flatMap((s) => (s.kind === "svid" ? [s.spiffeId] : []))));
      this.#serve(set);
      this.#refreshTls();
      this.#lastFailure = undefined;
      this.#checkTrust(ir);
      const ms = (x: number) => Math.round(x * 10) / 10;
      const report: CompileReport = { version: set.version, servedAt: Date.now(), translateMs: ms(t1 - t0), certificatesMs: ms(t2 - t1), snapshotMs: ms(t3 - t2), ...this.#builder.stats };
      this.#lastCompile = report;
      this.#log.info(
        { version: set.version, proxies: ir.proxies.length, clusters: ir.clusters.size, routeTables: ir.routeTables.size, ms: Math.round(t3 - t0), translateMs: report.translateMs, certificatesMs: report.certificatesMs, snapshotMs: report.snapshotMs, encoded: report.encoded, reused: report.reused },
        "configuration compiled and served",
      );
      this.#scheduleRenewal();
      return true;
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.#lastFailure = { version: config.version, reason, at: new Date() };
      this.#log.error({ version: config.version, err: reason }, "configuration could not be compiled; proxies keep the last good configuration");
      return false;
    }
  }

  /** Reports (logs, and keeps for /debug/trustz) the links that cannot verify. Never fails a compile. */
  #checkTrust(ir: IrSnapshot): void {
    try {
      this.#trustProblems = checkMeshTrust(ir, this.certificates);
    } catch (e) {
      this.#trustProblems = [];
      this.#log.error({ err: e instanceof Error ? e.message : String(e) }, "the trust check failed");
      return;
    }
    for (const p of this.#trustProblems) {
      this.#log.warn({ gateway: p.caller, service: p.service, missing: p.missing.map((m) => `${m.verifier} lacks Mesh ${m.mesh}'s root`) }, `trust mismatch: ${p.message}. Fix it with one root for both meshes, or by trusting both roots (meshgate status lists the steps); diagnose: ${p.doctor}`);
    }
  }

  #serve(set: Parameters<AdsServer["update"]>[0]): void {
    this.#plaintext.update(set);
    this.#tls?.update(set);
    this.#local?.update(set);
  }

  async #ensureTls(): Promise<void> {
    const at = this.options.xdsTls;
    if (!at || this.#tls || this.certificates.trustDomains().length === 0) return;
    const id = this.certificates.controlPlaneIdentity();
    this.#tls = new AdsServer({
      tracker: this.tracker,
      logger: this.#log,
      ...(this.options.debounceMs !== undefined ? { debounceMs: this.options.debounceMs } : {}),
      security: {
        mode: "mtls",
        rootCaPem: this.certificates.trustBundle(this.certificates.trustDomains()),
        certChainPem: id.certChainPem,
        privateKeyPem: id.keyPem,
        identityOf: (nodeId) => this.#identities.get(nodeId),
      },
    });
    this.#ports.xdsTls = await this.#tls.listen(`${at.host}:${at.port}`);
    this.#log.info({ identity: id.spiffeId }, "the mTLS xDS server presents the control plane's SVID");
  }

  /**
   * The mTLS xDS server presents the control plane's current SVID and trusts the current
   * roots: after a renewal (or a configuration that changed the meshes), new handshakes
   * use the new ones.
   */
  #refreshTls(): void {
    // Without a Mesh there is nothing to present; the server keeps what it has.
    if (!this.#tls || this.certificates.trustDomains().length === 0) return;
    try {
      const id = this.certificates.controlPlaneIdentity();
      this.#tls.updateTls({ rootCaPem: this.certificates.trustBundle(this.certificates.trustDomains()), certChainPem: id.certChainPem, privateKeyPem: id.keyPem });
    } catch (e) {
      this.#log.error({ err: e instanceof Error ? e.message : String(e) }, "the mTLS xDS server keeps its previous certificate");
    }
  }

  #scheduleRenewal(): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const next = this.certificates.nextRenewal();
    if (!next) return;
    const delay = Math.max(0, next.getTime() - Date.now(), this.#lastRenewalAt + MIN_RENEWAL_INTERVAL_MS - Date.now());
    this.#renewTimer = setTimeout(() => this.#renew(delay <= MAX_TIMER_MS), Math.min(delay, MAX_TIMER_MS));
    this.#renewTimer.unref();
  }

  #renew(due: boolean): void {
    const ir = this.#ir;
    if (!ir) return;
    if (due) {
      this.#lastRenewalAt = Date.now();
      try {
        const renewed = this.certificates.renewDue();
        if (renewed > 0) {
          this.#renewals++;
          const set = this.#builder.build(ir, `${ir.version}+certs.${this.#renewals}`);
          this.#serve(set);
          this.#refreshTls();
          this.#log.info({ version: set.version, renewed }, "certificates renewed and served");
        }
      } catch (e) {
        this.#log.error({ err: e instanceof Error ? e.message : String(e) }, "certificate renewal failed; retrying in 60 s");
        this.#renewTimer = setTimeout(() => this.#renew(true), 60_000);
        this.#renewTimer.unref();
        return;
      }
    }
    this.#scheduleRenewal();
  }

  syncz(): SyncReport {
    return this.tracker.report();
  }

  async close(): Promise<void> {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    await Promise.all([this.#plaintext.close(), this.#tls?.close(), this.#local?.close()]);
  }
}
