#!/usr/bin/env python3
"""Reads `variant=... items_per_s=...` lines on stdin and prints the median per variant.

With --ratios NAME=A/B[:TARGET] it also prints the ratio of the medians of A and B, and whether
it meets TARGET (a minimum); a ratio of a variant without figures is shown as n/a. Used by the scripts in this folder.
"""
import re
import statistics
import sys

rates = {}
extra = {}
for line in sys.stdin:
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    if "variant" in fields and "items_per_s" in fields:
        rates.setdefault(fields["variant"], []).append(float(fields["items_per_s"]))
        if fields.get("cpu_ns_per_item", "na") != "na":
            extra.setdefault(fields["variant"], []).append(float(fields["cpu_ns_per_item"]))

print(f"{'variant':<34} {'runs':>4} {'median items/s':>16}")
for name, values in rates.items():
    print(f"{name:<34} {len(values):>4} {statistics.median(values):>16,.0f}")

def median(name):
    return statistics.median(rates[name]) if name in rates else None

args = sys.argv[1:]
if args and args[0] == "--ratios":
    print()
    for spec in args[1:]:
        label, _, rest = spec.partition("=")
        expr, _, target = rest.partition(":")
        a, _, b = expr.partition("/")
        if median(a) is None or median(b) is None:
            print(f"{label:<44} {'n/a':>9}  (no figures for {a if median(a) is None else b})")
            continue
        ratio = median(a) / median(b)
        verdict = ""
        if target:
            verdict = "  target >= %s: %s" % (target, "met" if ratio >= float(target) else "MISSED")
        print(f"{label:<44} {ratio:>8.2f}x{verdict}")
