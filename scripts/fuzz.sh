#!/usr/bin/env bash
# Fuzzes one target of fuzz/ with libFuzzer for a while, or each in turn:
#
#   scripts/fuzz.sh TARGET [SECONDS]     TARGET: pipeline_file, worker_file, codec, jq, dead_letter,
#                                        http_body, enqueue_file, or all
#
# New inputs that reach new code are kept in fuzz/corpus/TARGET (in the repository, so each run
# starts where the last one stopped); fuzz/seeds/TARGET holds the hand-written starting inputs.
# An input that crashes is written to fuzz/artifacts/TARGET and the run stops: fix the bug, then
# keep the input as a regression test (see docs/reliability.md). Not part of CI.
#
# Needs cargo-fuzz (installed here if missing). The sanitizer flags it passes are unstable
# options of rustc, which the stable toolchain takes with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?"usage: scripts/fuzz.sh TARGET [SECONDS]"}
seconds=${2:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if [ "$target" = all ]; then
  for t in pipeline_file worker_file codec jq dead_letter http_body enqueue_file; do "$0" "$t" "$seconds"; done
  exit 0
fi
mkdir -p "corpus/$target" "seeds/$target"
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
