#!/usr/bin/env bash
# Linux native AIO with io_uring refused: the daemon (io_uring set-up forced to fail, so AUTO's
# fd monitor is poll/epoll, and aio=native,cache=none) beside qemu-nbd --aio=native --cache=none
# and nbdkit, interleaved J Q K per test and round on the shared fio suite
# (../shared/bench/nbd/fio-nbd.sh), then medians and ratios to each peer and to the best peer.
#
#   bench/nbd-native.sh
#   ROUNDS=3 RUNTIME=5 bench/nbd-native.sh
#
# env: JAR (default this checkout's daemon jar), ARGS (IOThread options; default two IOThreads
# io0, io1), IOT (the export's iothread= list, default io0:io1), TESTS (default the suite's 4k
# rows), ROUNDS (default 2), RUNTIME (s, default 5), WARMUP (s of untimed 4k randread QD32
# against each server first, default 5), JAVA, IMGDIR (where the three 1 GiB images go; default
# /dev/shm, which takes O_DIRECT since Linux 6.6; use a disk directory on older kernels).
# The daemon runs with -Djaio.iouring.forceSetupFailure=true (IoUringFdMonitor.FORCE_FAILURE_PROPERTY)
# and its ready line must say "native": the script stops if it does not.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${SHARED_BENCH:-$here/../shared/bench/nbd}
# shellcheck source=bench/lib-ab.sh
. "$here/bench/lib-ab.sh"
java=${JAVA:-java}
JAR=${JAR:-$here/jaio-daemon/target/jaio-storage-daemon.jar}
ARGS=${ARGS:-"--iothread id=io0 --iothread id=io1"}
for t in nbdkit qemu-nbd fio nbdinfo; do command -v $t >/dev/null || { echo "nbd-native: $t missing" >&2; exit 1; }; done
work=$(mktemp -d "${IMGDIR:-/dev/shm}/jaio-nbd-native.XXXXXX")
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && "$B/stop-server.sh" "${pids[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
head -c 1G /dev/urandom > "$work/j.img"; cp "$work/j.img" "$work/q.img"; cp "$work/j.img" "$work/k.img"
# shellcheck disable=SC2086
eval "$(EXPORT=disk SERVER_LOG=$work/j.log "$B/serve.sh" "$work/j.sock" -- "$java" \
  --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Djaio.iouring.forceSetupFailure=true -jar "$JAR" $ARGS \
  --export "name=disk,file=$work/j.img,cache=none,aio=native,iothread=${IOT:-io0:io1}" --nbd-server unix={SOCKET})"
JPID=$SERVER_PID; JURI=$SERVER_URI; pids+=("$JPID")
grep -q "I/O engine of 'disk': native" "$work/j.log" || { echo "nbd-native: the daemon is not on native AIO:" >&2; cat "$work/j.log" >&2; exit 1; }
grep -i "engine\|monitor\|io_uring" "$work/j.log" | sed 's/^/nbd-native: daemon: /' >&2 || true
eval "$(EXPORT=disk QEMU_NBD_AIO=native QEMU_NBD_CACHE=none "$B/serve-qemu-nbd.sh" "$work/q.img" "$work/q.sock")"
QPID=$SERVER_PID; QURI=$SERVER_URI; pids+=("$QPID")
eval "$("$B/serve-nbdkit.sh" "$work/k.img" "$work/k.sock")"; KPID=$SERVER_PID; KURI=$SERVER_URI; pids+=("$KPID")
tests=${TESTS:-randread-4k-qd1-j1 randread-4k-qd1-j4 randread-4k-qd32-j1 randread-4k-qd32-j4 randwrite-4k-qd32-j1 randwrite-4k-qd32-j4}
log=$work/native.log
sides=("J $JPID $JURI" "Q $QPID $QURI" "K $KPID $KURI")
run_interleaved nbd-native "$log" "$tests" "${sides[@]}"
echo
echo "medians over ${ROUNDS:-2} round(s); J = jaio $JAR [$ARGS] io_uring refused, aio=native,cache=none;"
echo "Q = qemu-nbd --aio=native --cache=none; K = nbdkit; cpu/io = server CPU us per I/O; J/best = J over the better peer"
print_medians "$log" JQK J/Q,J/K,J/best
