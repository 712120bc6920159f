"""Draws bench/out/soak/soak.csv (written by bench/soak.sh) as a PNG: throughput, memory, open
file descriptors and store sizes, one panel each, minute by minute.

    python3 bench/soak_plot.py [CSV] [PNG]     # needs matplotlib (pip install matplotlib)
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source = sys.argv[1] if len(sys.argv) > 1 else "bench/out/soak/soak.csv"
target = sys.argv[2] if len(sys.argv) > 2 else "bench/out/soak/soak.png"
rows = list(csv.DictReader(open(source)))
minutes = [int(r["minute"]) for r in rows]


def series(name):
    return [float(r[name]) for r in rows]


panels = [
    ("throughput", [("pipeline events/s", "events_per_s")], "events/s"),
    (
        "jobs succeeded in the last minute",
        [("SQLite", "sqlite_jobs"), ("PostgreSQL", "postgres_jobs"), ("Redis", "redis_jobs")],
        "jobs",
    ),
    (
        "resident memory",
        [
            ("pipeline", "pipeline_rss_mib"),
            ("worker, SQLite", "sqlite_rss_mib"),
            ("worker, PostgreSQL", "postgres_rss_mib"),
            ("worker, Redis", "redis_rss_mib"),
        ],
        "MiB",
    ),
    ("open file descriptors", [("pipeline", "pipeline_fds"), ("workers (most)", "worker_fds_max")], "fds"),
    (
        "store size",
        [("PostgreSQL", "pg_mib"), ("SQLite", "sqlite_mib"), ("Redis", "redis_mib")],
        "MiB",
    ),
]
fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True)
for ax, (title, lines, unit) in zip(axes, panels):
    for label, column in lines:
        ax.plot(minutes, series(column), marker=".", label=label)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
axes[-1].set_xlabel("minute")
fig.tight_layout()
fig.savefig(target, dpi=110)
print(f"wrote {target}")
