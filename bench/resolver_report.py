#!/usr/bin/env python3
"""Markdown table for bench/resolver.sh's PKARR run: medians over rounds per query set.

  resolver_report.py RESULTS.tsv
"""
import statistics
import sys


def num(row, key):
    try:
        return float(row[key])
    except (KeyError, ValueError):
        return float("nan")


def med(vals):
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else float("nan")


def main(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    sets = []
    for r in rows:
        if r["set"] not in sets:
            sets.append(r["set"])
    print("| hit set | QPS median (min-max) | sat. avg ms | at 20k QPS offered: avg / p50 / p99 ms | kQ per pkdns CPU-s | lost % | rcodes | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sets:
        tp = [r for r in rows if r["set"] == s and r["kind"] == "tp"]
        lat = [r for r in rows if r["set"] == s and r["kind"] == "lat"]
        q = [num(r, "qps") for r in tp]
        eff = [num(r, "completed") / num(r, "cpu_s") / 1000 for r in tp if num(r, "cpu_s") > 0]
        lost = max([num(r, "lost_pct") for r in tp + lat] or [float("nan")])
        ls = (f"{med([num(r, 'avg_ms') for r in lat]):.3f} / {med([num(r, 'p50_ms') for r in lat]):.3f} / "
              f"{med([num(r, 'p99_ms') for r in lat]):.3f}") if lat else "-"
        rc = tp[-1]["rcodes"] if tp else "-"
        print(f"| {s} | {med(q):,.0f} ({min(q):,.0f}-{max(q):,.0f}) | {med([num(r, 'avg_ms') for r in tp]):.2f} | "
              f"{ls} | {med(eff):.1f} | {lost:.2f} | {rc} | {len(tp)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    main(sys.argv[1])
