#!/usr/bin/env bash
# Instructions per operation for each scenario of benches/instructions.rs, counted by
# valgrind's callgrind: the count of (1 + CALLS) operations minus the count of 1, over CALLS.
# Usage: benches/callgrind.sh [SCENARIO...]      (default: every scenario; CALLS=1000)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
calls=${CALLS:-1000}
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  mapfile -t scenarios < <(grep -oE '^    "[a-z0-9_]+",$' benches/instructions.rs | tr -d ' ",')
fi
out=$(mktemp -d)
count() { # scenario calls -> instructions collected inside `measured`
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
    --toggle-collect='*instructions::measured*' "$bin" "$1" "$2" >/dev/null 2>"$out/log"
  grep -E '^(summary|totals):' "$out/cg.out" | head -1 | awk '{print $2}'
}
printf '%-32s %s\n' scenario instructions/op
for s in "${scenarios[@]}"; do
  one=$(count "$s" 1)
  many=$(count "$s" $((calls + 1)))
  printf '%-32s %s\n' "$s" $(( (many - one) / calls ))
done
rm -rf "$out"
