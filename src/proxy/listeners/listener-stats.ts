// Counters of what the listeners cut short, named after Envoy's HTTP connection manager
// statistics so dashboards that know Envoy read them the same way. Plain fields: they are
// bumped on the request path.

export class ListenerStats {
  /** request_timeout expired before the whole request arrived (downstream_rq_timeout), HTTP/1.1 and HTTP/2. */
  downstreamRqTimeout = 0;
  /** stream_idle_timeout expired on a stream (downstream_rq_idle_timeout). */
  downstreamRqIdleTimeout = 0;
  /** request_headers_timeout expired: an HTTP/1.1 request head, or an HTTP/2 header block, left unfinished (downstream_rq_header_timeout). */
  downstreamRqHeaderTimeout = 0;
  /** Connections switched to another protocol (downstream_cx_upgrades_total). */
  downstreamCxUpgradesTotal = 0;
  /** Upgraded connections still open (downstream_cx_upgrades_active). */
  downstreamCxUpgradesActive = 0;
}
