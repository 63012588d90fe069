#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A Cloud TPU VM slice (one or several hosts): create it or reuse it, copy this working tree to
# every worker, install, and run the same avjax command on all workers at once (--worker=all).
# jax.distributed finds its peers from the TPU metadata (AVJAX_DISTRIBUTED=tpu).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

usage() {
  cat <<USAGE
usage: launch/tpu_pod.sh --name NAME --zone ZONE [--type TYPE] [--version RUNTIME] [--project P]
                         [--spot] [--no-copy] [--no-install] [--detach] [--dry-run] -- AVJAX_ARGS...
       launch/tpu_pod.sh --name NAME --zone ZONE --logs      (follow worker 0's log)
       launch/tpu_pod.sh --name NAME --zone ZONE --delete    (delete the TPU VM)

Runs \`avjax AVJAX_ARGS\` on every worker of the slice. The workdir should be a bucket path
(gs://...) or a disk every worker shares: all hosts write one checkpoint together.

      --name NAME        TPU VM name (or TPU_NAME)
      --zone ZONE        zone, e.g. us-central2-b (or TPU_ZONE)
      --type TYPE        accelerator type when creating (default v5litepod-16: 4 hosts)
      --version RUNTIME  TPU software version when creating (default: from TYPE)
      --project P        Google Cloud project (default: gcloud's)
      --spot             create a Spot TPU
      --no-copy          do not copy the working tree (already there)
      --no-install       do not pip install -e ".[tpu]" on the workers
      --detach           start in the background on the workers and follow worker 0's log
                         (the run survives a closed terminal; --logs follows it again)
      --dry-run          print the gcloud commands instead (or DRY_RUN=1)
  -h, --help             this text
On the workers the code lives in ~/avjax and each run logs to ~/avjax.log.

example:
  launch/tpu_pod.sh --name cc-pod --zone us-central2-b --type v4-32 -- train \\
      --config configs/crisscross/kinetics_sound.py --workdir gs://my-bucket/runs/cc_k400
USAGE
}

NAME=${TPU_NAME:-} ZONE=${TPU_ZONE:-} TYPE=v5litepod-16 VERSION="" PROJECT="" SPOT=0
COPY=1 INSTALL=1 DETACH=0 ACTION=run
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME=$2; shift 2 ;;
    --zone) ZONE=$2; shift 2 ;;
    --type) TYPE=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --project) PROJECT=$2; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --no-copy) COPY=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --detach) DETACH=1; shift ;;
    --logs) ACTION=logs; shift ;;
    --delete) ACTION=delete; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see -h)" ;;
  esac
done
[[ -n "$NAME" ]] || die "give --name NAME (or TPU_NAME)"
[[ -n "$ZONE" ]] || die "give --zone ZONE (or TPU_ZONE)"
if [[ -z "$VERSION" ]]; then
  case "$TYPE" in
    v4-*) VERSION="tpu-ubuntu2204-base" ;;
    v5litepod-*|v5e-*) VERSION="v2-alpha-tpuv5-lite" ;;
    v5p-*) VERSION="v2-alpha-tpuv5" ;;
    v6e-*) VERSION="v2-alpha-tpuv6e" ;;
    *) die "--type $TYPE: give --version (the TPU software version for this type)" ;;
  esac
fi
where=(--zone "$ZONE")
[[ -z "$PROJECT" ]] || where+=(--project "$PROJECT")
tpu=(gcloud compute tpus tpu-vm)
# shellcheck disable=SC2088  # expanded on the workers
LOG='~/avjax.log'
REMOTE=avjax

case "$ACTION" in
  logs) run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=0 --command "tail -n 100 -F $LOG"; exit ;;
  delete) run "${tpu[@]}" delete "$NAME" "${where[@]}" --quiet; exit ;;
esac
check_avjax_args "$@"

# 1. Create the slice, or reuse it.
create=("${tpu[@]}" create "$NAME" "${where[@]}" --accelerator-type "$TYPE" --version "$VERSION")
((SPOT == 0)) || create+=(--spot)
if [[ "$DRY_RUN" == 1 ]]; then
  echo "# unless $NAME exists (gcloud compute tpus tpu-vm describe $NAME ${where[*]}):"
  run "${create[@]}"
elif "${tpu[@]}" describe "$NAME" "${where[@]}" >/dev/null 2>&1; then
  echo "tpu_pod: reusing $NAME"
else
  run "${create[@]}"
fi

# 2. The working tree (without .git, .venv, runs) to every worker, 3. installed there.
if ((COPY)); then
  tarball="${TMPDIR:-/tmp}/avjax-$NAME.tgz"
  run tar -czf "$tarball" -C "$(cd "$HERE/.." && pwd)" --exclude=./.git --exclude=./.venv --exclude=./runs \
    --exclude=__pycache__ --exclude=./.pytest_cache --exclude=./.hypothesis .
  run "${tpu[@]}" scp "$tarball" "$NAME:avjax.tgz" "${where[@]}" --worker=all
  run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=all \
    --command "mkdir -p $REMOTE && tar -xzf avjax.tgz -C $REMOTE"
fi
if ((INSTALL)); then
  run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=all \
    --command "cd $REMOTE && python3 -m pip install -q -e '.[tpu]'"
fi

# 4. The same command on every worker; jax.distributed.initialize() finds the others itself.
train="AVJAX_DISTRIBUTED=tpu python3 -m avjax.cli $(quote "$@")"
if ((DETACH)); then
  run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=all \
    --command "cd $REMOTE && nohup env $train > $LOG 2>&1 < /dev/null &"
  run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=0 --command "tail -n 100 -F $LOG"
else
  run "${tpu[@]}" ssh "$NAME" "${where[@]}" --worker=all --command "cd $REMOTE && $train 2>&1 | tee $LOG"
fi
