#!/usr/bin/env bash
# Real mode's throughput and latency: a fresh 3-node cluster on loopback per row, loaded
# for DURATION by `splitbrain load` (messages between nodes per second, client operations
# per second, p50/p99 latency of acknowledged operations; the checkers judge each run).
# A benchmark, not a test: figures depend on the machine.
#   scripts/real-load.sh [SYSTEM] [DURATION]
set -euo pipefail
system=${1:-raft}
duration=${2:-20s}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/splitbrain
data=$(mktemp -d)
trap 'kill $cluster 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
port=7301
for load in "--clients 3 --rate 50" "--clients 8 --rate 1000" "--clients 32 --rate 100000"; do
  rm -rf "$data"/*
  $bin cluster --system "$system" --nodes 3 --data "$data" --port $port >/dev/null &
  cluster=$!
  addrs="127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))"
  echo "== $system, $load, $duration"
  $bin load --system "$system" --cluster "$addrs" --duration "$duration" $load || true
  kill -INT $cluster
  wait $cluster || true
  port=$((port + 10))
done
