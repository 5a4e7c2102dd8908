#!/usr/bin/env bash
# A store on a local Redis Cluster (3 masters + 3 replicas on this machine) beside the LMDB
# store of the same items: write throughput acknowledged by replicas, snapshot time, memory.
#
#   Benchmarks/scripts/redis_store_throughput.sh [COUNT=100000] [DIMENSION=128] [BATCH=2000] [REPLICAS=1]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
dimension=${2:-128}
batch=${3:-2000}
replicas=${4:-1}
work=$(mktemp -d)
trap 'scripts/redis-cluster.sh stop "$work/cluster"; rm -rf "$work"' EXIT
seeds=$(scripts/redis-cluster.sh start "$work/cluster" 7600)
swift build -c release --product RedisStoreThroughput >/dev/null
"$(swift build -c release --show-bin-path)/RedisStoreThroughput" \
  "$seeds" "$count" "$dimension" "$batch" "$replicas" "$work/store.lmdb"
