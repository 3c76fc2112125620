// @ts-check
// productpage: the page users see. GET /productpage asks details and reviews (in
// parallel, through the sidecar, with the inbound trace headers) and renders one HTML
// page: the book, its details, the reviews with their stars when the reviews version
// gives some, and which reviews version answered. A dependency that fails, answers an
// error or is slower than UPSTREAM_TIMEOUT_MS costs its section, never the page.

import { createOutbound, envInt, envUrl, propagatedHeaders, runService, sendJson } from "./lib/service.js";

const detailsUrl = /** @type {URL} */ (envUrl("DETAILS_URL", "http://details.bookinfo.svc.cluster.local:9080"));
const reviewsUrl = /** @type {URL} */ (envUrl("REVIEWS_URL", "http://reviews.bookinfo.svc.cluster.local:9080"));
const timeoutMs = envInt("UPSTREAM_TIMEOUT_MS", 2_500);
const outbound = createOutbound(envUrl("MESHGATE_OUTBOUND_PROXY", undefined));

const PRODUCTS = Object.freeze([
  {
    id: 0,
    title: "The Comedy of Errors",
    descriptionHtml:
      'A <a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Shakespeare comedy</a> of two sets of identical twins separated at birth, and the confusion when all four turn up in one town on the same day.',
  },
]);

/** @param {unknown} value */
function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * GET a JSON document from a dependency; a failure becomes `{ error }` for the page.
 * @param {string} what
 * @param {URL} service
 * @param {string} path
 * @param {Record<string, string>} headers
 * @returns {Promise<{ body: Record<string, unknown> } | { error: string }>}
 */
async function fetchSection(what, service, path, headers) {
  try {
    const r = await outbound.getJson(service, path, headers, timeoutMs);
    if (r.status !== 200 || typeof r.body !== "object" || r.body === null) return { error: `${what} service answered ${r.status}` };
    return { body: /** @type {Record<string, unknown>} */ (r.body) };
  } catch (err) {
    return { error: `${what} service is unavailable: ${err instanceof Error ? err.message : String(err)}` };
  }
}

const DETAIL_FIELDS = /** @type {const} */ ([
  ["author", "Author"],
  ["year", "Year"],
  ["type", "Type"],
  ["pages", "Pages"],
  ["publisher", "Publisher"],
  ["language", "Language"],
  ["ISBN-10", "ISBN-10"],
  ["ISBN-13", "ISBN-13"],
]);

/** @param {{ body: Record<string, unknown> } | { error: string }} details */
function renderDetails(details) {
  if ("error" in details) {
    return `<section id="details" class="error"><h2>Book Details</h2><p>Sorry, product details are currently unavailable for this book.</p><p class="reason">${esc(details.error)}</p></section>`;
  }
  const rows = DETAIL_FIELDS.filter(([key]) => details.body[key] !== undefined)
    .map(([key, label]) => `<tr><th>${esc(label)}</th><td>${esc(details.body[key])}</td></tr>`)
    .join("");
  return `<section id="details"><h2>Book Details</h2><table>${rows}</table></section>`;
}

/** @param {unknown} rating */
function renderRating(rating) {
  if (typeof rating !== "object" || rating === null) return "";
  const r = /** @type {{ stars?: unknown, color?: unknown, error?: unknown }} */ (rating);
  if (typeof r.error === "string") return `<p class="rating error">${esc(r.error)}</p>`;
  if (typeof r.stars !== "number" || !Number.isInteger(r.stars)) return "";
  const n = Math.max(0, Math.min(5, r.stars));
  const color = r.color === "red" ? "red" : "black";
  return `<p class="rating" data-stars="${n}" style="color:${color}">${"&#9733;".repeat(n)}${"&#9734;".repeat(5 - n)} <span class="stars-text">${n} of 5 stars (${color})</span></p>`;
}

/** @param {{ body: Record<string, unknown> } | { error: string }} reviews */
function renderReviews(reviews) {
  if ("error" in reviews) {
    return `<section id="reviews" class="error"><h2>Book Reviews</h2><p>Sorry, product reviews are currently unavailable for this book.</p><p class="reason">${esc(reviews.error)}</p></section>`;
  }
  const list = Array.isArray(reviews.body.reviews) ? reviews.body.reviews : [];
  const items = list
    .map((/** @type {{ reviewer?: unknown, text?: unknown, rating?: unknown }} */ review) =>
      `<blockquote class="review"><p>${esc(review.text ?? "")}</p><footer>${esc(review.reviewer ?? "anonymous")}</footer>${renderRating(review.rating)}</blockquote>`,
    )
    .join("");
  const version = typeof reviews.body.version === "string" ? reviews.body.version : "unknown";
  return `<section id="reviews"><h2>Book Reviews</h2>${items}<p class="served-by">Reviews served by: <span id="reviews-version">reviews-${esc(version)}</span></p></section>`;
}

/**
 * @param {typeof PRODUCTS[number]} product
 * @param {Record<string, string>} headers
 */
async function renderPage(product, headers) {
  const [details, reviews] = await Promise.all([
    fetchSection("details", detailsUrl, `/details/${product.id}`, headers),
    fetchSection("reviews", reviewsUrl, `/reviews/${product.id}`, headers),
  ]);
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Simple Bookstore App</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}section{margin:1em 0}.error{color:#a00}th{text-align:left;padding-right:1em}blockquote{border-left:3px solid #ccc;margin:1em 0;padding-left:1em}</style>
</head>
<body>
<h1 id="title">${esc(product.title)}</h1>
<p id="summary">${product.descriptionHtml}</p>
${renderDetails(details)}
${renderReviews(reviews)}
</body>
</html>
`;
}

runService({
  name: "productpage",
  defaultPort: 9080,
  async handler(req, res, url) {
    const path = url.pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Simple Bookstore App</title></head><body><p><a href="/productpage">The product page</a></p></body></html>\n');
      return;
    }
    if (path === "/productpage") {
      const html = await renderPage(/** @type {typeof PRODUCTS[number]} */ (PRODUCTS[0]), propagatedHeaders(req));
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html) });
      res.end(req.method === "HEAD" ? undefined : html);
      return;
    }
    if (path === "/api/v1/products") {
      sendJson(res, 200, PRODUCTS.map(({ id, title, descriptionHtml }) => ({ id, title, descriptionHtml })));
      return;
    }
    const m = /^\/api\/v1\/products\/(\d{1,9})(?:\/(details|reviews))?$/.exec(path);
    const product = m ? PRODUCTS.find((p) => p.id === Number(m[1])) : undefined;
    if (m && product) {
      if (m[2] === undefined) {
        sendJson(res, 200, product);
        return;
      }
      const section = m[2] === "details"
        ? await fetchSection("details", detailsUrl, `/details/${product.id}`, propagatedHeaders(req))
        : await fetchSection("reviews", reviewsUrl, `/reviews/${product.id}`, propagatedHeaders(req));
      if ("error" in section) sendJson(res, 503, { error: section.error });
      else sendJson(res, 200, section.body);
      return;
    }
    sendJson(res, 404, { error: "not found" });
  },
  onClose: () => outbound.close(),
});
