#!/usr/bin/env python3
"""Reads `variant=... items_per_s=... [cpu_s=...]` lines on stdin and prints the medians per
variant. Used by the scripts in this folder.

--ratios NAME=A/B[:TARGET]  the ratio of the medians of A and B, and whether it meets TARGET
                            (a minimum); a variant without figures is shown as n/a.
--costs NAME=A/B[:TARGET]   what A costs against B, in percent: items/s lost and, where the
                            lines carry `cpu_s`, CPU-seconds added; each against TARGET (a
                            maximum).
"""
import re
import statistics
import sys

rates = {}
cpu = {}
for line in sys.stdin:
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    if "variant" in fields and "items_per_s" in fields:
        rates.setdefault(fields["variant"], []).append(float(fields["items_per_s"]))
        if "cpu_s" in fields:
            cpu.setdefault(fields["variant"], []).append(float(fields["cpu_s"]))

print(f"{'variant':<34} {'runs':>4} {'median items/s':>16} {'median CPU s':>13}")
for name, values in rates.items():
    cpu_s = f"{statistics.median(cpu[name]):>13.2f}" if name in cpu else f"{'':>13}"
    print(f"{name:<34} {len(values):>4} {statistics.median(values):>16,.0f} {cpu_s}")


def median(figures, name):
    return statistics.median(figures[name]) if name in figures else None


def specs(flag):
    """The NAME, A, B and TARGET of each spec following `flag`, up to the next flag."""
    args = sys.argv[1:]
    if flag not in args:
        return
    print()
    for spec in args[args.index(flag) + 1:]:
        if spec.startswith("--"):
            break
        label, _, rest = spec.partition("=")
        expr, _, target = rest.partition(":")
        a, _, b = expr.partition("/")
        yield label, a, b, target


def verdict(met, target, sign):
    return f"  target {sign} {target}: {'met' if met else 'MISSED'}" if target else ""


for label, a, b, target in specs("--ratios"):
    if median(rates, a) is None or median(rates, b) is None:
        print(f"{label:<44} {'n/a':>9}  (no figures for {a if median(rates, a) is None else b})")
        continue
    ratio = median(rates, a) / median(rates, b)
    print(f"{label:<44} {ratio:>8.2f}x{verdict(target and ratio >= float(target), target, '>=')}")

for label, a, b, target in specs("--costs"):
    lost = (median(rates, b) - median(rates, a)) / median(rates, b) * 100
    met = target and lost < float(target)
    print(f"{'cost of ' + label + ' in items/s':<44} {lost:>7.1f} %{verdict(met, target + '%', '<')}")
    if median(cpu, a) is not None and median(cpu, b) is not None:
        added = (median(cpu, a) - median(cpu, b)) / median(cpu, b) * 100
        met = target and added < float(target)
        figures = f"  ({median(cpu, b):.2f} -> {median(cpu, a):.2f} s)"
        print(f"{'cost of ' + label + ' in CPU-seconds':<44} {added:>7.1f} %{verdict(met, target + '%', '<')}{figures}")
