#!/usr/bin/env bash
# Clean-build loop for the execution stall: RUNS clean builds one after another, each
# chapter's execution time per build (from the build's own "executed X in Y s" lines),
# then every chapter executed alone (benchmarks/chapter_alone.py), and a check that no
# chapter took more than twice its time alone in any build.
#
#   bash benchmarks/build_loop.sh [RUNS]        (default 10)
#
# Writes benchmarks/build_loop.tsv-style rows to stdout; run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10}"
JB=".venv/bin/jupyter-book"
PY=".venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash book/assets/vendor.sh

for run in $(seq 1 "$RUNS"); do
  rm -rf _build
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  "$JB" build . -n -W --keep-going >"$work/build.$run.log" 2>&1 || { tail -30 "$work/build.$run.log"; exit 1; }
  end=$(date +%s.%N)
  printf 'build %d: %.1f s (load %s at start)\n' "$run" "$(echo "$end - $start" | bc)" "$load"
  grep -oE "executed [0-9a-z_]+\.md in [0-9.]+ s" "$work/build.$run.log" \
    | awk -v r="$run" '{print r "\t" $2 "\t" $4}' | tee -a "$work/chapters.tsv"
  # myst-nb executing a chapter itself means the parallel run missed the cache
  if grep -q "Executing notebook" "$work/build.$run.log"; then
    echo "build $run: myst-nb executed chapters again:" >&2
    grep "Executing notebook" "$work/build.$run.log" >&2
    exit 1
  fi
done

echo "each chapter alone:"
"$PY" benchmarks/chapter_alone.py book/[0-9]*.md | tee "$work/alone.txt"

"$PY" - "$work/chapters.tsv" "$work/alone.txt" <<'PYEOF'
import collections, statistics, sys
alone = {}
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 3 and parts[2] == "s":
        alone[parts[0] + ".md"] = float(parts[1])
seen = collections.defaultdict(list)
for line in open(sys.argv[1]):
    run, name, seconds = line.split("\t")
    seen[name].append(float(seconds))
worst = []
print(f"{'chapter':24s} {'alone':>7s} {'median':>7s} {'max':>7s} {'max/alone':>9s}")
for name in sorted(seen, key=lambda n: -alone.get(n, 0)):
    times = seen[name]
    ratio = max(times) / alone[name]
    worst.append((ratio, name))
    print(f"{name:24s} {alone[name]:7.1f} {statistics.median(times):7.1f} {max(times):7.1f} {ratio:9.2f}")
ratio, name = max(worst)
print(f"worst: {name} at {ratio:.2f}x its time alone, over {len(next(iter(seen.values())))} builds")
sys.exit(0 if ratio <= 2 else 1)
PYEOF
