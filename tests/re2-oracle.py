#!/usr/bin/env python3
"""RE2 oracle for tests/data/re2-cases.txt (needs `pip install google-re2`).

Each non-comment line of the case file is tab-separated:
    VERDICT <TAB> PATTERN-JSON <TAB> INPUT-JSON [<TAB> reject: REASON]
VERDICT is RE2's full-match verdict: `match`, `nomatch` or `error`. The optional fourth column
marks a pattern that RE2 accepts but meshroute deliberately rejects.

    python3 tests/re2-oracle.py            # print each case with RE2's verdict; exit 1 on a mismatch
    python3 tests/re2-oracle.py --write    # rewrite the file with RE2's verdicts
"""

import json
import sys
from pathlib import Path

import re2

CASES = Path(__file__).resolve().parent / "data" / "re2-cases.txt"


def verdict(pattern: str, text: str) -> str:
    try:
        r = re2.compile(pattern)
    except re2.error:
        return "error"
    return "match" if r.fullmatch(text) is not None else "nomatch"


def main() -> int:
    write = "--write" in sys.argv[1:]
    out, mismatches = [], 0
    for n, line in enumerate(CASES.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        cols = line.split("\t")
        pattern, text = json.loads(cols[1]), json.loads(cols[2])
        got = verdict(pattern, text)
        if got != cols[0]:
            mismatches += 1
            print(f"line {n}: file says {cols[0]}, RE2 says {got}", file=sys.stderr)
        short = [c if len(c) <= 60 else c[:57] + "..." for c in cols[1:3]]
        note = f"  [{cols[3]}]" if len(cols) > 3 else ""
        print(f"{got:8} {short[0]} on {short[1]}{note}")
        cols[0] = got
        out.append("\t".join(cols))
    if write:
        CASES.write_text("\n".join(out) + "\n", encoding="utf-8")
        return 0
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
