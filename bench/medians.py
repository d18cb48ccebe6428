#!/usr/bin/env python3
"""Medians of interleaved fio rounds (bench/lib-ab.sh): one row per test, per server its median
IOPS, p99 (us) and server CPU per I/O (us), then the asked ratios of median IOPS.

    medians.py LOG LABELS RATIOS
    medians.py ab.log ABK A/K,B/K,B/A
    medians.py native.log JQK J/Q,J/K,J/best      (best: the better of the other servers)

LOG lines: LABEL test iops bw lat_mean p99 ... cpu (fio-nbd.sh's columns, the label in front).
"""
import collections
import statistics as st
import sys


def main(log, labels, ratios):
    rows = collections.defaultdict(list)
    tests = []
    for line in open(log):
        f = line.split()
        if len(f) < 10 or f[1] == 'test':
            continue
        try:
            rows[(f[1], f[0])].append((float(f[2]), float(f[7]), float(f[5])))
        except ValueError:
            continue
        if f[1] not in tests:
            tests.append(f[1])
    specs = [r.split('/') for r in ratios.split(',')]
    print("%-22s" % "test" + "".join("%10s %6s %7s" % (s + " iops", "p99", "cpu/io") for s in labels)
          + "".join(" %6s" % r for r in ratios.split(',')))
    for t in tests:
        out, med = "%-22s" % t, {}
        for s in labels:
            v = rows.get((t, s), [])
            if not v:
                out += "%10s %6s %7s" % ("-", "-", "-")
                continue
            i = st.median(x[0] for x in v)
            med[s] = i
            out += "%10.0f %6.0f %7.1f" % (i, st.median(x[2] for x in v), st.median(x[1] for x in v) / i * 1e6)
        for a, b in specs:
            den = max(med.get(s, 0) for s in labels if s != a) if b == 'best' else med.get(b, 0)
            out += " %6.2f" % (med[a] / den) if a in med and den else " %6s" % "-"
        print(out)


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit("usage: medians.py LOG LABELS RATIOS")
    main(*sys.argv[1:])
