#!/usr/bin/env python3
"""Per-round ratios of interleaved JMH forks (bench/loop-compare.sh), with a bootstrap interval.

    ratios.py LOG

LOG lines: round benchmark candidate score [time]; candidate = jar:impl; a line "# order C..."
gives the candidates' order (else first seen). With one jar, the first
impl (jaio) is divided by each other impl of the same round (jaio / Netty); with several jars,
each later jar by the first, impl by impl (B / A). Printed per benchmark: every candidate's
median and range (M ops/s), then per ratio the rounds' values, their median and a 90 % bootstrap
interval of that median (4000 resamples of the rounds, fixed seed), and how many rounds reached
1.0. Only ratios within one round are formed: both sides ran within seconds of each other.
"""
import collections
import random
import statistics as st
import sys


def main(log):
    score = collections.defaultdict(dict)  # (bench, round) -> cand -> M ops/s
    order = collections.defaultdict(list)  # bench -> candidates in first-seen order
    given = []  # "# order" line of loop-compare.sh: the candidates as given
    for line in open(log):
        f = line.split()
        if f[:2] == ['#', 'order']:
            given = f[2:]
            continue
        if len(f) < 4:
            continue
        try:
            v = float(f[3]) / 1e6
        except ValueError:
            continue
        score[(f[1], f[0])][f[2]] = v
        if f[2] not in order[f[1]]:
            order[f[1]].append(f[2])
    rng = random.Random(1)
    for bench, seen in order.items():
        cands = [c for c in given if c in seen] + [c for c in seen if c not in given]
        rounds = sorted({r for (b, r) in score if b == bench}, key=int)
        print("%s: %d rounds" % (bench, len(rounds)))
        for c in cands:
            v = [score[(bench, r)][c] for r in rounds if c in score[(bench, r)]]
            print("  %-40s median %7.2f M/s  range %.2f-%.2f  n=%d" % (c, st.median(v), min(v), max(v), len(v)))
        jars = []
        for c in cands:
            j = c.rsplit(':', 1)[0]
            if j not in jars:
                jars.append(j)
        pairs = []
        if len(jars) > 1:
            for c in cands:
                j, i = c.rsplit(':', 1)
                if j != jars[0]:
                    pairs.append((c, jars[0] + ':' + i))
        else:
            pairs = [(cands[0], c) for c in cands[1:]]
        for x, y in pairs:
            rs = [score[(bench, r)][x] / score[(bench, r)][y] for r in rounds
                  if x in score[(bench, r)] and y in score[(bench, r)]]
            if not rs:
                continue
            boot = sorted(st.median(rng.choices(rs, k=len(rs))) for _ in range(4000))
            print("  %s / %s: %s\n    median %.2f, 90%% interval %.2f-%.2f, %d of %d rounds >= 1.0" % (
                x, y, " ".join("%.2f" % v for v in rs), st.median(rs),
                boot[len(boot) // 20], boot[len(boot) - 1 - len(boot) // 20], sum(v >= 1.0 for v in rs), len(rs)))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
