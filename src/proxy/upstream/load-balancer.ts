// Picks the endpoint for each attempt among the usable ones. Built per set of usable
// hosts (rebuilt when health, ejection or EDS changes it), so a pick is a few array
// reads: no allocation on the request path.

import type { LbKind } from "./cluster-config.js";
import type { Host } from "./host.js";

export interface LoadBalancer {
  /** `avoid`: the host of the previous attempt; another is picked when one exists. */
  pick(avoid?: Host): Host | undefined;
}

export function createLoadBalancer(kind: LbKind, hosts: readonly Host[], choiceCount: number, random: () => number = Math.random): LoadBalancer {
  if (hosts.length === 0) return EMPTY;
  const weights = hosts.map((h) => h.weight);
  const equal = weights.every((w) => w === weights[0]);
  let pickOnce: () => Host;
  switch (kind) {
    case "round-robin":
      pickOnce = equal ? roundRobin(hosts, random) : smoothWeightedRoundRobin(hosts, weights);
      break;
    case "random":
      pickOnce = equal ? () => hosts[(random() * hosts.length) | 0]! : weightedRandom(hosts, weights, random);
      break;
    case "least-request":
      pickOnce = leastRequest(hosts, weights, equal, choiceCount, random);
      break;
  }
  if (hosts.length === 1) {
    const only = hosts[0]!;
    return { pick: () => only };
  }
  return {
    pick(avoid?: Host): Host {
      const h = pickOnce();
      if (h !== avoid) return h;
      // A retry: another endpoint exists, so take the next one (retries are rare; O(n) is fine).
      return hosts[(hosts.indexOf(h) + 1) % hosts.length]!;
    },
  };
}

const EMPTY: LoadBalancer = { pick: () => undefined };

function roundRobin(hosts: readonly Host[], random: () => number): () => Host {
  // Start at a random offset so proxies started together do not all hit the first host.
  let next = (random() * hosts.length) | 0;
  return () => {
    const h = hosts[next]!;
    next = next + 1 === hosts.length ? 0 : next + 1;
    return h;
  };
}

/** nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c. */
function smoothWeightedRoundRobin(hosts: readonly Host[], weights: readonly number[]): () => Host {
  const current = new Float64Array(hosts.length);
  let total = 0;
  for (const w of weights) total += w;
  return () => {
    let best = 0;
    for (let i = 0; i < hosts.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    return hosts[best]!;
  };
}

function weightedRandom(hosts: readonly Host[], weights: readonly number[], random: () => number): () => Host {
  const cumulative = new Float64Array(hosts.length);
  let total = 0;
  for (let i = 0; i < hosts.length; i++) cumulative[i] = total += weights[i]!;
  return () => {
    const r = random() * total;
    let lo = 0;
    let hi = hosts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return hosts[lo]!;
  };
}

/**
 * Power of `choiceCount` choices: sample candidates, keep the one with the fewest active
 * requests. With unequal weights candidates are sampled by weight and compared by
 * active requests per unit of weight, so a heavier host takes proportionally more.
 */
function leastRequest(hosts: readonly Host[], weights: readonly number[], equal: boolean, choiceCount: number, random: () => number): () => Host {
  if (equal && choiceCount === 2) {
    // Two distinct candidates: with two endpoints the less busy one always wins.
    const n = hosts.length;
    return () => {
      const i = (random() * n) | 0;
      const a = hosts[i]!;
      const b = hosts[(i + 1 + ((random() * (n - 1)) | 0)) % n]!;
      return b.active < a.active ? b : a;
    };
  }
  const sample = equal ? () => hosts[(random() * hosts.length) | 0]! : weightedRandom(hosts, weights, random);
  return () => {
    let best = sample();
    let bestScore = (best.active + 1) / best.weight;
    for (let i = 1; i < choiceCount; i++) {
      const h = sample();
      const score = (h.active + 1) / h.weight;
      if (score < bestScore) {
        best = h;
        bestScore = score;
      }
    }
    return best;
  };
}
