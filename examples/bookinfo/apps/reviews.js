// @ts-check
// reviews: two reviews of the book. One program, three versions, chosen by REVIEWS_VERSION:
//   v1  reviews only (never calls ratings)
//   v2  asks ratings for the stars and shows them black
//   v3  asks ratings for the stars and shows them red
// GET /reviews/<id> answers JSON naming the version, so the product page (and whoever
// watches a traffic split) can tell which one answered. When ratings fails or is slow,
// v2/v3 still answer, with an error in place of each rating.

import { createOutbound, envInt, envUrl, propagatedHeaders, runService, sendJson } from "./lib/service.js";

const VERSIONS = { v1: undefined, v2: "black", v3: "red" };

const version = process.env.REVIEWS_VERSION || "v1";
if (!Object.hasOwn(VERSIONS, version)) {
  process.stderr.write(`REVIEWS_VERSION must be one of ${Object.keys(VERSIONS).join(", ")}, got ${JSON.stringify(version)}\n`);
  process.exit(2);
}
const starColor = VERSIONS[/** @type {keyof typeof VERSIONS} */ (version)];
const ratingsUrl = /** @type {URL} */ (envUrl("RATINGS_URL", "http://ratings.bookinfo.svc.cluster.local:9080"));
const timeoutMs = envInt("UPSTREAM_TIMEOUT_MS", 1_000);
const outbound = createOutbound(envUrl("MESHGATE_OUTBOUND_PROXY", undefined));

const REVIEWS = Object.freeze([
  { reviewer: "Reviewer1", text: "Two pairs of twins and one long day of mistaken identity: fast, silly and a joy to read aloud." },
  { reviewer: "Reviewer2", text: "The farce never lets up. Some of the wordplay needs the footnotes, but the plot does not." },
]);

/**
 * The stars per reviewer, or the reason there are none.
 * @param {number} id
 * @param {Record<string, string>} headers
 * @returns {Promise<{ ratings: Record<string, number> } | { error: string }>}
 */
async function fetchRatings(id, headers) {
  try {
    const r = await outbound.getJson(ratingsUrl, `/ratings/${id}`, headers, timeoutMs);
    const body = /** @type {{ ratings?: unknown } | undefined} */ (r.body);
    if (r.status !== 200 || typeof body?.ratings !== "object" || body.ratings === null) {
      return { error: `ratings service answered ${r.status}` };
    }
    return { ratings: /** @type {Record<string, number>} */ (body.ratings) };
  } catch (err) {
    return { error: `ratings service is currently unavailable (${err instanceof Error ? err.message : String(err)})` };
  }
}

runService({
  name: `reviews-${version}`,
  defaultPort: 9080,
  async handler(req, res, url) {
    const m = /^\/reviews\/(\d{1,9})$/.exec(url.pathname);
    if (!m) {
      sendJson(res, 404, { error: "not found: use GET /reviews/<product id>" });
      return;
    }
    const id = Number(m[1]);
    const stars = starColor === undefined ? undefined : await fetchRatings(id, propagatedHeaders(req));
    const reviews = REVIEWS.map((review) => {
      if (stars === undefined || starColor === undefined) return { ...review };
      if ("error" in stars) return { ...review, rating: { error: stars.error } };
      const n = stars.ratings[review.reviewer];
      return typeof n === "number" ? { ...review, rating: { stars: n, color: starColor } } : { ...review };
    });
    sendJson(res, 200, { id, version, reviews });
  },
  onClose: () => outbound.close(),
});
