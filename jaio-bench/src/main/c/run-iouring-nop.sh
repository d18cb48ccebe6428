#!/bin/sh
# Compiles and runs the C baseline of IoUringNopBenchmark (batch 1 and 32), beside the JMH run.
# Usage: jaio-bench/src/main/c/run-iouring-nop.sh [SECONDS_PER_ROUND] [ROUNDS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/jaio-iouring-nop.$$
trap 'rm -f "$out"' EXIT
gcc -O2 -Wall -o "$out" "$here/iouring_nop.c"
for b in 1 32; do
  "$out" "$b" "${1:-1}" "${2:-5}"
done
