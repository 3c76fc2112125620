#!/usr/bin/env bash
# Mesh benchmark: the full meshed path next to the same applications called directly, in
# one run, on loopback. See README.md for the method and how to read the table.
#
#   mesh:   wrk -> gateway -> A's sidecar -> A -> A's sidecar -> B's sidecar -> B   (mTLS between proxies)
#   direct: wrk -> A -> B                                                           (A calls B itself)
#
#   core 0: this script, wrk, the applications (one nginx)      core 1: meshgate up, its gateway and both sidecars
#
# Env knobs (defaults): DUR=10 RUNS=3 WARM=2 CONC=50 LOWC=4 (0 skips the closed-loop latency runs)
#   RATE=1000 RATEC=16: open-loop latency runs at RATE requests/s over RATEC connections
#   (paced-load.mjs; RATE=0 skips them); the targets are read there
#   WORK=$TMPDIR/meshgate-bench-mesh PORT_BASE=28000 FOREIGN_MAX=5 RETRIES=3 QUIET_WAIT=30
#   MG_READY_TIMEOUT=60   seconds for `meshgate up` to serve both paths
#   MG_DIST=1             the built dist/cli/main.js (built first); 0: src/cli/main.ts through tsx
#   MG_CMD=<command>      run meshgate with this command instead (words split on spaces)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO" || exit 1

DUR=${DUR:-10}; RUNS=${RUNS:-3}; WARM=${WARM:-2}; CONC=${CONC:-50}; LOWC=${LOWC:-4}; RATE=${RATE:-1000}; RATEC=${RATEC:-16}
FOREIGN_MAX=${FOREIGN_MAX:-5}; RETRIES=${RETRIES:-3}; QUIET_WAIT=${QUIET_WAIT:-30}
MG_READY_TIMEOUT=${MG_READY_TIMEOUT:-60}; MG_DIST=${MG_DIST:-1}
WORK=${WORK:-${TMPDIR:-/tmp}/meshgate-bench-mesh}
B=${PORT_BASE:-28000}
LOAD_CORE=0; APPS_CORE=0; PROXY_CORE=1

STAMP=$(date +%Y%m%d-%H%M%S)
RES=$WORK/$STAMP; RUN=$RES/run; RAW=$RES/raw
mkdir -p "$RUN/tmp" "$RAW" || exit 1
source "$(dirname "${BASH_SOURCE[0]}")/../lib/procs.sh"   # log, die, stop_pid, ticks, quiet, ...

# ---------------------------------------------------------------- ports
APP_B=$((B + 1)); APP_A_DIRECT=$((B + 2)); APP_A_MESH=$((B + 3)); APPS_STATUS=$((B + 4))
A_IN=$((B + 11)); A_OUT=$((B + 12)); B_IN=$((B + 21)); B_OUT=$((B + 22))
GW=$((B + 30)); XDS=$((B + 36)); XDS_TLS=$((B + 37)); ADMIN=$((B + 38)); RLS=$((B + 39))

# ---------------------------------------------------------------- tools
missing=()
for t in nginx wrk curl taskset node ss; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
((${#missing[@]})) && die "missing tools: ${missing[*]} (Debian: apt-get install nginx wrk curl util-linux iproute2)"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 cores (core 0: load + applications, core 1: the proxies)"
taskset -cp "$LOAD_CORE" $$ >/dev/null   # this script and everything it forks stay off the proxies' core

meshgate_command "$RES"

# ---------------------------------------------------------------- configuration
BODY=$(printf 'meshgate bench backend %077d' 0)   # 100 bytes, so every response has the same size
[ ${#BODY} -eq 100 ] || die "body is ${#BODY} bytes"
B_AUTHORITY=$(node --import tsx -e 'import("./bench/mesh/mesh-config.ts").then((m) => process.stdout.write(m.B_AUTHORITY))') || die "mesh-config.ts does not load"
sed -e "s#@RUN@#$RUN#g" -e "s#@BODY@#$BODY#g" -e "s#@B@#$APP_B#g" -e "s#@A_DIRECT@#$APP_A_DIRECT#g" -e "s#@A_MESH@#$APP_A_MESH#g" \
    -e "s#@A_OUT@#$A_OUT#g" -e "s#@STATUS@#$APPS_STATUS#g" -e "s#@B_AUTHORITY@#$B_AUTHORITY#g" "$HERE/conf/apps.nginx.conf" >"$RUN/apps.nginx.conf"
node --import tsx "$HERE/mesh-config.ts" --out "$RUN/meshgate" --gateway-port "$GW" \
  --app-a-port "$APP_A_MESH" --app-a-inbound "$A_IN" --app-a-outbound "$A_OUT" \
  --app-b-port "$APP_B" --app-b-inbound "$B_IN" --app-b-outbound "$B_OUT" >/dev/null || die "mesh-config.ts failed"
"${MG[@]}" validate --config "$RUN/meshgate" >"$RUN/meshgate.validate.txt" 2>&1 || die "meshgate validate rejected the generated config: $(cat "$RUN/meshgate.validate.txt")"

# ---------------------------------------------------------------- servers (every one stopped by PID)
declare -A PX     # role -> pid
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $APP_B $APP_A_DIRECT $APP_A_MESH $APPS_STATUS $A_IN $A_OUT $B_IN $B_OUT $GW $XDS $XDS_TLS $ADMIN; do
  ss -Htln "sport = :$p" | grep -q . && die "port $p is taken (another run? set PORT_BASE)"
done
start() { # <role> <core> <cmd...>: taskset execs the command, so $! is the server itself
  local role=$1 core=$2; shift 2
  taskset -c "$core" "$@" >"$RUN/$role.log" 2>&1 &
  PX[$role]=$!; PIDS+=("$!")
}
nginx -q -t -p "$RUN" -e "$RUN/apps.err" -c "$RUN/apps.nginx.conf" || die "apps nginx config"
start apps "$APPS_CORE" nginx -p "$RUN" -e "$RUN/apps.err" -c "$RUN/apps.nginx.conf"
# Workloads without a command: `up` runs their sidecars, the applications are the nginx above.
start meshgate "$PROXY_CORE" "${MG[@]}" up --config "$RUN/meshgate" --admin "127.0.0.1:$ADMIN" --xds "127.0.0.1:$XDS" --xds-tls "127.0.0.1:$XDS_TLS" \
  --ratelimit-service "127.0.0.1:$RLS" --state-dir "$RUN/meshgate-state" --gateway-workers 1 --log-format json

CURL=(curl -sS --max-time 5)
get() { "${CURL[@]}" -o "$RUN/preflight.body" -w '%{http_code} %{size_download}' "$1" 2>&1; }
deadline=$(($(date +%s) + MG_READY_TIMEOUT)); why=""
while :; do
  kill -0 "${PX[meshgate]}" 2>/dev/null || die "meshgate up exited (see $RUN/meshgate.log)"
  why=""
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ADMIN/readyz")" = 200 ] || why="no 200 on /readyz"
  [ -z "$why" ] && for p in $GW $A_IN $A_OUT $B_IN; do port_open "$p" || { why="port $p not bound"; break; }; done
  [ -z "$why" ] && { out=$(get "http://127.0.0.1:$GW/"); [ "$out" = "200 100" ] || why="GET through the mesh -> $out"; }
  [ -z "$why" ] && break
  (($(date +%s) < deadline)) || die "meshgate not serving the mesh path within ${MG_READY_TIMEOUT}s: $why (see $RUN/meshgate.log)"
  sleep 0.5
done

# ---------------------------------------------------------------- preflight
out=$(get "http://127.0.0.1:$APP_A_DIRECT/"); [ "$out" = "200 100" ] || die "direct path: GET -> $out"
# Each sidecar inbound verified its caller's SVID and passed the identity on: the mesh is really in the path.
# x-forwarded-client-cert as the sidecar sets it: By=<its own ID>;Hash=<...>;URI=<the caller's ID>
saw=$("${CURL[@]}" "http://127.0.0.1:$GW/__xfcc_a"); [[ "$saw" == "a saw By=spiffe://bench.local/ns/apps/sa/app-a;"*";URI=spiffe://bench.local/ns/edge/sa/bench-gw" ]] || die "A did not get the gateway's identity from its sidecar: '$saw'"
saw=$("${CURL[@]}" "http://127.0.0.1:$GW/__xfcc"); [[ "$saw" == "b saw By=spiffe://bench.local/ns/apps/sa/app-b;"*";URI=spiffe://bench.local/ns/apps/sa/app-a" ]] || die "B did not get A's identity from its sidecar: '$saw'"
log "preflight: both paths answer 200 with 100 bytes; through the mesh A sees the gateway's SPIFFE ID and B sees A's"

# The proxies of the mesh path: the gateway's worker, both sidecars; "control" is `meshgate up`
# itself (control plane) and the gateway's primary (xDS client), idle under load.
proc_of() { # <pattern in the command line> [<pattern it must not have>] -> pid in meshgate up's tree
  local p cmd
  for p in $(tree "${PX[meshgate]}"); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
    [[ $cmd == *"$1"* ]] || continue
    [ -n "${2:-}" ] && [[ $cmd == *"$2"* ]] && continue
    echo "$p"; return
  done
}
# (a worker's command line repeats its primary's arguments)
GW_WORKER=$(proc_of worker-main); GW_PRIMARY=$(proc_of ' proxy --role gateway' worker-main)
SIDECAR_A=$(proc_of ' --workload apps/app-a '); SIDECAR_B=$(proc_of ' --workload apps/app-b ')
for v in GW_WORKER GW_PRIMARY SIDECAR_A SIDECAR_B; do [ -n "${!v}" ] || die "no $v process under meshgate up (pid ${PX[meshgate]})"; done
declare -A GROUP=([gateway]="$GW_WORKER" [sidecar_a]="$SIDECAR_A" [sidecar_b]="$SIDECAR_B" [control]="${PX[meshgate]} $GW_PRIMARY")
GROUPS_ORDER=(gateway sidecar_a sidecar_b control)
log "processes: meshgate up=${PX[meshgate]} gateway worker=$GW_WORKER gateway primary=$GW_PRIMARY sidecar A=$SIDECAR_A sidecar B=$SIDECAR_B apps nginx=${PX[apps]}"

# ---------------------------------------------------------------- measurement
rss_of() { awk '$1=="VmRSS:"{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_of() { awk '$1=="Pss:"{print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
COLS='scenario\tround\tconc\trate\trps\tp50_ms\tp90_ms\tp99_ms\tmean_ms\trequests\terrors\tcore0_pct\tcore1_pct\tforeign_cpu_pct\tretries\tapps_cpu_s'
for g in "${GROUPS_ORDER[@]}"; do COLS+="\t${g}_cpu_s\t${g}_rss_kb\t${g}_pss_kb"; done
COLS+='\n'
measure() { # <scenario> <url> <conc> <round> [rate]: appends one row to runs.tsv (rate > 0: open loop, paced-load.mjs)
  local name=$1 url=$2 c=$3 r=$4 rate=${5:-0} out="$RAW/$1-c$3-rate${5:-0}-r$4.txt"
  local try lp s0 s1 w0 w1 a0 a1 ft fp g p v
  declare -A T0 T1 RSS PSS
  for try in $(seq 0 "$RETRIES"); do
    quiet
    for g in "${GROUPS_ORDER[@]}"; do T0[$g]=$(ticks ${GROUP[$g]}); RSS[$g]=0; PSS[$g]=0; done
    a0=$(ticks $(tree "${PX[apps]}")); snapshot >"$RUN/snap0"; s0=$(cpustat); w0=$(date +%s%N)
    if ((rate > 0)); then
      taskset -c "$LOAD_CORE" node "$HERE/paced-load.mjs" "$url" "$rate" "$c" "$DUR" >"$out" 2>&1 &
    else
      taskset -c "$LOAD_CORE" wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$REPO/bench/gateway/wrk-report.lua" "$url" >"$out" 2>&1 &
    fi
    lp=$!
    while kill -0 "$lp" 2>/dev/null; do   # peak RSS and PSS of each proxy, sampled every second
      for g in "${GROUPS_ORDER[@]}"; do
        v=0; for p in ${GROUP[$g]}; do v=$((v + $(rss_of "$p"))); done; ((v > RSS[$g])) && RSS[$g]=$v
        v=0; for p in ${GROUP[$g]}; do v=$((v + $(pss_of "$p"))); done; ((v > PSS[$g])) && PSS[$g]=$v
      done
      sleep 1
    done
    wait "$lp"
    w1=$(date +%s%N); s1=$(cpustat); snapshot >"$RUN/snap1"; a1=$(ticks $(tree "${PX[apps]}"))
    for g in "${GROUPS_ORDER[@]}"; do T1[$g]=$(ticks ${GROUP[$g]}); done
    ft=$(foreign "$RUN/snap0" "$RUN/snap1")
    fp=$(awk -v t="$ft" -v hz="$HZ" -v ns="$((w1 - w0))" 'BEGIN { printf "%.1f", 100 * t / hz / (ns / 1e9) }')
    awk -v f="$fp" -v m="$FOREIGN_MAX" 'BEGIN { exit !(f <= m) }' && break
    ((try < RETRIES)) && { log "  $name c$c round $r: other processes used ${fp}% of a core -> retry $((try + 1))/$RETRIES"; sleep 2; }
  done
  local groups=""
  for g in "${GROUPS_ORDER[@]}"; do groups+="$(awk -v d="$((T1[$g] - T0[$g]))" -v hz="$HZ" 'BEGIN { printf "%.3f", d / hz }') ${RSS[$g]} ${PSS[$g]} "; done
  awk -v name="$name" -v r="$r" -v c="$c" -v rate="$rate" -v hz="$HZ" -v s0="$s0" -v s1="$s1" -v fp="$fp" -v try="$try" -v da="$((a1 - a0))" -v groups="$groups" '
    BEGIN { split(s0, a, " "); split(s1, b, " ")
            core0 = 100 * (b[1]-a[1]) / ((b[2]-a[2]) ? b[2]-a[2] : 1); core1 = 100 * (b[3]-a[3]) / ((b[4]-a[4]) ? b[4]-a[4] : 1) }
    /^WRK / { for (i = 2; i <= NF; i++) { split($i, kv, "="); R[kv[1]] = kv[2] } ok = 1 }
    END { if (!ok) { R["rps"] = 0; R["p50_us"] = R["p90_us"] = R["p99_us"] = R["mean_us"] = "NA"; R["requests"] = 0; R["errors"] = -1 }
      printf "%s\t%d\t%d\t%d\t%.2f\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%s\t%d\t%.3f", name, r, c, rate, R["rps"], m(R["p50_us"]), m(R["p90_us"]), m(R["p99_us"]), m(R["mean_us"]), R["requests"], R["errors"], core0, core1, fp, try, da / hz
      n = split(groups, g, " "); for (i = 1; i <= n; i++) printf "\t%s", g[i]
      printf "\n" }
    function m(us) { return us == "NA" ? "NA" : sprintf("%.3f", us / 1000) }' "$out" >>"$RES/runs.tsv"
  tail -n1 "$RES/runs.tsv" | awk -F'\t' '{ printf "  %-8s c%-3d rate=%-5s r%d %9.0f rps p50=%sms p90=%sms p99=%sms err=%s core0=%s%% core1=%s%% foreign=%s%%\n", $1, $3, $4, $2, $5, $6, $7, $8, $11, $12, $13, $14 }' >&2
}

# ---------------------------------------------------------------- rounds (the two paths interleaved within each)
SCEN=("direct|http://127.0.0.1:$APP_A_DIRECT/" "mesh|http://127.0.0.1:$GW/")
printf "$COLS" >"$RES/runs.tsv"
MG_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo "+dirty")
{ echo "date=$(date -Is) cores=$(nproc --all) cpu=$(lscpu | sed -n 's/^Model name: *//p')"
  echo "node=$(node -v) $(nginx -v 2>&1 | sed 's/nginx version: //') wrk=$(wrk -v 2>&1 | awk 'NR==1{print $2}')"
  echo "meshgate=${MG[*]} commit=$MG_COMMIT"
  echo "DUR=$DUR RUNS=$RUNS WARM=$WARM CONC=$CONC LOWC=$LOWC RATE=$RATE RATEC=$RATEC FOREIGN_MAX=$FOREIGN_MAX RETRIES=$RETRIES loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RES/env.txt"
cat "$RES/env.txt" >&2
for r in $(seq "$RUNS"); do
  log "round $r/$RUNS"
  for s in "${SCEN[@]}"; do
    IFS='|' read -r name url <<<"$s"
    taskset -c "$LOAD_CORE" wrk -t1 -c"$CONC" -d"${WARM}s" "$url" >/dev/null 2>&1   # JIT, pools
    measure "$name" "$url" "$CONC" "$r"
    ((LOWC > 0)) && measure "$name" "$url" "$LOWC" "$r"
    ((RATE > 0)) && measure "$name" "$url" "$RATEC" "$r" "$RATE"
  done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/env.txt"
grep -c '"level":50' "$RUN/meshgate.log" >"$RES/meshgate-errors.txt" 2>/dev/null

# ---------------------------------------------------------------- stop, report
cleanup
log "servers stopped"
node --import tsx "$HERE/report.ts" "$RES" | tee "$RES/table.md"
log "results: $RES"
