# Shared by bench/nbd-ab.sh, bench/nbd-native.sh and bench/nbd-tail.sh (sourced, not run): the
# warm-up, the interleaved rounds of the shared fio suite against several servers, and the
# medians table.
#
# run_interleaved NAME LOG "TESTS" "LABEL PID URI"...
#   An untimed warm-up of WARMUP s (default 5; 0 for none) of 4k randread QD32 against each
#   server, then ROUNDS (default 2) rounds of every test against every server in turn, RUNTIME s
#   (default 5) each, through $B/fio-nbd.sh; fio's result lines go to LOG with the server's label
#   in front, and to stdout as they come. Uses $B (the shared bench directory) and $work.
run_interleaved() {
  local name=$1 log=$2 tests=$3 s l p u r t hdr=0
  shift 3
  warm_up "$name" "$@"
  for r in $(seq "${ROUNDS:-2}"); do for t in $tests; do
    for s in "$@"; do
      read -r l p u <<<"$s"
      TESTS=$t RUNTIME=${RUNTIME:-5} SERVER_PID=$p NO_HEADER=$hdr OUTDIR="$work/$l-r$r" "$B/fio-nbd.sh" "$u" \
        | grep -v '^results' | sed "s/^/$l /" | tee -a "$log"
      hdr=1
    done
  done; done
}

# warm_up NAME "LABEL PID URI"...
#   WARMUP s (default 5; 0 for none) of untimed 4k randread QD32 against each server.
warm_up() {
  local name=$1 s l p u
  shift
  [ "${WARMUP:-5}" -gt 0 ] || return 0
  for s in "$@"; do
    read -r l p u <<<"$s"
    echo "$name: warm-up ${WARMUP:-5}s against $l" >&2
    TESTS=randread-4k-qd32-j1 RUNTIME=${WARMUP:-5} RAMP=0 OUTDIR="$work/warm-$l" "$B/fio-nbd.sh" "$u" >/dev/null \
      || { echo "$name: warm-up failed against $l ($u)" >&2; exit 1; }
  done
}

# print_medians LOG LABELS RATIOS
#   The medians table of LOG (see bench/medians.py): LABELS the servers in column order (e.g.
#   ABK), RATIOS comma-separated X/Y columns, Y may be "best" (the better of the other servers).
print_medians() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/medians.py" "$@"
}
