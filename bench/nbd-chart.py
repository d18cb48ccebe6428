#!/usr/bin/env python3
"""Draw the NBD comparison chart from bench/nbd-compare.sh's results.

usage: nbd-chart.py RESULTS_DIR OUT.png
RESULTS_DIR holds vs-nbdkit/ and vs-qemu-nbd/ (compare.sh OUTDIRs: a/rN/summary.tsv, b/rN/...).
Plots median IOPS per test for nbdkit, qemu-nbd and jaio (jaio's median over both runs).
"""
import csv
import statistics
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def medians(outdir, side):
    vals = {}
    for f in sorted(Path(outdir, side).glob("r*/summary.tsv")):
        with open(f) as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row["iops"] in ("FAIL", "", "nan"):
                    continue
                vals.setdefault(row["test"], []).append(float(row["iops"]))
    return vals


def main():
    res, png = Path(sys.argv[1]), sys.argv[2]
    k = medians(res / "vs-nbdkit", "a")
    q = medians(res / "vs-qemu-nbd", "a")
    j = medians(res / "vs-nbdkit", "b")
    for t, v in medians(res / "vs-qemu-nbd", "b").items():
        j.setdefault(t, []).extend(v)
    tests = [t for t in k if t in j]
    med = lambda d, t: statistics.median(d[t]) if d.get(t) else 0.0
    x = range(len(tests))
    w = 0.27
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=100)
    ax.bar([i - w for i in x], [med(k, t) for t in tests], w, label="nbdkit 1.32 (file)")
    ax.bar([i for i in x], [med(q, t) for t in tests], w, label="qemu-nbd 7.2 (native, cache=none)")
    ax.bar([i + w for i in x], [med(j, t) for t in tests], w, label="jaio-storage-daemon (2 IOThreads, cache=none; tmpfs: inline I/O)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(tests, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("IOPS (median)")
    ax.set_title("fio nbd engine, Unix socket, 1 GiB image in /dev/shm, same run (bench/nbd-compare.sh)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)


if __name__ == "__main__":
    main()
