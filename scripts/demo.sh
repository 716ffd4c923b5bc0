#!/usr/bin/env bash
# `make demo` / `npm run demo`: the sandbox demo. Installs what it needs when missing (scripts/setup.sh: Debian's
# user-mode-linux and the kernel tools, npm ci, the build), then boots a real Linux kernel with IPVS and runs
# kube-ipvs in it against an embedded API server, with pods and real traffic:
#   bash scripts/demo.sh [--objects FILE]... [--verbose] [-- kube-ipvs run flags]   (see: kube-ipvs sandbox --help)
set -euo pipefail
cd "$(dirname "$0")/.."

need_setup=""
command -v linux.uml >/dev/null 2>&1 || [ -x /usr/bin/linux.uml ] || need_setup=1
for tool in ip ipset iptables-legacy ipvsadm modprobe; do
  command -v "$tool" >/dev/null 2>&1 || need_setup=1
done
[ -d node_modules ] || need_setup=1
[ -f dist/src/main.js ] || need_setup=1
if [ -n "$need_setup" ]; then
  bash scripts/setup.sh
elif [ -n "$(find src -name '*.ts' -newer dist/src/main.js -print -quit)" ]; then
  # A stale dist/ would run yesterday's code (`make demo` has just built: then this is skipped).
  echo "demo: building"
  npm run --silent build
fi
exec node bin/kube-ipvs sandbox "$@"
