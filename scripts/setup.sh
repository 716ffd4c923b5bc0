#!/usr/bin/env bash
# Installs what kube-ipvs's tests and sandbox demo need on a fresh Debian 12 machine with Node 20, as root:
# Debian's user-mode Linux (a real 6.1 kernel with IPVS, run as a process), the kernel tools, npm packages,
# and the compiled program. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(user-mode-linux kmod iproute2 ipset iptables ipvsadm conntrack)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
echo "setup: building"
npm run --silent build
