#!/usr/bin/env python3
"""Reads the lines bench/jobs.sh logs and prints its summary: medians per engine and process
count, each store's ceiling and the fraction of it Sluice reaches, each engine's best, the
fan-out/fan-in workflow on each engine, and the targets with "met" or "MISSED".

    python3 bench/jobs_summary.py bench/out/jobs.log
"""
import re
import statistics
import sys

runs = {}
ceilings = {}
workflows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if "variant" not in f:
        continue
    if f["variant"].startswith("workflow_"):
        workflows.setdefault(f["variant"].removeprefix("workflow_"), []).append(f)
    elif f["variant"].startswith("ceiling_"):
        ceilings.setdefault(f["variant"].removeprefix("ceiling_"), []).append(f)
    else:
        runs.setdefault((f["variant"], int(f.get("processes", 1))), []).append(f)


def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)


print(f"{'engine':<24} {'processes':>9} {'inserts/s':>11} {'worked/s':>10} {'p50 ms':>7} {'p99 ms':>7}")
for (name, processes), rows in runs.items():
    print(f"{name:<24} {processes:>9} {med(rows, 'inserts_per_s'):>11,.0f} {med(rows, 'items_per_s'):>10,.0f}"
          f" {med(rows, 'p50_ms'):>7.2f} {med(rows, 'p99_ms'):>7.2f}")

# Each engine's best: the process count that works the most jobs per second.
best = {}
for (name, processes), rows in runs.items():
    worked = med(rows, "items_per_s")
    if name not in best or worked > best[name][0]:
        best[name] = (worked, processes)
print()
print(f"{'engine, at its best':<24} {'worked/s':>10} {'processes':>9}")
for name, (worked, processes) in best.items():
    print(f"{name:<24} {worked:>10,.0f} {processes:>9}")

if ceilings:
    print()
    print(f"{'store ceiling':<24} {'jobs/s':>10}  {'best of':<22} {'Sluice reaches':>14}")
    for store, rows in ceilings.items():
        top = max(rows, key=lambda r: float(r["items_per_s"]))
        ceiling = float(top["items_per_s"])
        ours = f"sluice_{store}"
        share = f"{best[ours][0] / ceiling:.0%}" if ours in best else "n/a"
        where = f"batch {top['batch']}, {top['clients']} loops"
        print(f"{store:<24} {ceiling:>10,.0f}  {where:<22} {share:>14}")

if workflows:
    print()
    print(f"{'workflow 1 -> N -> 1':<24} {'steps':>7} {'enqueue s':>10} {'total s':>8} {'steps/s':>8}")
    for engine, rows in workflows.items():
        print(f"{engine:<24} {rows[0]['steps']:>7} {med(rows, 'enqueue_s'):>10.3f} {med(rows, 'total_s'):>8.3f}"
              f" {med(rows, 'steps_per_s'):>8,.0f}")


def verdict(met):
    return "met" if met else "MISSED"


print()
for store, peers in (("postgres", ("graphile", "pgboss", "apalis_postgres")), ("redis", ("bullmq",)),
                     ("sqlite", ("apalis_sqlite",))):
    for suffix, label in (("", "defaults"), ("_tuned", "tuned")):
        ours = f"sluice_{store}{suffix}"
        for peer in peers:
            if ours in best and peer in best:
                ratio = best[ours][0] / best[peer][0]
                print(f"{'worked/s, ' + ours + ' / ' + peer:<50} {ratio:>7.2f}x  target >= 2: {verdict(ratio >= 2)}")
if "sluice_sqlite" in best:
    sqlite = best["sluice_sqlite"][0]
    print(f"{'SQLite jobs worked/s, defaults':<50} {sqlite:>8,.0f}  target >= 50,000: {verdict(sqlite >= 50000)}")
for store in ("sqlite", "postgres", "redis"):
    rows = runs.get((f"sluice_{store}", 1))
    if rows:
        p50 = med(rows, "p50_ms")
        print(f"{'p50 pickup, idle, sluice_' + store:<50} {p50:>5.2f} ms  target < 2 ms: {verdict(p50 < 2)}")
inserts = {}
for (name, _), rows in runs.items():
    inserts[name] = max(inserts.get(name, 0), med(rows, "inserts_per_s"))
for ours, peer in (("sluice_postgres", "graphile"), ("sluice_postgres", "pgboss"),
                   ("sluice_postgres", "apalis_postgres"), ("sluice_redis", "bullmq"),
                   ("sluice_sqlite", "apalis_sqlite")):
    if ours in inserts and peer in inserts:
        ratio = inserts[ours] / inserts[peer]
        print(f"{'inserts/s, ' + ours + ' / ' + peer:<50} {ratio:>7.2f}x  target >= 1: {verdict(ratio >= 1)}")
if "bullmq" in workflows:
    theirs = med(workflows["bullmq"], "steps_per_s")
    for store in ("sqlite", "postgres", "redis"):
        if store in workflows:
            ratio = med(workflows[store], "steps_per_s") / theirs
            print(f"{'workflow steps/s, sluice_' + store + ' / bullmq flow':<50} {ratio:>7.2f}x  target >= 1: {verdict(ratio >= 1)}")
