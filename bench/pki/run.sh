#!/bin/sh
# Runs the PKI benchmark pinned to one core when taskset exists.
cd "$(dirname "$0")/../.." || exit 1
if command -v taskset >/dev/null 2>&1; then
  exec taskset -c 0 node --import tsx bench/pki/run.ts
fi
exec node --import tsx bench/pki/run.ts
