// @ts-check
// ratings: the stars each reviewer gave. GET /ratings/<id> answers JSON; it calls no
// other service.

import { runService, sendJson } from "./lib/service.js";

const RATINGS = Object.freeze({ Reviewer1: 5, Reviewer2: 4 });

runService({
  name: "ratings",
  defaultPort: 9080,
  handler(_req, res, url) {
    const m = /^\/ratings\/(\d{1,9})$/.exec(url.pathname);
    if (!m) {
      sendJson(res, 404, { error: "not found: use GET /ratings/<product id>" });
      return;
    }
    sendJson(res, 200, { id: Number(m[1]), ratings: RATINGS });
  },
});
