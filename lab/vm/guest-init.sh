#!/bin/sh
# PID 1 of a lab/vm guest (run from the host root, seen over 9p under a tmpfs overlay).
# Mounts the kernel filesystems and the job share, loads the job's modules, runs the scenario with
# its output in /job, prints the result markers on the console and powers the VM off.  Never
# returns: PID 1 exiting would panic the kernel (qemu -no-reboot then exits anyway).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
BUSYBOX=/bin/busybox

off() {
	sync
	umount /job 2>/dev/null
	# -f: no init to ask; qemu runs with -no-reboot, so a reboot ends it.
	$BUSYBOX reboot -f
}
fail() {
	echo "FABRIC-VM-FAIL guest-init: $*"
	off
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# Fresh /run and /tmp: the host's runtime state (its netns names, pid files, rig ledgers) is not ours.
mount -t tmpfs -o mode=0755 tmpfs /run || fail "mount /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "mount /tmp"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mkdir -p /job
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job /job || fail "mount the job share"
echo "FABRIC-VM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"

. /job/env || fail "read /job/env"
hostname "${FABRIC_VM_HOSTNAME:-fabric-vm}"
ip link set lo up
for module in $FABRIC_VM_MODULES; do
	modprobe "$module" || fail "modprobe $module"
done

cd /job || fail "cd /job"
start=$(cut -d' ' -f1 /proc/uptime)
# The scenario's own command line comes from the host (lab/vm/vm.py writes it, quoted, into env).
eval "$FABRIC_VM_COMMAND" </dev/null >/job/output.log 2>&1
rc=$?
end=$(cut -d' ' -f1 /proc/uptime)
echo "$rc $start $end" >/job/status
echo "FABRIC-VM-DONE rc=$rc start=$start end=$end"
off
