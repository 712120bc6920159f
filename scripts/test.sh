#!/usr/bin/env bash
# The test command: starts what the tests need (scripts/services.sh), then runs every test of
# the workspace: unit tests, end-to-end tests, examples (each run and checked) and doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo test --workspace --locked "$@"
