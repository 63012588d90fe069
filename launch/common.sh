# shellcheck shell=bash
# Shared by the launch scripts (sourced, not run): dry-run printing, quoting, errors.
#
#   run CMD ARGS...   runs the command, or with --dry-run / DRY_RUN=1 prints it, shell-quoted
#   quote ARGS...     the arguments as one shell-quoted string (for a remote or generated shell)
#   die MESSAGE       one error line, exit status 2

DRY_RUN=${DRY_RUN:-0}
PYTHON=${PYTHON:-python3}

# One argument as the shell reads it back: as is when plain, else in single quotes.
shell_quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

quote() {
  local arg sep=""
  for arg in "$@"; do
    printf '%s' "$sep"
    shell_quote "$arg"
    sep=" "
  done
}

run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '+ %s\n' "$(quote "$@")"
  else
    "$@"
  fi
}

die() {
  echo "$(basename "$0"): error: $*" >&2
  exit 2
}

# The avjax command line after `--` must start with a subcommand that joins several hosts.
check_avjax_args() {
  [[ $# -gt 0 ]] || die "give the avjax command after --, e.g. -- train --config configs/crisscross/synthetic.py:variant=tiny --workdir runs/x"
  [[ "$1" == train || "$1" == eval || "$1" == downstream ]] ||
    die "the avjax command after -- must be train, eval or downstream, not '$1'"
}
