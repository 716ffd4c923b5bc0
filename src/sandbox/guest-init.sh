#!/bin/sh
# PID 1 of the kube-ipvs user-mode Linux guest (started by src/sandbox/uml.ts; see shared notes real-kernel.md).
#
# The guest's root file system is the host's own "/" (hostfs, read-only), so every host binary (node, ip,
# ipvsadm, ipset, iptables) runs here unchanged. The host passes ONE boot parameter, KIPVS_WORK=<host dir>:
# a scratch folder mounted read-write at /run/kipvs that holds
#   job.env     sourced here: KIPVS_MODULES_DIR, KIPVS_MODULES (required), KIPVS_OPTIONAL_MODULES, KIPVS_EXPOSE
#   job.sh      the job itself (cd, exports, exec), run in a subshell with output on the console
# and receives from us
#   exit-code   the job's exit status (its absence means the guest never got to run the job)
#   boot-error  why the guest gave up before the job (missing required module, ...)
#   modules-missing   optional modules that could not be loaded
# Lines starting with "KIPVS: " on the console are progress markers the host parses.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
W=/run/kipvs

say() { echo "KIPVS: $*"; }

# Flush hostfs writes (they sit in the guest's page cache) and stop the machine; an init that simply
# exited would make the kernel panic.
finish() {
  sync
  umount "$W" 2>/dev/null
  poweroff -f
  sleep 5
}

fail() {
  say "BOOT-FAILED $*"
  echo "$*" >"$W/boot-error" 2>/dev/null
  finish
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The root is read-only: scratch space lives on tmpfs. /tmp hides the host's /tmp from here on, which is why
# host folders under /tmp or /run are mounted again below (KIPVS_EXPOSE).
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p "$W"
mount -t hostfs -o "$KIPVS_WORK" hostfs "$W" || fail "cannot mount the host work folder $KIPVS_WORK"
say "MOUNTED $(cut -d' ' -f1 /proc/uptime)"
[ -r "$W/job.env" ] || fail "no job.env in $KIPVS_WORK"
. "$W/job.env"
mount -t tmpfs -o mode=1777 tmpfs /tmp
for p in $KIPVS_EXPOSE; do
  case "$p" in
  /tmp/* | /run/*) mkdir -p "$p" && mount -t hostfs -o "$p" hostfs "$p" || fail "cannot expose host folder $p" ;;
  esac
done

# Kernel modules come from the user-mode-linux package's folder; modprobe wants <dir>/lib/modules/<release>.
mkdir -p /run/kmod/lib/modules
mount --bind "$KIPVS_MODULES_DIR" /run/kmod/lib/modules || fail "cannot bind the module folder $KIPVS_MODULES_DIR"
[ -d "/run/kmod/lib/modules/$(uname -r)" ] || fail "no modules for kernel $(uname -r) in $KIPVS_MODULES_DIR"
# One modprobe for the whole list is fast (each process start is costly under UML); only when it fails do we
# retry one by one to learn which module is missing.
load_all() { modprobe -q -a -d /run/kmod "$@" 2>/dev/null; }
missing_of() {
  out=""
  for m in "$@"; do modprobe -q -d /run/kmod "$m" 2>/dev/null || out="$out $m"; done
  echo "$out"
}
if ! load_all $KIPVS_MODULES; then
  missing=$(missing_of $KIPVS_MODULES)
  [ -n "$missing" ] && fail "required kernel modules failed to load:$missing"
fi
optional_missing=""
load_all $KIPVS_OPTIONAL_MODULES || optional_missing=$(missing_of $KIPVS_OPTIONAL_MODULES)
echo "$optional_missing" >"$W/modules-missing"

# IPVS refuses real servers ("address not unicast") in a namespace whose lo is down: the local routing
# table only exists once lo is up.
ip link set lo up || fail "cannot bring lo up"
say "READY $(cut -d' ' -f1 /proc/uptime)"

(. "$W/job.sh") </dev/null
rc=$?
echo "$rc" >"$W/exit-code"
say "EXIT $rc $(cut -d' ' -f1 /proc/uptime)"
finish
