# Process and CPU accounting, and meshgate's command line, shared by the benchmark drivers
# (bench/gateway/run.sh, bench/mesh/run.sh), sourced after they set RUN (scratch dir),
# QUIET_WAIT, FOREIGN_MAX and the PIDS array (the servers they started).

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
tree() { echo "$1"; descendants "$1"; }
stop_pid() { # <pid>: TERM, wait up to 5 s, then KILL; leftover children (recorded first) get the same
  local p=$1 kids k
  kids=$(descendants "$p" | tr '\n' ' ')
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && { log "pid $p ignored TERM: KILL"; kill -KILL "$p" 2>/dev/null; }
  wait "$p" 2>/dev/null
  for k in $kids; do kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null; done
}
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

HZ=$(getconf CLK_TCK)
ticks() { local t=0 p s; for p in "$@"; do s=$(cat "/proc/$p/stat" 2>/dev/null) || continue; s=${s##*) }; set -- $s; t=$((t + ${12} + ${13})); done; echo "$t"; }
cpustat() { awk '$1=="cpu0"||$1=="cpu1"{busy=$2+$3+$4+$7+$8+$9; printf "%d %d ", busy, busy+$5+$6}' /proc/stat; }
# every process: pid ppid start-time cpu-ticks (own + reaped children); kernel threads left out
snapshot() { cat /proc/[0-9]*/stat 2>/dev/null | awk '{ pid=$1; l=$0; sub(/^.*\) /, "", l); split(l, f, " ");
  if (pid != 2 && f[2] != 2) print pid, f[2], f[20], f[12]+f[13]+f[14]+f[15] }'; }
foreign() { # <snapshot before> <snapshot after> -> ticks used by processes that are not this run's
  awk -v ours="$$ ${PIDS[*]}" '
    BEGIN { n = split(ours, o, " "); for (i = 1; i <= n; i++) OURS[o[i]] = 1 }
    FNR == NR { before[$1 " " $3] = $4; parent[$1] = $2; next }
    { parent[$1] = $2; id[++m] = $1; key[m] = $1 " " $3; now[m] = $4 }
    function ours_(p,  d) { for (d = 0; d < 64 && p > 1; d++) { if (p in OURS) return 1; if (!(p in parent)) return 0; p = parent[p] } return 0 }
    END {
      for (i = 1; i <= m; i++) { seen[key[i]] = 1; if (!ours_(id[i])) { d = (key[i] in before) ? now[i] - before[key[i]] : now[i]; if (d > 0) t += d } }
      # an exited process was folded into its parent (cutime) with its whole life: take back its earlier part
      for (k in before) if (!(k in seen)) { split(k, kk, " "); if (!ours_(kk[1])) t -= before[k] }
      print (t > 0 ? t : 0) }' "$1" "$2"
}
quiet() { local i f
  for i in $(seq "$QUIET_WAIT"); do
    snapshot >"$RUN/quiet0"; sleep 1; snapshot >"$RUN/quiet1"
    f=$(foreign "$RUN/quiet0" "$RUN/quiet1"); ((f * 100 <= FOREIGN_MAX * HZ)) && return 0
  done
  log "  still busy with other processes after ${QUIET_WAIT}s; measuring anyway"
}

# Sets MG (an array): meshgate's command line. $MG_CMD split on spaces when set; else the
# built dist/cli/main.js (built first, log in <results dir>/build.log) when MG_DIST=1; else
# src/cli/main.ts through tsx.
meshgate_command() { # <results dir>
  if [ -n "${MG_CMD:-}" ]; then
    read -r -a MG <<<"$MG_CMD"
  elif [ "${MG_DIST:-1}" = 1 ]; then
    npm run build >"$1/build.log" 2>&1 || die "npm run build failed (see $1/build.log)"
    MG=(node dist/cli/main.js)
  else
    MG=(node --import tsx src/cli/main.ts)
  fi
}
