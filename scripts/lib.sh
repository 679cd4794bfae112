# Shared helpers for the scripts in this folder. Source it; do not run it.

# The repository root, whatever the caller's working directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# Pinned command-line tools installed by scripts/setup (npm, git-ignored).
TOOLS_DIR="$REPO_ROOT/tools/node_modules"
export TOOLS_DIR

# say MESSAGE: a progress line on stderr, so stdout stays machine-readable.
say() { printf '%s\n' "$*" >&2; }

# die MESSAGE: stop with a message naming what went wrong.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run a command as root, through sudo when needed.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "'$*' needs root: run as root or install sudo"
  fi
}

# devstack_bin: path of the built devstack binary (scripts/build devstack).
devstack_bin() { printf '%s\n' "$REPO_ROOT/target/debug/devstack"; }

# build_devstack: compile the local stack (incremental; quiet when fresh).
build_devstack() {
  (cd "$REPO_ROOT" && cargo build --quiet -p devstack) || die "building devstack failed"
}
