// @ts-check
// details: the book's publication facts. GET /details/<id> answers JSON for any product
// id (the demo catalogue has one book); it calls no other service.

import { runService, sendJson } from "./lib/service.js";

const BOOK = Object.freeze({
  author: "William Shakespeare",
  year: 1595,
  type: "paperback",
  pages: 200,
  publisher: "PublisherA",
  language: "English",
  "ISBN-10": "1234567890",
  "ISBN-13": "123-1234567890",
});

runService({
  name: "details",
  defaultPort: 9080,
  handler(_req, res, url) {
    const m = /^\/details\/(\d{1,9})$/.exec(url.pathname);
    if (!m) {
      sendJson(res, 404, { error: "not found: use GET /details/<product id>" });
      return;
    }
    sendJson(res, 200, { id: Number(m[1]), ...BOOK });
  },
});
