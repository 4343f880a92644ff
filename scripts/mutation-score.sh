#!/usr/bin/env bash
# The hunt's mutation score on raft: for each planted bug (raft's `mutation` parameter,
# see crates/systems/src/raft/mod.rs), hunt swarm seeds and report within how many the
# first finding came, and its signature. The reference (`none`) must find nothing.
#
#   scripts/mutation-score.sh [SEEDS] [JOBS]      (default 5000 seeds, 2 jobs)
set -euo pipefail
seeds="${1:-5000}"
jobs="${2:-2}"
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/splitbrain
printf '%-22s %-10s %-8s %s\n' mutation first-seed found signature
caught=0
total=0
for m in none vote-ignores-log commit-old-terms quorum-off-by-one ack-on-append forget-vote accept-stale-leader; do
  out=$("$bin" hunt --system raft --seeds "$seeds" --jobs "$jobs" --param "mutation=$m" --json 2>/dev/null || true)
  first=$(grep -m1 '"type":"finding"' <<<"$out" || true)
  found=$(grep -c '"type":"finding"' <<<"$out" || true)
  if [[ -n "$first" ]]; then
    seed=$(sed -E 's/.*"seed":([0-9]+).*/\1/' <<<"$first")
    sig=$(sed -E 's/.*"violations":\[\{"invariant":"([^"]+)","kind":"([^"]+)".*/\1 (\2)/' <<<"$first")
  else
    seed="-"
    sig="none within $seeds seeds"
  fi
  printf '%-22s %-10s %-8s %s\n' "$m" "$seed" "$found" "$sig"
  if [[ "$m" != none ]]; then
    total=$((total + 1))
    [[ -n "$first" ]] && caught=$((caught + 1))
  elif [[ -n "$first" ]]; then
    echo "the reference raft failed: a false positive or a real bug" >&2
    exit 1
  fi
done
echo "mutation score: $caught of $total planted bugs caught within $seeds seeds"
