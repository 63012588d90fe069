#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# N avjax processes on this machine, each with forced CPU devices, joined by jax.distributed on
# 127.0.0.1: try multi-host behaviour (sharded checkpoints, per-process data) on one machine.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

usage() {
  cat <<USAGE
usage: launch/local.sh [-n PROCESSES] [-d DEVICES] [-p PORT] [--logs DIR] [--dry-run] -- AVJAX_ARGS...

Starts PROCESSES copies of \`avjax AVJAX_ARGS --coordinator 127.0.0.1:PORT --num_processes N
--process_id I\`, each on CPU with DEVICES forced host devices (XLA_FLAGS) and gloo collectives.
Process 0 prints to the terminal; process I>0 writes DIR/process_I.log. Stops all on Ctrl-C or
when one fails; the exit status is the first failure's.

  -n, --num_processes N   processes (default 2)
  -d, --devices D         CPU devices per process (default 2)
  -p, --port PORT         coordinator port (default: a free one)
      --logs DIR          where processes I>0 log (default runs/local_logs)
      --dry-run           print the commands instead (or DRY_RUN=1)
  -h, --help              this text
Environment: PYTHON (default python3), DRY_RUN.

example:
  launch/local.sh -n 2 -d 2 -- train --config configs/crisscross/synthetic.py:variant=tiny \\
      --workdir runs/local2 --config.mesh="[('data', 4), ('fsdp', 1)]"
USAGE
}

NUM=2 DEVICES=2 PORT="" LOGS=runs/local_logs
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|--num_processes) NUM=$2; shift 2 ;;
    -d|--devices) DEVICES=$2; shift 2 ;;
    -p|--port) PORT=$2; shift 2 ;;
    --logs) LOGS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see -h)" ;;
  esac
done
check_avjax_args "$@"
[[ "$NUM" =~ ^[1-9][0-9]*$ ]] || die "-n $NUM: give a positive number of processes"
[[ "$DEVICES" =~ ^[1-9][0-9]*$ ]] || die "-d $DEVICES: give a positive number of devices"
if [[ -z "$PORT" ]]; then
  PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

export JAX_PLATFORMS=cpu
export XLA_FLAGS="--xla_force_host_platform_device_count=$DEVICES"
echo "local: $NUM processes x $DEVICES CPU devices, coordinator 127.0.0.1:$PORT (JAX_PLATFORMS=$JAX_PLATFORMS XLA_FLAGS=$XLA_FLAGS)"
[[ "$DRY_RUN" == 1 ]] || mkdir -p "$LOGS"

PIDS=()
stop_all() {
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
}
trap 'stop_all; exit 130' INT TERM

for ((i = NUM - 1; i >= 0; i--)); do
  cmd=("$PYTHON" -m avjax.cli "$@" --coordinator "127.0.0.1:$PORT" --num_processes "$NUM" --process_id "$i")
  if [[ "$DRY_RUN" == 1 ]]; then
    run "${cmd[@]}"
    ((i == 0)) || echo "  (in the background, > $LOGS/process_$i.log 2>&1)"
  elif ((i == 0)); then
    "${cmd[@]}" &
    PIDS+=("$!")
  else
    "${cmd[@]}" >"$LOGS/process_$i.log" 2>&1 &
    PIDS+=("$!")
    echo "local: process $i (pid $!) logs to $LOGS/process_$i.log"
  fi
done
[[ "$DRY_RUN" == 1 ]] && exit 0

# Wait for all (polling: works with the bash 3 of macOS too); the first to fail stops the others.
status=0
while [[ ${#PIDS[@]} -gt 0 ]]; do
  remaining=()
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      remaining+=("$pid")
      continue
    fi
    rc=0
    wait "$pid" || rc=$?
    if ((rc != 0 && status == 0)); then
      status=$rc
      echo "local: a process (pid $pid) exited with status $rc; stopping the others (logs: $LOGS)" >&2
      stop_all
    fi
  done
  PIDS=(${remaining[@]+"${remaining[@]}"})
  [[ ${#PIDS[@]} -eq 0 ]] || sleep 1
done
exit "$status"
