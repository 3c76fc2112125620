// SPIFFE IDs (`spiffe://<trust-domain>/<path>`) as immutable values made only by parsing,
// following the SPIFFE ID specification, plus the Kubernetes-style workload form
// `spiffe://<td>/ns/<namespace>/sa/<service-account>` that meshes use.

import { SpiffeIdInvalidError, TrustDomainInvalidError } from "../errors.js";
import { TrustDomain, trustDomainProblem } from "./trust-domain.js";

/** The specification caps a SPIFFE ID (as a URI) at 2048 bytes. */
export const MAX_SPIFFE_ID_LENGTH = 2048;

const SCHEME = "spiffe://";
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** Empty, or starting with "/" and made of valid segments. */
    readonly path: string,
  ) {
    Object.freeze(this);
  }

  static parse(input: string): SpiffeId {
    const fail = (reason: string): never => {
      throw new SpiffeIdInvalidError(input, reason);
    };
    if (input.length === 0) fail("empty");
    if (Buffer.byteLength(input) > MAX_SPIFFE_ID_LENGTH) fail(`longer than ${MAX_SPIFFE_ID_LENGTH} bytes`);
    if (!input.startsWith(SCHEME)) {
      fail(input.toLowerCase().startsWith(SCHEME) ? "scheme must be lowercase spiffe://" : "scheme must be spiffe://");
    }
    const rest = input.slice(SCHEME.length);
    if (rest.includes("?")) fail("a query is not allowed");
    if (rest.includes("#")) fail("a fragment is not allowed");
    if (rest.includes("%")) fail("percent-encoding is not allowed");
    const slash = rest.indexOf("/");
    const authority = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? "" : rest.slice(slash);
    const tdProblem = trustDomainProblem(authority);
    if (tdProblem !== undefined) fail(tdProblem);
    const pathReason = pathProblem(path);
    if (pathReason !== undefined) fail(pathReason);
    return new SpiffeId(TrustDomain.parse(authority), path);
  }

  /** Builds an ID from a trust domain and path segments; each segment is validated. */
  static fromSegments(trustDomain: TrustDomain, ...segments: string[]): SpiffeId {
    const joined = `${trustDomain.idString}${segments.map((s) => `/${s}`).join("")}`;
    for (const segment of segments) {
      // Checked one by one: "a/b" would otherwise pass as two valid segments.
      const reason = segment.includes("/") ? "a segment cannot contain /" : pathProblem(`/${segment}`);
      if (reason !== undefined) throw new SpiffeIdInvalidError(joined, `segment ${JSON.stringify(segment)}: ${reason}`);
    }
    return SpiffeId.parse(`${trustDomain.idString}${segments.map((s) => `/${s}`).join("")}`);
  }

  /** `spiffe://<td>/ns/<namespace>/sa/<serviceAccount>`. */
  static forServiceAccount(trustDomain: TrustDomain, namespace: string, serviceAccount: string): SpiffeId {
    return SpiffeId.fromSegments(trustDomain, "ns", namespace, "sa", serviceAccount);
  }

  /** Namespace and service account when the path has the `/ns/<ns>/sa/<sa>` form. */
  get workload(): { namespace: string; serviceAccount: string } | undefined {
    const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(this.path);
    return m ? { namespace: m[1]!, serviceAccount: m[2]! } : undefined;
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.equals(trustDomain);
  }

  equals(other: SpiffeId): boolean {
    return this.toString() === other.toString();
  }

  toString(): string {
    return `${this.trustDomain.idString}${this.path}`;
  }
}

/** Parses and returns undefined instead of throwing; for places that only ask "is this an ID". */
export function tryParseSpiffeId(input: string): SpiffeId | undefined {
  try {
    return SpiffeId.parse(input);
  } catch (e) {
    if (e instanceof SpiffeIdInvalidError || e instanceof TrustDomainInvalidError) return undefined;
    throw e;
  }
}

function pathProblem(path: string): string | undefined {
  if (path === "") return undefined;
  const segments = path.slice(1).split("/");
  for (const segment of segments) {
    if (segment === "") return path.endsWith("/") ? "trailing slash is not allowed" : "empty path segment";
    if (segment === "." || segment === "..") return "dot segments are not allowed";
    if (!SEGMENT_CHARS.test(segment)) {
      const bad = [...segment].find((c) => !/[A-Za-z0-9._-]/.test(c)) ?? "";
      return `character ${JSON.stringify(bad)} is not allowed in a path segment (only A-Z a-z 0-9 . - _)`;
    }
  }
  return undefined;
}
