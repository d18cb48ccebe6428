#!/usr/bin/env bash
# A/B of two jaio-storage-daemon builds or configurations beside nbdkit, interleaved A B K per
# test and round (the shared fio suite, ../shared/bench/nbd/fio-nbd.sh), then medians and
# ratios to nbdkit. For "did this change help": run the old jar as A and the new one as B.
#
#   JAR_A=old.jar JAR_B=new.jar bench/nbd-ab.sh
#   ARGS_B="--iothread id=io0,poll-max-ns=65536 --iothread id=io1,poll-max-ns=65536" bench/nbd-ab.sh
#
# env: JAR_A, JAR_B (default: this checkout's jar), ARGS_A, ARGS_B (IOThread options; default two
# IOThreads io0, io1), IOT_A, IOT_B (the export's iothread= list, default io0:io1), EXPORT_A,
# EXPORT_B (extra export keys, default cache=none,aio=io_uring),
# TESTS (default the whole suite), ROUNDS (default 2), RUNTIME (s, default 5), WARMUP (s of
# untimed 4k randread QD32 against each server first, as compare.sh does; default 5), JAVA.
# Each server gets its own 1 GiB random image in /dev/shm; the raw lines are printed as they come,
# fio's output files stay under the work directory (removed at exit).
# compare.sh measures two servers; this is the same method with a third (nbdkit) in every round.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${SHARED_BENCH:-$here/../shared/bench/nbd}
# shellcheck source=bench/lib-ab.sh
. "$here/bench/lib-ab.sh"
java=${JAVA:-java}
jar=$here/jaio-daemon/target/jaio-storage-daemon.jar
JAR_A=${JAR_A:-$jar}; JAR_B=${JAR_B:-$jar}
two="--iothread id=io0 --iothread id=io1"
ARGS_A=${ARGS_A:-$two}; ARGS_B=${ARGS_B:-$two}
for t in nbdkit fio nbdinfo; do command -v $t >/dev/null || { echo "nbd-ab: $t missing" >&2; exit 1; }; done
work=$(mktemp -d /dev/shm/jaio-nbd-ab.XXXXXX)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && "$B/stop-server.sh" "${pids[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
head -c 1G /dev/urandom > "$work/a.img"; cp "$work/a.img" "$work/b.img"; cp "$work/a.img" "$work/k.img"
start() { # label jar args exportkeys iothreads
  # shellcheck disable=SC2086
  eval "$(EXPORT=disk "$B/serve.sh" "$work/$1.sock" -- "$java" -jar "$2" $3 \
    --export "name=disk,file=$work/$1.img,${4:-cache=none,aio=io_uring},iothread=$5" --nbd-server unix={SOCKET})"
}
start a "$JAR_A" "$ARGS_A" "${EXPORT_A:-}" "${IOT_A:-io0:io1}"; APID=$SERVER_PID; AURI=$SERVER_URI; pids+=("$APID")
start b "$JAR_B" "$ARGS_B" "${EXPORT_B:-}" "${IOT_B:-io0:io1}"; BPID=$SERVER_PID; BURI=$SERVER_URI; pids+=("$BPID")
eval "$("$B/serve-nbdkit.sh" "$work/k.img" "$work/k.sock")"; KPID=$SERVER_PID; KURI=$SERVER_URI; pids+=("$KPID")
tests=${TESTS:-randread-4k-qd1-j1 randread-4k-qd1-j4 randread-4k-qd32-j1 randread-4k-qd32-j4 randwrite-4k-qd32-j1 randwrite-4k-qd32-j4 seqread-64k-qd8-j1 seqread-64k-qd8-j4}
log=$work/ab.log
sides=("A $APID $AURI" "B $BPID $BURI" "K $KPID $KURI")
run_interleaved nbd-ab "$log" "$tests" "${sides[@]}"
echo
echo "medians over ${ROUNDS:-2} round(s); A = $JAR_A [$ARGS_A], B = $JAR_B [$ARGS_B], K = nbdkit; cpu/io = server CPU us per I/O"
print_medians "$log" ABK A/K,B/K,B/A
