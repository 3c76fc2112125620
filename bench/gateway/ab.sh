#!/usr/bin/env bash
# A/B of meshgate's gateway CPU per request: two builds of meshgate (two checkouts, each with
# its dist/ built), the same TLS in -> mTLS out load as run.sh's M-meshgate-tls-mtls row, in
# interleaved pairs (A B, B A, A B, ...), so that a machine that drifts or is shared with
# other work weighs on both sides alike. The figure compared is the gateway worker's CPU time
# (utime + stime from /proc) over the run divided by the requests wrk completed: it does not
# depend on how much CPU the machine left to the proxy, unlike requests per second.
#
#   bench/gateway/ab.sh <checkout A> <checkout B>
#
#   core 0: this script, wrk, the backend nginx          core 1: the two meshgate instances
#
# When `perf stat` can count instructions here, the worker's instructions per request are
# reported as well: on a busy machine CPU time per request still moves with what the other
# processes do to caches and clocks, the instruction count hardly does.
#
# With NGINX=1, nginx doing the same job (conf/proxy.nginx.conf, one worker on core 1) is
# measured the same way in every round, as a third row N: the reference of the 0.5x target.
#
# LOAD=h2: HTTPS + HTTP/2 in (h2load -t1 -c$H2_C -m$H2_M, run.sh's H- rows) instead of HTTP/1.1.
#
# Env knobs (defaults): PAIRS=5 DUR=10 WARM=3 CONC=50 LOAD=h1 H2_C=10 H2_M=5 PATH_=/ NGINX=0
#   WORK=$TMPDIR/meshgate-bench-ab PORT_BASE=28000
#   MG_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"  extra node options for both instances (the
#   gateway proxy and its worker inherit them): profiles of the whole run, written at exit.
#   MG_NODE_ARGS_A / MG_NODE_ARGS_B: extra node options for one instance only (e.g. the same
#   checkout twice, B with --max-semi-space-size=2).
#   WORKERS_A=1 WORKERS_B=1: gateway workers per instance (all on core 1). With the same
#   checkout twice and WORKERS_B=2, the pairs compare CPU per request of two workers with
#   one (the figures then sum over B's workers; RSS is the largest worker's).
#
# Besides CPU, each measurement records the worker's RSS at the end of its load (rss_mb).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
A=$(cd "${1:?usage: ab.sh <checkout A> <checkout B>}" && pwd) || exit 1
B=$(cd "${2:?usage: ab.sh <checkout A> <checkout B>}" && pwd) || exit 1
PAIRS=${PAIRS:-5}; DUR=${DUR:-10}; WARM=${WARM:-3}; CONC=${CONC:-50}; URL_PATH=${PATH_:-/}; NGINX=${NGINX:-0}
LOAD=${LOAD:-h1}; H2_C=${H2_C:-10}; H2_M=${H2_M:-5}
WORK=${WORK:-${TMPDIR:-/tmp}/meshgate-bench-ab}; P=${PORT_BASE:-28000}
read -r -a NODE_ARGS <<<"${MG_NODE_ARGS:-}"
read -r -a NODE_ARGS_A <<<"${MG_NODE_ARGS_A:-}"
read -r -a NODE_ARGS_B <<<"${MG_NODE_ARGS_B:-}"
BE_HTTP=$((P + 1)); BE_STATUS=$((P + 2)); BE_MTLS=$((P + 443)); BE_TLS=$((P + 444))
STAMP=$(date +%Y%m%d-%H%M%S); PKI=$WORK/pki; RUN=$WORK/$STAMP
mkdir -p "$RUN/tmp" || exit 1
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
for d in "$A" "$B"; do [ -f "$d/dist/cli/main.js" ] || die "$d/dist/cli/main.js missing (npm run build there first)"; done
taskset -cp 0 $$ >/dev/null

"$HERE/pki.sh" "$PKI" || die "pki.sh failed"
BODY=$(printf 'meshgate bench backend %077d' 0)
for f in backend.nginx.conf proxy.nginx.conf; do
  sed -e "s#@RUN@#$RUN#g" -e "s#@PKI@#$PKI#g" -e "s#@BODY@#$BODY#g" -e "s#@BE_HTTP@#$BE_HTTP#g" -e "s#@BE_STATUS@#$BE_STATUS#g" \
      -e "s#@BE_MTLS@#$BE_MTLS#g" -e "s#@BE_TLS@#$BE_TLS#g" -e "s#@NG_HTTP@#$((P + 110))#g" -e "s#@NG_TLS@#$((P + 111))#g" \
      -e "s#@NG_H2@#$((P + 112))#g" "$HERE/conf/$f" >"$RUN/$f"
done

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
taskset -c 0 nginx -p "$RUN" -e "$RUN/backend.err" -c "$RUN/backend.nginx.conf" >"$RUN/backend.log" 2>&1 &
PIDS+=("$!")

declare -A PX PORT
start_mg() { # <label> <checkout> <port offset>
  local label=$1 dir=$2 o=$3 cfg="$RUN/$1-config" extra=() workers=${WORKERS_A:-1}
  if [ "$label" = A ]; then extra=("${NODE_ARGS_A[@]}"); else extra=("${NODE_ARGS_B[@]}"); workers=${WORKERS_B:-1}; fi
  node --import tsx "$HERE/gateway-config.ts" --pki "$PKI" --out "$cfg" --address 127.0.0.1 --http-port $((P + o)) \
    --https-port $((P + o + 1)) --backend-http-port "$BE_HTTP" --backend-mtls-port "$BE_MTLS" >/dev/null || die "gateway-config.ts failed"
  (cd "$dir" && exec taskset -c 1 node "${NODE_ARGS[@]}" "${extra[@]}" dist/cli/main.js up --config "$cfg" --admin "127.0.0.1:$((P + o + 8))" \
    --xds "127.0.0.1:$((P + o + 6))" --xds-tls "127.0.0.1:$((P + o + 7))" --state-dir "$RUN/$label-state" --log-format json \
    --gateway-workers "$workers" --no-workloads) >"$RUN/$label.log" 2>&1 &
  PX[$label]=$!; PORT[$label]=$((P + o + 1)); PIDS+=("$!")
}
start_mg A "$A" 130
start_mg B "$B" 140
LABELS=(A B)
if [ "$NGINX" = 1 ]; then
  taskset -c 1 nginx -p "$RUN" -e "$RUN/nginx.err" -c "$RUN/proxy.nginx.conf" >"$RUN/nginx.log" 2>&1 &
  PX[N]=$!; PORT[N]=$((P + 111)); PIDS+=("$!"); LABELS+=(N)
  [ "$LOAD" = h2 ] && NG_LOAD_PORT=$((P + 112))
fi
for label in "${LABELS[@]}"; do
  ok=0
  for _ in $(seq 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$PKI/root.crt" --resolve "gateway.test.local:${PORT[$label]}:127.0.0.1" "https://gateway.test.local:${PORT[$label]}/")
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.5
  done
  ((ok)) || die "meshgate $label does not answer 200 (see $RUN/$label.log)"
done

descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
worker_of() { local p; for p in $(descendants "$1"); do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q worker-main && echo "$p"; done; }
ticks() { # <pid>...: utime + stime summed
  local s p t=0
  for p in "$@"; do s=$(cat "/proc/$p/stat") || return 1; s=${s##*) }; set -- $s; t=$((t + ${12} + ${13})); done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
declare -A W
# W[label]: the instance's worker pids, space-separated.
for label in A B; do W[$label]=$(worker_of "${PX[$label]}" | xargs); [ -n "${W[$label]}" ] || die "no gateway worker for $label"; done
[ "$NGINX" = 1 ] && { W[N]=$(pgrep -P "${PX[N]}" | head -n1); [ -n "${W[N]}" ] || die "no nginx worker"; }
if [ "$LOAD" = h2 ]; then LOADDESC="h2load -t1 -c$H2_C -m$H2_M -D $DUR"; else LOADDESC="wrk -t1 -c$CONC -d${DUR}s"; fi
log "A=$A (worker ${W[A]})  B=$B (worker ${W[B]})${W[N]:+  N=nginx (worker ${W[N]})}  load: $LOADDESC https://127.0.0.1:<port>$URL_PATH"

PERF=0
if command -v perf >/dev/null 2>&1 && perf stat -e instructions -x, -- true 2>&1 | grep '^[0-9]*,,instructions' >/dev/null; then PERF=1; fi
RES="$RUN/ab.tsv"
printf 'pair\tlabel\trequests\trps\tworker_cpu_s\tus_per_req\tkinstr_per_req\tloadavg\trss_mb\n' >"$RES"
load() { # <url> <seconds> [wrk-report]: prints "requests rps" (requests completed without error)
  local out
  if [ "$LOAD" = h2 ]; then
    out=$(taskset -c 0 h2load -t1 -c"$H2_C" -m"$H2_M" -D "$2" "$1" 2>&1)
    awk '/^finished in/ { rps = $4 + 0 } /^requests:/ { n = $8 } END { print n + 0, rps + 0 }' <<<"$out"
  else
    out=$(taskset -c 0 wrk -t1 -c"$CONC" -d"$2s" -s "$HERE/wrk-report.lua" "$1" 2>&1)
    sed -n 's/^WRK .*requests=\([0-9]*\).*rps=\([0-9.]*\).*/\1 \2/p' <<<"$out"
  fi
}
measure() { # <pair> <label>
  local label=$2 port=${PORT[$2]} t0 t1 n rps pp=0 ins=0
  [ "$label" = N ] && [ -n "${NG_LOAD_PORT:-}" ] && port=$NG_LOAD_PORT
  local url="https://127.0.0.1:$port$URL_PATH"
  load "$url" "$WARM" >/dev/null
  if ((PERF)); then taskset -c 0 perf stat -e instructions -x, -o "$RUN/perf.txt" -p "${W[$label]// /,}" & pp=$!; sleep 0.2; fi
  t0=$(ticks ${W[$label]})
  read -r n rps <<<"$(load "$url" "$DUR")"
  t1=$(ticks ${W[$label]})
  local rss=0 w r
  for w in ${W[$label]}; do r=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$w/status"); rss=$(awk -v a="$rss" -v b="$r" 'BEGIN { print (b > a ? b : a) }'); done
  if ((pp)); then kill -INT "$pp"; wait "$pp" 2>/dev/null; ins=$(awk -F, '$3 == "instructions" { print $1 }' "$RUN/perf.txt"); fi
  [ -n "$n" ] && [ "$n" -gt 0 ] || die "the load against $url failed"
  awk -v p="$1" -v l="$label" -v n="$n" -v rps="$rps" -v dt="$((t1 - t0))" -v hz="$HZ" -v ins="${ins:-0}" -v la="$(cut -d' ' -f1 /proc/loadavg)" -v rss="$rss" \
    'BEGIN { printf "%d\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%s\t%s\n", p, l, n, rps, dt / hz, dt / hz * 1e6 / n, ins / n / 1000, la, rss }' | tee -a "$RES" >&2
}
for i in $(seq "$PAIRS"); do
  if ((i % 2)); then order=(A B); else order=(B A); fi
  [ "$NGINX" = 1 ] && { if ((i % 2)); then order+=(N); else order=(N "${order[@]}"); fi; }
  for label in "${order[@]}"; do measure "$i" "$label"; done
done
awk -F'\t' 'NR > 1 { v[$2] = v[$2] " " $6; r[$2] = r[$2] " " $4; k[$2] = k[$2] " " $7; m[$2] = m[$2] " " $9 }
  function median(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END { ma = median(v["A"]); mb = median(v["B"]); printf "median CPU us/request: A %.2f  B %.2f  (B/A %.3f); median rps: A %.0f  B %.0f", ma, mb, mb / ma, median(r["A"]), median(r["B"])
    ka = median(k["A"]); kb = median(k["B"]); if (ka > 0) printf "; median k-instructions/request: A %.1f  B %.1f  (B/A %.3f)", ka, kb, kb / ka
    printf "; median worker RSS MB: A %.1f  B %.1f\n", median(m["A"]), median(m["B"])
    if (v["N"] != "") { mn = median(v["N"]); printf "nginx: median CPU us/request %.2f (A/N %.2f, B/N %.2f)", mn, ma / mn, mb / mn
      if (ka > 0) { kn = median(k["N"]); printf "; k-instructions/request %.1f (A/N %.2f, B/N %.2f)", kn, ka / kn, kb / kn }; printf "\n" } }' "$RES"
log "results: $RES"
