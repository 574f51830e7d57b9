#!/usr/bin/env bash
# Time the book build: a clean build (no _build, no execution cache) and a rebuild after
# editing a code cell of one chapter (only that chapter re-executes). Prints each run and the medians,
# and checks that two clean builds print the same numbers in every chapter.
#
#   bash benchmarks/book_build.sh [RUNS] [CHAPTER]     (defaults: 3 runs, book/02_rnn_forward.md)
#
# Run it on an otherwise idle machine: the targets are clean <= 180 s, rebuild <= 20 s
# on 2 CPU cores. Per-chapter execution times come from jupyter-cache (`jcache`).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
CHAPTER="${2:-book/02_rnn_forward.md}"
JB=".venv/bin/jupyter-book"
PY=".venv/bin/python"
bash book/assets/vendor.sh
work="$(mktemp -d)"
trap '[ -f "$work/chapter.bak" ] && cp "$work/chapter.bak" "$CHAPTER"; rm -rf "$work"' EXIT

numbers() {  # the seeded numbers each chapter printed (tests/test_book.py's rule), one file per build
  "$PY" - "$1" <<'PYEOF'
import json, sys
from pathlib import Path

sys.path.insert(0, "tests")
from jupyter_cache import get_cache
from test_book import printed_numbers

# The copies in _build/jupyter_execute have no outputs: the execution cache holds them.
cache = get_cache("_build/.jupyter_cache")
latest = {}
for record in sorted(cache.list_cache_records(), key=lambda r: r.created):  # newest wins
    latest[record.uri.rsplit("/", 1)[-1]] = record.pk
out = {name: printed_numbers(cache.get_cache_bundle(pk).nb) for name, pk in sorted(latest.items())}
assert sum(map(len, out.values())) > 0, "no chapter printed a number: nothing to compare"
Path(sys.argv[1]).write_text(json.dumps(out, indent=1))
PYEOF
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

clean=()
rebuild=()
for run in $(seq 1 "$RUNS"); do
  rm -rf _build
  start=$(date +%s.%N)
  "$JB" build . -n -W --keep-going >"$work/clean.log" 2>&1 || { tail -30 "$work/clean.log"; exit 1; }
  end=$(date +%s.%N)
  clean+=("$(echo "$end - $start" | bc)")
  numbers "$work/numbers.$run.json"
  echo "run $run: clean build ${clean[-1]} s"
  cp "$CHAPTER" "$work/chapter.bak"
  # An edit to a code cell changes the chapter's cache key, so the chapter re-executes
  # (a Markdown-only edit re-renders it from the cache). Restored afterwards.
  printf '\n```{code-cell} ipython3\n# edited\n```\n' >>"$CHAPTER"
  start=$(date +%s.%N)
  "$JB" build . -n -W --keep-going >"$work/rebuild.log" 2>&1 || { tail -30 "$work/rebuild.log"; exit 1; }
  end=$(date +%s.%N)
  rebuild+=("$(echo "$end - $start" | bc)")
  cp "$work/chapter.bak" "$CHAPTER"
  echo "run $run: rebuild after editing a code cell of $CHAPTER ${rebuild[-1]} s"
done

echo "median clean build:  $(printf '%s\n' "${clean[@]}" | median) s over $RUNS runs"
echo "median rebuild:      $(printf '%s\n' "${rebuild[@]}" | median) s over $RUNS runs"

echo "execution time per chapter in the last clean build (jupyter-cache records):"
"$PY" - <<'PYEOF'
from jupyter_cache import get_cache

latest = {}
for record in get_cache("_build/.jupyter_cache").list_cache_records():
    name = record.uri.rsplit("/", 1)[-1]
    latest[name] = record.data.get("execution_seconds", float("nan"))  # newest last
for name, seconds in sorted(latest.items(), key=lambda kv: -kv[1]):
    print(f"  {name:24s} {seconds:6.1f} s")
PYEOF

if [ "$RUNS" -ge 2 ]; then
  if cmp -s "$work/numbers.1.json" "$work/numbers.2.json"; then
    echo "two clean builds printed the same numbers in every chapter"
  else
    echo "DIFFERENT numbers between clean builds 1 and 2:" >&2
    diff "$work/numbers.1.json" "$work/numbers.2.json" | head -20 >&2
    exit 1
  fi
fi
