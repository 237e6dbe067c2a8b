#!/usr/bin/env bash
# Builds the fuzz crate and runs every target for a bounded time, seeded from seeds/<target>.
#
#   fuzz/run.sh [SECONDS]     # per target, default 20
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Exits non-zero
# on the first crash, leak, timeout or out-of-memory; libFuzzer writes the input to
# fuzz/artifacts/<target>/. New corpus entries go to fuzz/corpus/<target>/ (not committed).
set -euo pipefail

secs="${1:-20}"
case "$secs" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

cd "$(dirname "$0")"
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
	echo "cargo-fuzz or the $toolchain toolchain is missing: cargo install cargo-fuzz --locked" >&2
	exit 2
fi
targets=(load compile decide regex normalize)

cargo "+$toolchain" fuzz build
for t in "${targets[@]}"; do
	# Whole documents for the text targets; a few rules and a request for `decide`; a pattern
	# (one mode byte, then at most 1024 bytes) for `regex`; a path past MAX_PATH_LEN for
	# `normalize`.
	case "$t" in
	decide) max_len=1024 ;;
	regex) max_len=1100 ;;
	normalize) max_len=9000 ;;
	*) max_len=8192 ;;
	esac
	echo "== fuzz $t for ${secs}s"
	mkdir -p "corpus/$t"
	if ! cargo "+$toolchain" fuzz run "$t" "corpus/$t" "seeds/$t" -- \
		-max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1; then
		echo "fuzz target $t failed; the input is in fuzz/artifacts/$t/" >&2
		exit 1
	fi
done
echo "fuzz: ${targets[*]} ran ${secs}s each without a crash"
