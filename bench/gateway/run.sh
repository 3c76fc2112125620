#!/usr/bin/env bash
# Gateway benchmark: meshgate's embedded gateway next to nginx and haproxy, in one run, on loopback.
# See README.md for the method and how to read the table.
#
#   core 0: this script, wrk / h2load, the backend nginx          core 1: the proxy under test
#
# Env knobs (defaults): DUR=10 RUNS=3 WARM=2 CONC=50 LOWC=4 (0 skips the c4 runs) H2=1 H2_C=10 H2_M=5
#   ONLY=<regex of scenario names> WORK=$TMPDIR/meshgate-bench-gateway PORT_BASE=27000
#   FOREIGN_MAX=5 RETRIES=3 QUIET_WAIT=30
#   MG_READY_TIMEOUT=30   seconds for a meshgate gateway to answer 200 on /readyz AND bind its listeners
#   MG_DIST=1             the built dist/cli/main.js (what `meshgate` runs; built first); 0: src/cli/main.ts through tsx
#   MG_CMD=<command>      run meshgate with this command instead (words split on spaces; used for validate and up)
#   MG_WORKERS_FLAG=--gateway-workers   the `meshgate up` option that sets the gateway's worker count;
#                                       the 2-worker rows run only when `meshgate up --help` lists it
#   MG_SCALE_WORKERS=2    worker count of the scaling rows (MESHGATE_WORKERS is set in each instance's env too)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO" || exit 1

DUR=${DUR:-10}; RUNS=${RUNS:-3}; WARM=${WARM:-2}; CONC=${CONC:-50}; LOWC=${LOWC:-4}
H2=${H2:-1}; H2_C=${H2_C:-10}; H2_M=${H2_M:-5}; ONLY=${ONLY:-.}
FOREIGN_MAX=${FOREIGN_MAX:-5}; RETRIES=${RETRIES:-3}; QUIET_WAIT=${QUIET_WAIT:-30}
MG_READY_TIMEOUT=${MG_READY_TIMEOUT:-30}; MG_DIST=${MG_DIST:-1}
MG_WORKERS_FLAG=${MG_WORKERS_FLAG:---gateway-workers}; MG_SCALE_WORKERS=${MG_SCALE_WORKERS:-2}
WORK=${WORK:-${TMPDIR:-/tmp}/meshgate-bench-gateway}
B=${PORT_BASE:-27000}
LOAD_CORE=0; BACKEND_CORE=0; PROXY_CORE=1

STAMP=$(date +%Y%m%d-%H%M%S)
PKI=$WORK/pki; RES=$WORK/$STAMP; RUN=$RES/run; RAW=$RES/raw
mkdir -p "$RUN/tmp" "$RAW" || exit 1
source "$(dirname "${BASH_SOURCE[0]}")/../lib/procs.sh"   # log, die, stop_pid, ticks, quiet, ...

# ---------------------------------------------------------------- ports
BE_HTTP=$((B + 1)); BE_STATUS=$((B + 2)); BE_MTLS=$((B + 443)); BE_TLS=$((B + 444))
NG_HTTP=$((B + 110)); NG_TLS=$((B + 111)); NG_H2=$((B + 112))
HP_HTTP=$((B + 120)); HP_TLS=$((B + 121)); HP_H2=$((B + 122))
# one meshgate instance per worker count: <listener http> <listener https> <xds> <xds-tls> <admin>
MG1=($((B + 130)) $((B + 131)) $((B + 136)) $((B + 137)) $((B + 138)))
MG2=($((B + 140)) $((B + 141)) $((B + 146)) $((B + 147)) $((B + 148)))

# ---------------------------------------------------------------- tools
missing=()
for t in nginx haproxy wrk h2load openssl curl taskset node; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ((${#missing[@]})); then
  die "missing tools: ${missing[*]} (Debian: apt-get install nginx haproxy wrk nghttp2-client openssl curl util-linux)"
fi
[ "$(nproc --all)" -ge 2 ] || die "needs 2 cores (core 0: load + backend, core 1: proxy)"
taskset -cp "$LOAD_CORE" $$ >/dev/null   # this script and everything it forks stay off the proxy's core

meshgate_command "$RES"

# ---------------------------------------------------------------- PKI and configuration
"$HERE/pki.sh" "$PKI" || die "pki.sh failed"
BODY=$(printf 'meshgate bench backend %077d' 0)   # 100 bytes, so every response has the same size
[ ${#BODY} -eq 100 ] || die "body is ${#BODY} bytes"
for f in backend.nginx.conf proxy.nginx.conf haproxy.cfg; do
  sed -e "s#@RUN@#$RUN#g" -e "s#@PKI@#$PKI#g" -e "s#@BODY@#$BODY#g" \
      -e "s#@BE_HTTP@#$BE_HTTP#g" -e "s#@BE_STATUS@#$BE_STATUS#g" -e "s#@BE_MTLS@#$BE_MTLS#g" -e "s#@BE_TLS@#$BE_TLS#g" \
      -e "s#@NG_HTTP@#$NG_HTTP#g" -e "s#@NG_TLS@#$NG_TLS#g" -e "s#@NG_H2@#$NG_H2#g" \
      -e "s#@HP_HTTP@#$HP_HTTP#g" -e "s#@HP_TLS@#$HP_TLS#g" -e "s#@HP_H2@#$HP_H2#g" "$HERE/conf/$f" >"$RUN/$f"
done
mg_config() { # <dir> <http port> <https port>: generate, then insist that meshgate itself finds it valid
  node --import tsx "$HERE/gateway-config.ts" --pki "$PKI" --out "$1" --address 127.0.0.1 --http-port "$2" --https-port "$3" \
    --backend-http-port "$BE_HTTP" --backend-mtls-port "$BE_MTLS" >/dev/null || die "gateway-config.ts failed"
  "${MG[@]}" validate --config "$1" >"$1.validate.txt" 2>&1 || die "meshgate validate rejected the generated config: $(cat "$1.validate.txt")"
}
mg_config "$RUN/meshgate-1w" "${MG1[0]}" "${MG1[1]}"
SCALE=0
# Not grep -q: it exits at the first match and the SIGPIPE fails the pipeline under pipefail.
if "${MG[@]}" up --help 2>/dev/null | grep -- "$MG_WORKERS_FLAG\b" >/dev/null; then
  SCALE=1
  mg_config "$RUN/meshgate-${MG_SCALE_WORKERS}w" "${MG2[0]}" "${MG2[1]}"
else
  log "meshgate up has no $MG_WORKERS_FLAG option yet: the ${MG_SCALE_WORKERS}-worker rows are skipped"
fi

# ---------------------------------------------------------------- servers (every one stopped by PID)
declare -A PX     # role -> pid
declare -A DOWN   # role -> why it is not available
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

PORTS="$BE_HTTP $BE_STATUS $BE_MTLS $BE_TLS $NG_HTTP $NG_TLS $NG_H2 $HP_HTTP $HP_TLS $HP_H2 ${MG1[*]}"
((SCALE)) && PORTS="$PORTS ${MG2[*]}"
for p in $PORTS; do ss -Htln "sport = :$p" | grep -q . && die "port $p is taken (another run? set PORT_BASE)"; done
wait_port() { local i; for i in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done; die "port $1 never opened"; }
start() { # <role> <core> <cmd...>: taskset execs the command, so $! is the server itself
  local role=$1 core=$2; shift 2
  taskset -c "$core" "$@" >"$RUN/$role.log" 2>&1 &
  PX[$role]=$!; PIDS+=("$!")
}
start_meshgate() { # <role> <workers> <config dir> <ports array name>
  local role=$1 n=$2 dir=$3; local -n P=$4
  local args=(up --config "$dir" --admin "127.0.0.1:${P[4]}" --xds "127.0.0.1:${P[2]}" --xds-tls "127.0.0.1:${P[3]}"
              --state-dir "$RUN/$role-state" --log-format json)
  ((SCALE)) && args+=("$MG_WORKERS_FLAG" "$n")
  MESHGATE_WORKERS=$n start "$role" "$PROXY_CORE" "${MG[@]}" "${args[@]}"
}
mg_ready() { # <role> <ports array name> <deadline, epoch s>: /readyz 200, then both listeners accept
  local role=$1; local -n P=$2; local deadline=$3 code=none
  while (($(date +%s) < deadline)); do
    kill -0 "${PX[$role]}" 2>/dev/null || { DOWN[$role]="meshgate exited (see run/$role.log)"; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:${P[4]}/readyz")
    if [ "$code" = 200 ] && port_open "${P[0]}" && port_open "${P[1]}"; then return 0; fi
    sleep 0.5
  done
  if [ "$code" != 200 ]; then DOWN[$role]="no 200 on /readyz within ${MG_READY_TIMEOUT}s (last: $code)"
  else DOWN[$role]="/readyz 200 but listeners 127.0.0.1:${P[0]}/${P[1]} not bound within ${MG_READY_TIMEOUT}s"; fi
  return 1
}

nginx -q -t -p "$RUN" -e "$RUN/backend.err" -c "$RUN/backend.nginx.conf" || die "backend nginx config"
nginx -q -t -p "$RUN" -e "$RUN/nginx.err" -c "$RUN/proxy.nginx.conf" || die "proxy nginx config"
haproxy -q -c -f "$RUN/haproxy.cfg" || die "haproxy config"
start backend "$BACKEND_CORE" nginx -p "$RUN" -e "$RUN/backend.err" -c "$RUN/backend.nginx.conf"
start nginx "$PROXY_CORE" nginx -p "$RUN" -e "$RUN/nginx.err" -c "$RUN/proxy.nginx.conf"
start haproxy "$PROXY_CORE" haproxy -db -f "$RUN/haproxy.cfg"
start_meshgate meshgate-1w 1 "$RUN/meshgate-1w" MG1
((SCALE)) && start_meshgate "meshgate-${MG_SCALE_WORKERS}w" "$MG_SCALE_WORKERS" "$RUN/meshgate-${MG_SCALE_WORKERS}w" MG2
for p in $BE_HTTP $BE_STATUS $BE_MTLS $BE_TLS $NG_HTTP $NG_TLS $NG_H2 $HP_HTTP $HP_TLS $HP_H2; do wait_port "$p"; done
deadline=$(($(date +%s) + MG_READY_TIMEOUT))
mg_ready meshgate-1w MG1 "$deadline"
((SCALE)) && mg_ready "meshgate-${MG_SCALE_WORKERS}w" MG2 "$deadline"
for role in "${!DOWN[@]}"; do   # an instance that is not serving must not sit on the proxy core
  log "$role not available: ${DOWN[$role]}"
  [ -n "${PX[$role]:-}" ] && stop_pid "${PX[$role]}"
done
log "servers: $(for r in "${!PX[@]}"; do printf '%s=%s ' "$r" "${PX[$r]}"; done)"

# ---------------------------------------------------------------- scenarios
# name | family (http, tls, h2) | c4 floor | role measured (CPU, RSS) | port
W=$MG_SCALE_WORKERS
SCEN=(
  "A-direct-http|http|-|backend|$BE_HTTP"
  "A-direct-tls|tls|-|backend|$BE_TLS"
  "N-nginx-http|http|A-direct-http|nginx|$NG_HTTP"
  "N-nginx-tls-mtls|tls|A-direct-tls|nginx|$NG_TLS"
  "P-haproxy-http|http|A-direct-http|haproxy|$HP_HTTP"
  "P-haproxy-tls-mtls|tls|A-direct-tls|haproxy|$HP_TLS"
  "M-meshgate-http|http|A-direct-http|meshgate-1w|${MG1[0]}"
  "M-meshgate-tls-mtls|tls|A-direct-tls|meshgate-1w|${MG1[1]}"
)
H2SCEN=(
  "H-nginx-h2-mtls|h2|-|nginx|$NG_H2"
  "H-haproxy-h2-mtls|h2|-|haproxy|$HP_H2"
  "H-meshgate-h2-mtls|h2|-|meshgate-1w|${MG1[1]}"
)
if ((SCALE)); then
  SCEN+=("S-meshgate-${W}w-http|http|A-direct-http|meshgate-${W}w|${MG2[0]}" "S-meshgate-${W}w-tls-mtls|tls|A-direct-tls|meshgate-${W}w|${MG2[1]}")
  H2SCEN+=("S-meshgate-${W}w-h2-mtls|h2|-|meshgate-${W}w|${MG2[1]}")
fi
url_of() { # <family> <port>: TLS URLs name the gateway so certificates verify (curl maps it to 127.0.0.1)
  if [ "$1" = http ]; then echo "http://127.0.0.1:$2/"; elif [ "$2" = "$BE_TLS" ]; then echo "https://backend.test.local:$2/"; else echo "https://gateway.test.local:$2/"; fi
}
load_url() { [ "$1" = http ] && echo "http://127.0.0.1:$2/" || echo "https://127.0.0.1:$2/"; }

# ---------------------------------------------------------------- preflight
CURL=(curl -sS --max-time 5 --cacert "$PKI/root.crt" --resolve "backend.test.local:$BE_MTLS:127.0.0.1" --resolve "backend.test.local:$BE_TLS:127.0.0.1")
declare -A SKIP   # scenario -> why it is left out
# the backend must refuse a client without a certificate, or the "mTLS out" rows prove nothing
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://backend.test.local:$BE_MTLS/" 2>/dev/null)
[ "$code" != 200 ] || die "backend $BE_MTLS answered 200 without a client certificate"
out=$("${CURL[@]}" --cert "$PKI/client-chain.crt" --key "$PKI/client.key" -o /dev/null -w '%{http_code}' "https://backend.test.local:$BE_MTLS/")
[ "$out" = 200 ] || die "backend $BE_MTLS refused the client certificate ($out)"
preflight() { # <family> <role> <port>: echo why the scenario cannot run, nothing when it can
  local fam=$1 role=$2 port=$3 url out status size ver hdr
  url=$(url_of "$fam" "$port")
  local args=(--resolve "gateway.test.local:$port:127.0.0.1")
  [ "$fam" = h2 ] && args+=(--http2) || args+=(--http1.1)
  [ "$fam" = http ] && args=()
  out=$("${CURL[@]}" "${args[@]}" -H 'X-Internal-Token: secret' -o "$RUN/preflight.body" -w '%{http_code} %{size_download} %{http_version}' "$url" 2>&1) || { echo "request failed: $out"; return; }
  read -r status size ver <<<"$out"
  [ "$status" = 200 ] && [ "$size" = 100 ] || { echo "GET $url -> HTTP $status, $size bytes"; return; }
  [ "$fam" = h2 ] && [ "$ver" != 2 ] && { echo "HTTP/2 not negotiated (got HTTP/$ver)"; return; }
  if [ "$role" != backend ]; then   # the proxy's header rewrite reached the backend
    hdr=$("${CURL[@]}" "${args[@]}" -H 'X-Internal-Token: secret' "${url}__hdr" 2>&1)
    [ "$hdr" = "gw=bench token=" ] || { echo "headers not rewritten on the way to the backend (it saw '$hdr', wants 'gw=bench token=')"; return; }
  fi
}
for s in "${SCEN[@]}" "${H2SCEN[@]}"; do
  IFS='|' read -r name fam floor role port <<<"$s"
  [[ $name =~ $ONLY ]] || continue
  ((H2)) || [ "$fam" != h2 ] || continue
  if [ -n "${DOWN[$role]:-}" ]; then SKIP[$name]="not available: ${DOWN[$role]}"; continue; fi
  why=$(preflight "$fam" "$role" "$port")
  [ -z "$why" ] && continue
  [[ $role == meshgate-* ]] || die "preflight $name: $why"
  SKIP[$name]="not available: $why"
done
for n in "${!SKIP[@]}"; do log "$n: ${SKIP[$n]}"; done
log "preflight done (backend $BE_MTLS: HTTP $code without a client certificate, 200 with one)"

# ---------------------------------------------------------------- measurement
rss() { # <pids...> -> "<largest process kB> <sum kB>"
  local p k v max=0 sum=0
  for p in "$@"; do
    v=$(awk '$1=="VmRSS:"{print $2}' "/proc/$p/status" 2>/dev/null); [ -n "$v" ] || continue
    sum=$((sum + v)); ((v > max)) && max=$v
  done
  echo "$max $sum"
}
# The processes that serve requests: for meshgate the gateway's workers (or, with no workers,
# the proxy process), not `meshgate up` (control plane) or the proxy's primary; for the
# others every process of the tree (nginx/haproxy workers are the largest anyway).
serving_pids() { # <role>
  local p all serving=()
  all=$(tree "${PX[$1]}")
  if [[ $1 == meshgate-* ]]; then
    for p in $all; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- 'worker-main' >/dev/null && serving+=("$p"); done
    if ((${#serving[@]} == 0)); then
      for p in $all; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -- ' proxy --role' >/dev/null && serving+=("$p"); done
    fi
  fi
  ((${#serving[@]})) && echo "${serving[*]}" || echo $all
}
pss() { # <pids...> -> largest proportional set size, kB (shared pages, e.g. the node binary, split among their users)
  local p v max=0
  for p in "$@"; do v=$(awk '$1=="Pss:"{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null); [ -n "$v" ] && ((v > max)) && max=$v; done
  echo "$max"
}
backend_counts() { curl -s --max-time 2 "http://127.0.0.1:$BE_STATUS/" | awk 'NR==3{print $1, $3}'; }
COLS='scenario\ttag\tround\tconc\trps\tp50_ms\tp99_ms\tmean_ms\trequests\terrors\tproxy_cpu_pct\tproxy_cpu_s\tbackend_cpu_pct\tcore0_pct\tcore1_pct\trss_worker_kb\trss_total_kb\tprocs\tforeign_cpu_pct\tretries\tbackend_new_conns\tpss_worker_kb\n'
measure() { # <tool> <name> <role> <url> <conc> <round> <tag>: appends one row to runs.tsv
  local tool=$1 name=$2 role=$3 url=$4 c=$5 r=$6 tag=$7 out="$RAW/$2-$7-r$6.txt"
  local pids bepids t0 t1 b0 b1 s0 s1 w0 w1 lp m v pw=0 pt=0 pp=0 n0 n1 ft fp try procs
  for try in $(seq 0 "$RETRIES"); do
    quiet
    pids=$(tree "${PX[$role]}" | tr '\n' ' '); bepids=$(tree "${PX[backend]}" | tr '\n' ' ')
    procs=$(echo $pids | wc -w); pw=0; pt=0; pp=0
    n0=$(backend_counts); snapshot >"$RUN/snap0"
    t0=$(ticks $pids); b0=$(ticks $bepids); s0=$(cpustat); w0=$(date +%s%N)
    if [ "$tool" = wrk ]; then
      taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$HERE/wrk-report.lua" "$url" >"$out" 2>&1 &
    else
      taskset -c "$LOAD_CORE" h2load -t1 -c"$H2_C" -m"$H2_M" -D "$DUR" "$url" >"$out" 2>&1 &
    fi
    lp=$!
    while kill -0 "$lp" 2>/dev/null; do
      read -r m _ <<<"$(rss $(serving_pids "$role"))"; read -r _ v <<<"$(rss $(tree "${PX[$role]}"))"
      ((m > pw)) && pw=$m; ((v > pt)) && pt=$v
      m=$(pss $(serving_pids "$role")); ((m > pp)) && pp=$m; sleep 1
    done
    wait "$lp"
    w1=$(date +%s%N); t1=$(ticks $pids); b1=$(ticks $bepids); s1=$(cpustat); snapshot >"$RUN/snap1"; n1=$(backend_counts)
    ft=$(foreign "$RUN/snap0" "$RUN/snap1")
    fp=$(awk -v t="$ft" -v hz="$HZ" -v ns="$((w1 - w0))" 'BEGIN { printf "%.1f", 100 * t / hz / (ns / 1e9) }')
    awk -v f="$fp" -v m="$FOREIGN_MAX" 'BEGIN { exit !(f <= m) }' && break
    ((try < RETRIES)) && { log "  $name $tag round $r: other processes used ${fp}% of a core -> retry $((try + 1))/$RETRIES"; sleep 2; }
  done
  awk -v name="$name" -v tag="$tag" -v r="$r" -v c="$c" -v tool="$tool" -v hz="$HZ" -v ns="$((w1 - w0))" \
      -v dt="$((t1 - t0))" -v db="$((b1 - b0))" -v pw="$pw" -v pt="$pt" -v procs="$procs" -v s0="$s0" -v s1="$s1" \
      -v n0="$n0" -v n1="$n1" -v fp="$fp" -v try="$try" -v pp="$pp" '
    BEGIN { split(s0, a, " "); split(s1, b, " "); split(n0, x, " "); split(n1, y, " ")
            core0 = 100 * (b[1]-a[1]) / ((b[2]-a[2]) ? b[2]-a[2] : 1); core1 = 100 * (b[3]-a[3]) / ((b[4]-a[4]) ? b[4]-a[4] : 1)
            conns = y[1] - x[1] - 1; wall = ns / 1e9 }
    tool == "wrk" && /^WRK / { for (i = 2; i <= NF; i++) { split($i, kv, "="); R[kv[1]] = kv[2] }
      rps = R["rps"]; p50 = R["p50_us"] / 1000; p99 = R["p99_us"] / 1000; mean = R["mean_us"] / 1000; n = R["requests"]; err = R["errors"]; ok = 1 }
    tool == "h2load" && /^finished in/ { rps = $4 + 0; ok = 1 }
    tool == "h2load" && /^requests:/ { n = $8; err = $10 + $12 + $14 }
    tool == "h2load" && /^time for request:/ { mean = $6; u = mean; gsub(/[0-9.]/, "", u); mean += 0
      if (u == "us") mean /= 1000; else if (u == "s") mean *= 1000; p50 = p99 = "NA" }
    END { if (!ok) { rps = 0; p50 = p99 = mean = "NA"; n = 0; err = -1 }
      printf "%s\t%s\t%d\t%d\t%.2f\t%s\t%s\t%s\t%d\t%d\t%.1f\t%.3f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%s\t%d\t%d\t%d\n",
        name, tag, r, c, rps, p50, p99, mean, n, err, 100 * dt / hz / wall, dt / hz, 100 * db / hz / wall,
        core0, core1, pw, pt, procs, fp, try, conns, pp }' "$out" >>"$RES/runs.tsv"
  tail -n1 "$RES/runs.tsv" | awk -F'\t' '{ printf "  %-26s %-4s r%d %9.0f rps p50=%sms p99=%sms proxyCPU=%s%% core0=%s%% core1=%s%% rss=%d/%dkB err=%s foreign=%s%% new_backend_conns=%s\n",
    $1, $2, $3, $5, $6, $7, $11, $14, $15, $16, $17, $10, $19, $21 }' >&2
}

# ---------------------------------------------------------------- rounds (scenarios interleaved within each)
printf "$COLS" >"$RES/runs.tsv"
: >"$RES/scenarios.tsv"
for s in "${SCEN[@]}" "${H2SCEN[@]}"; do
  IFS='|' read -r name fam floor role port <<<"$s"
  [[ $name =~ $ONLY ]] || continue
  ((H2)) || [ "$fam" != h2 ] || continue
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$fam" "$floor" "$role" "${SKIP[$name]:-}" >>"$RES/scenarios.tsv"
done
MG_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo "+dirty")
{ echo "date=$(date -Is) cores=$(nproc --all) cpu=$(lscpu | sed -n 's/^Model name: *//p')"
  echo "node=$(node -v) $(nginx -v 2>&1 | sed 's/nginx version: //') haproxy=$(haproxy -v | awk 'NR==1{print $3}') $(openssl version | awk '{print $1 "=" $2}') wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}') h2load=$(h2load --version | awk '{print $2}')"
  echo "meshgate=${MG[*]} commit=$MG_COMMIT workers_flag=$MG_WORKERS_FLAG($( ((SCALE)) && echo present || echo absent)) scale_workers=$MG_SCALE_WORKERS"
  echo "DUR=$DUR RUNS=$RUNS WARM=$WARM CONC=$CONC LOWC=$LOWC H2=$H2 H2_C=$H2_C H2_M=$H2_M ONLY=$ONLY FOREIGN_MAX=$FOREIGN_MAX RETRIES=$RETRIES loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RES/env.txt"
cat "$RES/env.txt" >&2
runnable() { [[ $1 =~ $ONLY ]] && [ -z "${SKIP[$1]:-}" ]; }
for r in $(seq "$RUNS"); do
  log "round $r/$RUNS"
  for s in "${SCEN[@]}"; do
    IFS='|' read -r name fam floor role port <<<"$s"; runnable "$name" || continue
    url=$(load_url "$fam" "$port")
    taskset -c "$LOAD_CORE" wrk -t1 -c"$CONC" -d"${WARM}s" "$url" >/dev/null 2>&1   # JIT, pools, TLS sessions
    measure wrk "$name" "$role" "$url" "$CONC" "$r" "c$CONC"
    ((LOWC > 0)) && measure wrk "$name" "$role" "$url" "$LOWC" "$r" "c$LOWC"
  done
  ((H2)) || continue
  for s in "${H2SCEN[@]}"; do
    IFS='|' read -r name fam floor role port <<<"$s"; runnable "$name" || continue
    url=$(load_url "$fam" "$port")
    taskset -c "$LOAD_CORE" h2load -t1 -c"$H2_C" -m"$H2_M" -D "$WARM" "$url" >/dev/null 2>&1
    measure h2load "$name" "$role" "$url" "$((H2_C * H2_M))" "$r" h2
  done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/env.txt"

# ---------------------------------------------------------------- stop, report
cleanup
log "servers stopped"
node --import tsx "$HERE/report.ts" "$RES" | tee "$RES/table.md"
log "results: $RES"
