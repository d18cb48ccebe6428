#!/usr/bin/env bash
# Tail latency of two jaio-storage-daemon builds or configurations (A, B) beside nbdkit (K) and
# qemu-nbd (Q): the shared fio suite's rows (default the four 4-job rows), interleaved A B K Q per
# test and round, then medians of IOPS and of fio's completion-latency percentiles p50/p99/p99.9
# (fio-nbd.sh asks fio for them; they are read from its JSON), the server's involuntary context
# switches a second (all its threads, /proc/PID/task/*/status), and ratios to the peers.
#
#   JAR_A=old.jar JAR_B=new.jar bench/nbd-tail.sh
#   ARGS_B="--iothread id=io0,poll-contention=on --iothread id=io1,poll-contention=on" bench/nbd-tail.sh
#   TESTS="randread-4k-qd1-j1 randwrite-4k-qd32-j1" ROUNDS=3 bench/nbd-tail.sh
#
# env: as bench/nbd-ab.sh (JAR_A, JAR_B, ARGS_A, ARGS_B, IOT_A, IOT_B, EXPORT_A, EXPORT_B, TESTS,
# ROUNDS (default 2), RUNTIME (s, default 5), WARMUP (s, default 5), JAVA), plus
# PEERS (default "K Q": which peers to run), TSV (write the medians there, for bench/nbd-tail-chart.py).
# qemu-nbd runs as in compare.sh: --aio=native --cache=none --shared=8.
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
PEERS=${PEERS:-K Q}
for t in nbdkit qemu-nbd fio nbdinfo; do command -v $t >/dev/null || { echo "nbd-tail: $t missing" >&2; exit 1; }; done
work=$(mktemp -d /dev/shm/jaio-nbd-tail.XXXXXX)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && "$B/stop-server.sh" "${pids[@]}" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
trap "exit 130" INT TERM
head -c 1G /dev/urandom > "$work/a.img"
for s in b k q; do cp "$work/a.img" "$work/$s.img"; done
start() { # label jar args exportkeys iothreads
  # shellcheck disable=SC2086
  eval "$(EXPORT=disk "$B/serve.sh" "$work/$1.sock" -- "$java" -jar "$2" $3 \
    --export "name=disk,file=$work/$1.img,${4:-cache=none,aio=io_uring},iothread=$5" --nbd-server unix={SOCKET})"
}
sides=()
start a "$JAR_A" "$ARGS_A" "${EXPORT_A:-}" "${IOT_A:-io0:io1}"; pids+=("$SERVER_PID"); sides+=("A $SERVER_PID $SERVER_URI")
start b "$JAR_B" "$ARGS_B" "${EXPORT_B:-}" "${IOT_B:-io0:io1}"; pids+=("$SERVER_PID"); sides+=("B $SERVER_PID $SERVER_URI")
case " $PEERS " in *" K "*)
  eval "$("$B/serve-nbdkit.sh" "$work/k.img" "$work/k.sock")"; pids+=("$SERVER_PID"); sides+=("K $SERVER_PID $SERVER_URI");;
esac
case " $PEERS " in *" Q "*)
  eval "$(QEMU_NBD_AIO=native QEMU_NBD_CACHE=none QEMU_NBD_SHARED=8 "$B/serve-qemu-nbd.sh" "$work/q.img" "$work/q.sock")"
  pids+=("$SERVER_PID"); sides+=("Q $SERVER_PID $SERVER_URI");;
esac
tests=${TESTS:-randread-4k-qd1-j4 randread-4k-qd32-j4 randwrite-4k-qd32-j4 seqread-64k-qd8-j4}
log=$work/tail.log
nivcsw() { # total involuntary context switches of the live threads of $1 (threads that exit, such as nbdkit's per-connection ones, drop out: 0 for nbdkit)
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^nonvoluntary_ctxt_switches/ {s += $2} END {print s + 0}'
}
warm_up nbd-tail "${sides[@]}"
printf '%-2s %-22s %9s %8s %8s %8s %8s %6s %9s\n' s test iops p50_us p99_us p99.9_us mean_us srv preempt/s
for r in $(seq "${ROUNDS:-2}"); do for t in $tests; do
  for s in "${sides[@]}"; do
    read -r l p u <<<"$s"
    out="$work/$l-r$r"
    c0=$(nivcsw "$p"); s0=$(date +%s.%N)
    line=$(TESTS=$t RUNTIME=${RUNTIME:-5} SERVER_PID=$p NO_HEADER=1 OUTDIR="$out" "$B/fio-nbd.sh" "$u" 2>/dev/null | grep -v '^results')
    c1=$(nivcsw "$p"); s1=$(date +%s.%N)
    python3 - "$out/$t.json" "$l" "$t" "$line" "$c0" "$c1" "$s0" "$s1" <<'PY' | tee -a "$log"
import json, sys
path, side, test, line, c0, c1, s0, s1 = sys.argv[1:]
text = open(path).read()
d = json.loads(text[text.index('{'):])
sec = d['jobs'][0]['write' if 'write' in test else 'read']
pc = sec['lat_ns'].get('percentile', {})
f = line.split()
srv = f[6] if len(f) > 6 else 'nan'
rate = (int(c1) - int(c0)) / (float(s1) - float(s0))
print('%-2s %-22s %9.0f %8.1f %8.1f %8.1f %8.1f %6s %9.0f' % (side, test, sec['iops'], pc.get('50.000000', 0) / 1e3,
      pc.get('99.000000', 0) / 1e3, pc.get('99.900000', 0) / 1e3, sec['lat_ns']['mean'] / 1e3, srv, rate))
PY
  done
done; done
echo
echo "medians over ${ROUNDS:-2} round(s); A = $JAR_A [$ARGS_A], B = $JAR_B [$ARGS_B], K = nbdkit, Q = qemu-nbd"
python3 - "$log" "${TSV:-}" <<'PY'
import sys, statistics as st, collections
rows = collections.defaultdict(list); tests = []; sides = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 9:
        continue
    rows[(f[1], f[0])].append([float(x) for x in f[2:7]] + [float(f[8])])
    if f[1] not in tests:
        tests.append(f[1])
    if f[0] not in sides:
        sides.append(f[0])
med = {k: [st.median(x[i] for x in v) for i in range(6)] for k, v in rows.items()}
print("%-22s %-2s %9s %8s %8s %9s %9s" % ("test", "s", "iops", "p50 us", "p99 us", "p99.9 us", "preempt/s"))
for t in tests:
    for s in sides:
        m = med[(t, s)]
        print("%-22s %-2s %9.0f %8.1f %8.1f %9.1f %9.0f" % (t, s, m[0], m[1], m[2], m[3], m[5]))
print()
peers = [s for s in sides if s in "KQ"]
print("%-22s %s" % ("test", "  ".join("%s/%s iops p99" % (j, p) for j in "AB" for p in peers + ["best"])))
for t in tests:
    out = "%-22s" % t
    for j in "AB":
        for p in peers + ["best"]:
            if p == "best":
                bi = max(med[(t, q)][0] for q in peers); bp = min(med[(t, q)][2] for q in peers)
            else:
                bi, bp = med[(t, p)][0], med[(t, p)][2]
            out += "   %5.2f %5.2f" % (med[(t, j)][0] / bi, med[(t, j)][2] / bp)
    print(out)
if len(sys.argv) > 2 and sys.argv[2]:
    with open(sys.argv[2], "w") as f:
        f.write("test\tside\tiops\tp50_us\tp99_us\tp999_us\tmean_us\tpreempt_per_s\n")
        for t in tests:
            for s in sides:
                m = med[(t, s)]
                f.write("%s\t%s\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\n" % (t, s, m[0], m[1], m[2], m[3], m[4], m[5]))
PY
