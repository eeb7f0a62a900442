# Sourced by scripts/test.sh and scripts/bench.sh: installs the Debian packages given as
# arguments (as root, through apt-get), or says exactly how to install them and stops.
install_packages() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing: $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing: $*; install them with: sudo apt-get install -y $*" >&2
    exit 1
  fi
}

# sshd refuses to start without its privilege-separation directory.
prepare_sshd() {
  [ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true
}
