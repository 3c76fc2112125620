#!/bin/sh
# Runs the xDS benchmark (see README.md): the control plane pinned to core 0, the
# simulated proxies to core 1 (run.ts pins both with taskset when it exists).
cd "$(dirname "$0")/../.." || exit 1
exec node --import tsx bench/xds/run.ts
