// Authorization matchers as values: "which peers may talk to me" is data that can be
// built, compared and printed, not a closure hidden in a callback.

import type { SpiffeId } from "./spiffe-id.js";
import type { TrustDomain } from "./trust-domain.js";

export type SpiffeIdMatcher =
  | { readonly kind: "id"; readonly id: SpiffeId }
  | { readonly kind: "member-of"; readonly trustDomain: TrustDomain }
  | { readonly kind: "any-of"; readonly matchers: readonly SpiffeIdMatcher[] };

export const matchId = (id: SpiffeId): SpiffeIdMatcher => Object.freeze({ kind: "id", id });
export const matchMemberOf = (trustDomain: TrustDomain): SpiffeIdMatcher => Object.freeze({ kind: "member-of", trustDomain });
export const matchAny = (...matchers: SpiffeIdMatcher[]): SpiffeIdMatcher =>
  Object.freeze({ kind: "any-of", matchers: Object.freeze([...matchers]) });

export function matches(matcher: SpiffeIdMatcher, id: SpiffeId): boolean {
  switch (matcher.kind) {
    case "id":
      return matcher.id.equals(id);
    case "member-of":
      return id.memberOf(matcher.trustDomain);
    case "any-of":
      return matcher.matchers.some((m) => matches(m, id));
  }
}

export function describeMatcher(matcher: SpiffeIdMatcher): string {
  switch (matcher.kind) {
    case "id":
      return matcher.id.toString();
    case "member-of":
      return `any ID in ${matcher.trustDomain.name}`;
    case "any-of":
      return matcher.matchers.map(describeMatcher).join(" or ");
  }
}
