#!/usr/bin/env bash
# A local Redis Cluster for tests and for trying tripindex's Redis stores: 3 masters + 3 replicas
# on loopback ports BASE..BASE+5, cluster-node-timeout 2 s, data in DIR.
#
#   Benchmarks/scripts/redis-cluster.sh start DIR [BASE_PORT] [--owner PID] [--password P]
#   Benchmarks/scripts/redis-cluster.sh stop DIR [--remove]  # --remove: and delete DIR
#   Benchmarks/scripts/redis-cluster.sh kill DIR PORT     # kill -9 one node (fault tests)
#   Benchmarks/scripts/redis-cluster.sh restart DIR PORT  # start a killed node again
#   Benchmarks/scripts/redis-cluster.sh standalone DIR PORT [--owner PID] [--password P]
#                                                         # one Redis without cluster mode
#   Benchmarks/scripts/redis-cluster.sh unjoined DIR PORT [--owner PID] [--password P]
#                                                         # one cluster node, in no cluster (no slots)
#
# `start` waits until the cluster serves all 16384 slots and every master has its replica, then
# prints the seed address (127.0.0.1:BASE,...) on stdout. With --owner, a watchdog stops the
# cluster and deletes DIR when that process ends (so a test run, even one that dies, leaves no
# servers and no data behind).
# Needs redis-server and redis-cli (Debian: apt-get install redis-server).
set -euo pipefail

# Keep no descriptor but stdin, stdout and stderr: the servers and the watchdog this leaves
# running must not hold open a pipe the caller (a test process running other tools at the same
# moment) waits to see closed.
for descriptor in /proc/$$/fd/*; do
  descriptor=${descriptor##*/}
  if [ "$descriptor" -gt 2 ] 2>/dev/null; then eval "exec $descriptor>&-" 2>/dev/null || true; fi
done

command=${1:?usage: redis-cluster.sh start|stop|kill|restart DIR ...}
dir=${2:?usage: redis-cluster.sh start|stop|kill|restart DIR ...}
shift 2

start_node() {
  local port=$1
  local password=${2:-}
  local cluster=${3:-yes}
  mkdir -p "$dir/$port"
  local auth=()
  if [ -n "$password" ]; then auth=(--requirepass "$password" --masterauth "$password"); fi
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled "$cluster" \
    --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 2000 \
    --dir "$dir/$port" --appendonly yes --appendfsync everysec --save "" \
    --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
    --protected-mode no "${auth[@]}"
}

# Waits until the node started in $dir/PORT answers on PORT. Only that node counts: when another
# run's server already holds the port, ours fails to bind and exits, and the other would answer
# a ping (the caller then tries other ports).
wait_for_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if [ -s "$dir/$port/redis.pid" ]; then
      served=$(redis-cli -p "$port" ${REDISCLI_AUTH:+--no-auth-warning} info server 2>/dev/null |
        tr -d '\r' | sed -n 's/^process_id://p')
      if [ -n "$served" ] && [ "$served" = "$(cat "$dir/$port/redis.pid")" ]; then return 0; fi
    fi
    sleep 0.05
  done
  echo "redis-cluster.sh: node 127.0.0.1:$port did not start, or another server holds the port (see $dir/$port/redis.log)" >&2
  return 1
}

# [PORT] [--owner PID] [--password P] into port, owner and password; makes DIR.
parse_options() {
  port=""
  owner=""
  password=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --owner) owner=$2; shift 2 ;;
      --password) password=$2; shift 2 ;;
      *) port=$1; shift ;;
    esac
  done
  if [ -n "$password" ]; then export REDISCLI_AUTH=$password; fi
  mkdir -p "$dir"
}

# With an owner process: stop every node of DIR and delete DIR when it ends.
watch_owner() {
  local owner=$1
  [ -n "$owner" ] || return 0
  local script
  script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
  nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; '$script' stop '$dir' --remove" \
    >/dev/null 2>&1 &
}

case "$command" in
  start)
    parse_options "$@"
    base=${port:-7000}
    echo "$base" > "$dir/base-port"
    [ -n "$password" ] && echo "$password" > "$dir/password"
    nodes=()
    for offset in 0 1 2 3 4 5; do
      port=$((base + offset))
      start_node "$port" "$password"
      nodes+=("127.0.0.1:$port")
    done
    for offset in 0 1 2 3 4 5; do wait_for_port $((base + offset)); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
      ${REDISCLI_AUTH:+--no-auth-warning} > "$dir/create.log" 2>&1 || {
      echo "redis-cluster.sh: redis-cli --cluster create failed (see $dir/create.log)" >&2
      exit 1
    }
    # Formed when every node says ok and each of the 3 masters has a connected replica.
    for _ in $(seq 1 200); do
      formed=1
      for offset in 0 1 2 3 4 5; do
        state=$(redis-cli -p $((base + offset)) ${REDISCLI_AUTH:+--no-auth-warning} cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')
        [ "$state" = ok ] || formed=0
      done
      replicas=$(redis-cli -p "$base" ${REDISCLI_AUTH:+--no-auth-warning} cluster nodes 2>/dev/null | grep -c ' slave ' || true)
      [ "$replicas" -ge 3 ] || formed=0
      # ... and every replica has synced with its master.
      for offset in 0 1 2 3 4 5; do
        info=$(redis-cli -p $((base + offset)) ${REDISCLI_AUTH:+--no-auth-warning} info replication 2>/dev/null | tr -d '\r')
        if echo "$info" | grep -q '^role:slave'; then
          echo "$info" | grep -q '^master_link_status:up' || formed=0
        fi
      done
      [ $formed = 1 ] && break
      sleep 0.1
    done
    if [ $formed != 1 ]; then
      echo "redis-cluster.sh: the cluster did not form (see $dir/*/redis.log)" >&2
      exit 1
    fi
    watch_owner "$owner"
    (IFS=,; echo "${nodes[*]}")
    ;;
  standalone | unjoined)
    parse_options "$@"
    : "${port:?usage: redis-cluster.sh standalone|unjoined DIR PORT [--owner PID] [--password P]}"
    start_node "$port" "$password" "$([ "$command" = unjoined ] && echo yes || echo no)"
    wait_for_port "$port"
    watch_owner "$owner"
    echo "127.0.0.1:$port"
    ;;
  stop)
    for pidfile in "$dir"/*/redis.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      # Gone, or a zombie (where nothing reaps orphans, as in some containers).
      for _ in $(seq 1 40); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.05
      done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    done
    if [ "${1:-}" = --remove ]; then rm -rf "$dir"; fi
    ;;
  kill)
    port=${1:?usage: redis-cluster.sh kill DIR PORT}
    kill -9 "$(cat "$dir/$port/redis.pid")"
    rm -f "$dir/$port/redis.pid"
    ;;
  restart)
    port=${1:?usage: redis-cluster.sh restart DIR PORT}
    password=$(cat "$dir/password" 2>/dev/null || true)
    if [ -n "$password" ]; then export REDISCLI_AUTH=$password; fi
    start_node "$port" "$password"
    wait_for_port "$port"
    ;;
  *)
    echo "usage: redis-cluster.sh start|stop|kill|restart DIR ..." >&2
    exit 2
    ;;
esac
