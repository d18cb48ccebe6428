#!/usr/bin/env python3
"""Draw the tail-latency chart from bench/nbd-tail.sh's medians (its TSV=... file).

usage: nbd-tail-chart.py MEDIANS.tsv OUT.png [LABEL=NAME ...]
One panel per test: p50, p99 and p99.9 (log scale, µs) per server side, IOPS in the side's label.
LABEL=NAME renames a side, e.g. A="jaio main" B="jaio poll-contention" K=nbdkit Q=qemu-nbd.
"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    tsv, png = sys.argv[1], sys.argv[2]
    names = {"A": "jaio A", "B": "jaio B", "K": "nbdkit", "Q": "qemu-nbd"}
    for a in sys.argv[3:]:
        k, v = a.split("=", 1)
        names[k] = v
    rows = {}
    tests, sides = [], []
    with open(tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows[(r["test"], r["side"])] = r
            if r["test"] not in tests:
                tests.append(r["test"])
            if r["side"] not in sides:
                sides.append(r["side"])
    fig, axes = plt.subplots(1, len(tests), figsize=(4.2 * len(tests), 4.6), squeeze=False)
    pcts = [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")]
    width = 0.8 / len(pcts)
    for ax, t in zip(axes[0], tests):
        xs = range(len(sides))
        for i, (key, label) in enumerate(pcts):
            vals = [float(rows[(t, s)][key]) for s in sides]
            ax.bar([x + (i - 1) * width for x in xs], vals, width, label=label)
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(["%s\n%.0fk IOPS" % (names.get(s, s), float(rows[(t, s)]["iops"]) / 1e3) for s in sides],
                           fontsize=8)
        ax.set_title(t, fontsize=10)
        ax.set_ylabel("completion latency, µs (log)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("NBD tail latency with 4 clients (fio nbd engine, medians of interleaved rounds; 2 vCPUs shared)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main()
