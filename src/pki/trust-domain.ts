// A SPIFFE trust domain name (the authority part of a SPIFFE ID), made only by parsing so
// that every TrustDomain in the program is valid per the SPIFFE ID specification.

import { TrustDomainInvalidError } from "../errors.js";

/** The specification limits a trust domain name to 255 bytes. */
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;

export class TrustDomain {
  private constructor(readonly name: string) {
    Object.freeze(this);
  }

  /**
   * Accepts a bare name (`example.org`) or the trust domain's own SPIFFE ID
   * (`spiffe://example.org`), as go-spiffe does.
   */
  static parse(input: string): TrustDomain {
    let name = input;
    if (input.includes("://")) {
      if (!input.startsWith("spiffe://")) throw new TrustDomainInvalidError(input, "scheme must be spiffe://");
      name = input.slice("spiffe://".length);
      if (name.includes("/")) throw new TrustDomainInvalidError(input, "a trust domain has no path");
    }
    const reason = trustDomainProblem(name);
    if (reason !== undefined) throw new TrustDomainInvalidError(input, reason);
    return new TrustDomain(name);
  }

  /** `spiffe://<name>`: the ID of the trust domain itself, also its URI name constraint. */
  get idString(): string {
    return `spiffe://${this.name}`;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}

/** Why a trust domain name is invalid, or undefined when it is valid. Shared with SpiffeId. */
export function trustDomainProblem(name: string): string | undefined {
  if (name.length === 0) return "trust domain is empty";
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) return `trust domain longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`;
  if (name.includes("@")) return "userinfo is not allowed";
  if (name.includes(":")) return "a port is not allowed";
  if (!TRUST_DOMAIN_CHARS.test(name)) {
    const bad = [...name].find((c) => !/[a-z0-9._-]/.test(c)) ?? "";
    return /[A-Z]/.test(bad)
      ? "trust domain must be lowercase"
      : `character ${JSON.stringify(bad)} is not allowed in a trust domain (only a-z 0-9 . - _)`;
  }
  return undefined;
}
