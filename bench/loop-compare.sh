#!/usr/bin/env bash
# The loop's JMH benchmarks in interleaved single forks, then per-round ratios with a bootstrap
# interval (bench/ratios.py). Why: on these 2-vCPU VMs a fork's score moves by ±20–50 % with the
# host, both jaio's and Netty's, so one fork each (or -f 4 of one, then -f 4 of the other) says
# little. Here every round runs each candidate once, back to back, in an order that rotates
# from round to round, and only ratios within a round are compared.
#
#   bench/loop-compare.sh                                   # jaio beside Netty epoll and NIO
#   JARS="old.jar new.jar" IMPLS=jaio BENCHES=BhChainBenchmark ROUNDS=8 bench/loop-compare.sh   # A/B
#   BENCHES=PassBenchmark JARS="old.jar new.jar" IMPLS=- bench/loop-compare.sh                 # A/B of one pass
#
# env: JARS (default this checkout's jaio-bench.jar; several for an A/B of builds), IMPLS (the
# -p impl= values, default "jaio netty-epoll netty-nio"; "-" for benchmarks without impl),
# BENCHES (default "BhBurstBenchmark CrossThreadBenchmark BhChainBenchmark"), ROUNDS (default
# 8), JMH (the per-fork options, default "-f 1 -wi 3 -i 5 -w 1s -r 1s"), EXTRA (more JMH options,
# e.g. "-p chains=1"), LOG (raw lines, default bench/results/loop-compare-DATE.log), JAVA.
# Raw line: round benchmark candidate score time; candidate = jar-basename:impl.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
java=${JAVA:-java}
read -r -a jars <<<"${JARS:-$here/jaio-bench/target/jaio-bench.jar}"
read -r -a impls <<<"${IMPLS:-jaio netty-epoll netty-nio}"
read -r -a benches <<<"${BENCHES:-BhBurstBenchmark CrossThreadBenchmark BhChainBenchmark}"
rounds=${ROUNDS:-8}
jmh=${JMH:--f 1 -wi 3 -i 5 -w 1s -r 1s}
mkdir -p "$here/bench/results"
log=${LOG:-$here/bench/results/loop-compare-$(date -u +%Y%m%d-%H%M%S).log}
for j in "${jars[@]}"; do [ -f "$j" ] || { echo "loop-compare: no jar $j (build: ./jaio build)" >&2; exit 1; }; done
"$java" -version 2>&1 | head -1 | grep -qE '"(2[5-9]|[3-9][0-9])' \
  || { echo "loop-compare: $java is not a JDK 25 or newer (set JAVA)" >&2; exit 1; }
cands=()
for j in "${jars[@]}"; do for i in "${impls[@]}"; do cands+=("$j|$i"); done; done
n=${#cands[@]}
order=""
for c in "${cands[@]}"; do order+=" $(basename "${c%%|*}"):${c#*|}"; done
echo "# order$order" >>"$log" # the candidates as given: ratios.py divides by them in this order
echo "loop-compare: $rounds rounds x ${#benches[@]} benchmarks x $n candidates, raw lines in $log" >&2
for r in $(seq "$rounds"); do
  for b in "${benches[@]}"; do
    for k in $(seq 0 $((n - 1))); do
      c=${cands[$(( (k + r) % n ))]}
      jar=${c%%|*}; impl=${c#*|}
      p=(); [ "$impl" != - ] && p=(-p "impl=$impl")
      # shellcheck disable=SC2086
      out=$("$java" -jar "$jar" "io\\.jaio\\.bench\\.$b\\." "${p[@]}" $jmh ${EXTRA:-} 2>&1) \
        || { printf '%s\n' "$out" | tail -20 >&2; echo "loop-compare: $b $c failed" >&2; exit 1; }
      # JMH's result line: ... thrpt [Cnt] Score [± Error] Units (Cnt and Error only with 2+ iterations)
      score=$(printf '%s\n' "$out" | awk '/^[A-Za-z]+Benchmark\.[A-Za-z]+ /{
        n=0; for(i=1;i<=NF;i++) if($i=="thrpt") t=i; for(i=t+1;i<=NF;i++) if($i ~ /^[0-9.]+$/) v[++n]=$i
        print (n >= 2 ? v[2] : v[1]); exit}')
      [ -n "$score" ] || { printf '%s\n' "$out" | tail -20 >&2; echo "loop-compare: no score for $b $c" >&2; exit 1; }
      echo "$r $b $(basename "$jar"):$impl $score $(date -u +%T)" | tee -a "$log"
    done
  done
done
python3 "$here/bench/ratios.py" "$log"
