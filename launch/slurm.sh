#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Several GPU hosts under SLURM: one avjax process per node with all its GPUs, joined by
# jax.distributed; the coordinator is the first node of the allocation.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

usage() {
  cat <<USAGE
usage: launch/slurm.sh [-N NODES] [-g GPUS_PER_NODE] [-t TIME] [-p PARTITION] [-A ACCOUNT]
                       [-J NAME] [--port PORT] [--logs DIR] [--dry-run] -- AVJAX_ARGS...

Outside an allocation: writes a batch script (DIR/NAME.sbatch) and submits it with sbatch.
Inside one (salloc, or the batch script itself): runs
  srun --ntasks-per-node=1 PYTHON -m avjax.cli AVJAX_ARGS --coordinator FIRST_NODE:PORT --num_processes N
one task per node; each task's --process_id is its SLURM_PROCID (read by avjax itself).

  -N, --nodes N          nodes (default 2)
  -g, --gpus G           GPUs per node (default 8)
  -t, --time T           time limit (default 24:00:00)
  -p, --partition P      partition
  -A, --account A        account
  -J, --job-name NAME    job name (default avjax)
      --port PORT        coordinator port (default 61440 + SLURM_JOB_ID % 4096)
      --logs DIR         batch script and job output (default runs/slurm)
      --dry-run          print the batch script / commands instead (or DRY_RUN=1)
  -h, --help             this text
Environment: PYTHON (default python3), DRY_RUN. The working directory of the job is the repository.

example:
  launch/slurm.sh -N 4 -g 8 -p gpu -- train --config configs/crisscross/kinetics_sound.py \\
      --workdir /shared/runs/cc_k400
USAGE
}

NODES=2 GPUS=8 TIME=24:00:00 PARTITION="" ACCOUNT="" NAME=avjax PORT="" LOGS=runs/slurm
while [[ $# -gt 0 ]]; do
  case "$1" in
    -N|--nodes) NODES=$2; shift 2 ;;
    -g|--gpus) GPUS=$2; shift 2 ;;
    -t|--time) TIME=$2; shift 2 ;;
    -p|--partition) PARTITION=$2; shift 2 ;;
    -A|--account) ACCOUNT=$2; shift 2 ;;
    -J|--job-name) NAME=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --logs) LOGS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see -h)" ;;
  esac
done
check_avjax_args "$@"
REPO=$(cd "$HERE/.." && pwd)
[[ "$LOGS" == /* ]] || LOGS="$PWD/$LOGS"

if [[ -n "${SLURM_JOB_ID:-}" ]]; then
  # Inside an allocation: one task per node, all of them one jax.distributed job.
  nodelist=${SLURM_JOB_NODELIST:-${SLURM_NODELIST:-}}
  [[ -n "$nodelist" ]] || die "SLURM_JOB_ID is set but SLURM_JOB_NODELIST is not"
  nnodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-$NODES}}
  # avjax's own rule (first node of the list; port --port, else 61440 + job id % 4096), so the
  # launcher and a task started without --coordinator agree.
  coordinator=$(AVJAX_COORDINATOR_PORT="$PORT" "$PYTHON" -c \
    'from avjax.sharding import slurm_coordinator; print(slurm_coordinator())')
  echo "slurm: job $SLURM_JOB_ID, $nnodes nodes ($nodelist), coordinator $coordinator"
  run srun --nodes="$nnodes" --ntasks="$nnodes" --ntasks-per-node=1 --kill-on-bad-exit=1 \
    --chdir="$REPO" "$PYTHON" -m avjax.cli "$@" \
    --coordinator "$coordinator" --num_processes "$nnodes"
  exit 0
fi

# Outside: a batch script that runs this script again inside the allocation.
optional=""
[[ -z "$PARTITION" ]] || optional+="#SBATCH --partition=$PARTITION"$'\n'
[[ -z "$ACCOUNT" ]] || optional+="#SBATCH --account=$ACCOUNT"$'\n'
port_arg=""
[[ -z "$PORT" ]] || port_arg="--port $(quote "$PORT") "
script=$(cat <<BATCH
#!/usr/bin/env bash
#SBATCH --job-name=$NAME
#SBATCH --nodes=$NODES
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=$GPUS
#SBATCH --time=$TIME
#SBATCH --output=$LOGS/%x-%j.out
${optional}set -euo pipefail
cd $(quote "$REPO")
PYTHON=$(quote "$PYTHON") exec $(quote "$HERE/slurm.sh") ${port_arg}-- $(quote "$@")
BATCH
)
batch_file="$LOGS/$NAME.sbatch"
if [[ "$DRY_RUN" == 1 ]]; then
  echo "# $batch_file:"
  echo "$script"
else
  mkdir -p "$LOGS"
  echo "$script" >"$batch_file"
fi
run sbatch "$batch_file"
