#!/usr/bin/env bash
# Fuzz parse + check + lower. Needs cargo-fuzz (`cargo install cargo-fuzz`).
# On a stable toolchain cargo-fuzz's nightly flags are enabled with
# RUSTC_BOOTSTRAP=1; `-s none` skips the sanitizer (the target is safe Rust:
# what we hunt is panics, stack overflows and hangs).
#   bash fuzz/run.sh [SECONDS]     (default 600)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/parse_check
cp ../examples/*.nde ../tests/parse/ok/*.nde ../tests/parse/err/*.nde \
   ../tests/check/ok/*.nde ../tests/check/err/*.nde corpus/parse_check/ 2>/dev/null || true
RUSTC_BOOTSTRAP=1 cargo fuzz run -s none parse_check corpus/parse_check -- \
    -max_total_time="${1:-600}" -max_len=4096 -timeout=10 -rss_limit_mb=4096
