#!/usr/bin/env bash
# The daemon beside its peers: the shared fio suite (../shared/bench/nbd/compare.sh), interleaved,
# jaio-storage-daemon (two IOThreads, one per vCPU, connections spread over them) against nbdkit
# (file plugin) and against qemu-nbd (--aio=native --cache=none), each server on its own copy of one 1 GiB random image in /dev/shm, all on Unix
# sockets. Then draws docs/nbd-compare.png and prints the tables.
#
#   bench/nbd-compare.sh            (via ./jaio bench-nbd; env passes through to compare.sh:
#                                    ROUNDS, RUNTIME, TESTS, QUIET_WAIT, SERVER_CPUS, CLIENT_CPUS)
#
# Needs: qemu-utils libnbd-bin nbdkit fio, python3-matplotlib for the chart (installed if missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${SHARED_BENCH:-$here/../shared/bench/nbd}
[ -x "$B/compare.sh" ] || { echo "nbd-compare: no $B/compare.sh (the shared bench scripts)" >&2; exit 1; }
for t in qemu-nbd nbdkit fio nbdinfo; do
  command -v $t >/dev/null || { echo "nbd-compare: $t missing: apt-get install qemu-utils libnbd-bin nbdkit fio" >&2; exit 1; }
done
java=${JAVA:-java}
jar=$here/jaio-daemon/target/jaio-storage-daemon.jar
[ -f "$jar" ] || { echo "nbd-compare: build first (./jaio build)" >&2; exit 1; }

work=$(mktemp -d /dev/shm/jaio-nbd-compare.XXXXXX)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && "$B/stop-server.sh" "${pids[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "nbd-compare: images in $work (1 GiB each, random)"
head -c 1G /dev/urandom > "$work/jaio.img"
cp "$work/jaio.img" "$work/nbdkit.img"
cp "$work/jaio.img" "$work/qemu.img"

eval "$(EXPORT=disk "$B/serve.sh" "$work/jaio.sock" -- "$java" -jar "$jar" \
  --iothread id=io0 --iothread id=io1 \
  --export name=disk,file=$work/jaio.img,cache=none,aio=io_uring,iothread=io0:io1 \
  --nbd-server unix={SOCKET})"
JPID=$SERVER_PID; JURI=$SERVER_URI; pids+=("$JPID")
eval "$("$B/serve-nbdkit.sh" "$work/nbdkit.img" "$work/nbdkit.sock")"
KPID=$SERVER_PID; KURI=$SERVER_URI; pids+=("$KPID")
eval "$(QEMU_NBD_AIO=native QEMU_NBD_CACHE=none "$B/serve-qemu-nbd.sh" "$work/qemu.img" "$work/qemu.sock")"
QPID=$SERVER_PID; QURI=$SERVER_URI; pids+=("$QPID")

out=${OUTDIR:-$here/bench/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
echo "nbd-compare: results in $out"
LABEL_A=nbdkit LABEL_B=jaio PID_A=$KPID PID_B=$JPID OUTDIR="$out/vs-nbdkit" \
  "$B/compare.sh" "$KURI" "$JURI" | tee "$out/vs-nbdkit.txt"
LABEL_A=qemu-nbd LABEL_B=jaio PID_A=$QPID PID_B=$JPID OUTDIR="$out/vs-qemu-nbd" \
  "$B/compare.sh" "$QURI" "$JURI" | tee "$out/vs-qemu-nbd.txt"

py=/usr/bin/python3; [ -x $py ] || py=python3
if ! $py -c "import matplotlib" 2>/dev/null; then
  echo "nbd-compare: installing python3-matplotlib for the chart"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null || true
fi
$py "$here/bench/nbd-chart.py" "$out" "$here/docs/nbd-compare.png" && echo "nbd-compare: chart docs/nbd-compare.png"
