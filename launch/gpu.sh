#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One GPU host, all its GPUs: one avjax process; the mesh's -1 axis takes every visible GPU.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

usage() {
  cat <<USAGE
usage: launch/gpu.sh [--gpus LIST] [--deterministic] [--install] [--log FILE] [--dry-run] -- AVJAX_ARGS...

Runs \`avjax AVJAX_ARGS\` once on this host with all its GPUs (or those in LIST). One process,
so no coordinator is needed; for several hosts use launch/slurm.sh.

      --gpus LIST        CUDA_VISIBLE_DEVICES, e.g. 0,1,2,3 (default: all)
      --deterministic    XLA_FLAGS+=--xla_gpu_deterministic_ops=true (reproducible, slower)
      --install          first pip install -e ".[cuda]" into PYTHON's environment
      --log FILE         also append the output to FILE
      --dry-run          print the commands instead (or DRY_RUN=1)
  -h, --help             this text
Environment: PYTHON (default python3), DRY_RUN, XLA_FLAGS (kept, added to).

example:
  launch/gpu.sh -- train --config configs/crisscross/synthetic.py:variant=full --workdir runs/cc_gpu
USAGE
}

GPUS="" DETERMINISTIC=0 INSTALL=0 LOG=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gpus) GPUS=$2; shift 2 ;;
    --deterministic) DETERMINISTIC=1; shift ;;
    --install) INSTALL=1; shift ;;
    --log) LOG=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see -h)" ;;
  esac
done
check_avjax_args "$@"

REPO=$(cd "$HERE/.." && pwd)
if ((INSTALL)); then
  run "$PYTHON" -m pip install -e "${REPO}[cuda]"
fi
if [[ -n "$GPUS" ]]; then
  export CUDA_VISIBLE_DEVICES=$GPUS
fi
if ((DETERMINISTIC)); then
  export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_deterministic_ops=true"
fi
if [[ "$DRY_RUN" != 1 ]] && command -v nvidia-smi >/dev/null; then
  echo "gpu: $(nvidia-smi -L | wc -l) GPUs on $(hostname) (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-all})"
fi
echo "gpu: CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-all} XLA_FLAGS=${XLA_FLAGS:-}"
cmd=("$PYTHON" -m avjax.cli "$@")
if [[ -n "$LOG" ]]; then
  [[ "$DRY_RUN" == 1 ]] || mkdir -p "$(dirname "$LOG")"
  if [[ "$DRY_RUN" == 1 ]]; then
    run "${cmd[@]}"
    echo "  (2>&1 | tee -a $LOG)"
  else
    "${cmd[@]}" 2>&1 | tee -a "$LOG"
    exit "${PIPESTATUS[0]}"
  fi
else
  run "${cmd[@]}"
fi
