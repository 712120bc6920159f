#!/usr/bin/env bash
# Formatting, lints and the layout rules, as CI checks them:
#   - cargo fmt --check and clippy -D warnings;
#   - sluice-core depends on no network, file-system or database crate, and uses no tokio
#     feature that reaches the network or the file system;
#   - no source file outside `tests/` passes 600 lines.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

failed=0

# The engine stays small: what it may not depend on, by crate and by tokio feature.
forbidden='^(hyper|h2|reqwest|axum|tower-http|tonic|rustls|native-tls|openssl|sqlx|sqlx-core|rusqlite|libsqlite3-sys|tokio-postgres|postgres|redis|lapin|async-nats|rdkafka|rdkafka-sys|glob|walkdir|notify|tempfile|csv|serde_json)$'
deps=$(cargo tree -p sluice-core -e normal --prefix none --locked | awk '{print $1}' | sort -u)
if bad=$(grep -E "$forbidden" <<<"$deps"); then
  echo "sluice-core must not depend on: $(tr '\n' ' ' <<<"$bad")" >&2
  failed=1
fi
features=$(cargo tree -p sluice-core -e features,normal -i tokio --prefix none --locked |
  sed -n 's/^tokio feature "\([a-z-]*\)".*/\1/p' | sort -u)
if bad=$(grep -xE 'net|fs|process|io-std' <<<"$features"); then
  echo "sluice-core must not use tokio's $(tr '\n' ' ' <<<"$bad")features" >&2
  failed=1
fi

# A file is one role: long files are split by role, not grown.
while read -r lines file; do
  if [ "$lines" -gt 600 ] && [ "$file" != total ]; then
    echo "$file: $lines lines (at most 600 outside tests/)" >&2
    failed=1
  fi
done < <(find crates -name '*.rs' -not -path '*/tests/*' -print0 | xargs -0 wc -l)

exit "$failed"
