#!/usr/bin/env bash
# The one test command: installs what is needed (scripts/setup.sh), builds,
# and runs every unit and integration test in a single ctest run, so one
# command reports one total. JCFS_SANITIZE=1 builds with ASan+UBSan into
# build-asan/ and runs the suite there. BUILD_DIR overrides the directory;
# extra arguments go to ctest (e.g. -R integration.tree). Exits with ctest's
# status.
set -euo pipefail

cd "$(dirname "$0")/.."

scripts/setup.sh

if [ "${JCFS_SANITIZE:-0}" = 1 ]; then
	dir=${BUILD_DIR:-build-asan}
	# Leaks of the FUSE library's own allocations at exit are not ours to
	# fix; real errors still abort the daemon and fail the test.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
	dir=${BUILD_DIR:-build}
fi
BUILD_DIR=$dir scripts/build.sh

# A test killed by ctest's timeout cannot run its own cleanup; unmount what
# such a run left behind (its test shell, recorded in the temp dir's "owner"
# file, is gone), and leave the mounts of tests still running elsewhere.
awk '$2 ~ "^/tmp/jcfs-test\\." { print $2 }' /proc/self/mounts | while read -r m; do
	top=${m#/tmp/}; top=/tmp/${top%%/*}
	owner=$(cat "$top/owner" 2>/dev/null || echo 0)
	if [ "$owner" = 0 ] || ! kill -0 "$owner" 2>/dev/null; then
		echo "test: unmounting stale $m"
		fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	fi
done

# And the loop devices it set up (t_direct), their images in such a temp dir.
losetup -nO NAME,BACK-FILE 2>/dev/null | while read -r dev img; do
	case $img in /tmp/jcfs-test.*) ;; *) continue ;; esac
	top=${img#/tmp/}; top=/tmp/${top%%/*}
	owner=$(cat "$top/owner" 2>/dev/null || echo 0)
	if [ "$owner" = 0 ] || ! kill -0 "$owner" 2>/dev/null; then
		echo "test: detaching stale $dev ($img)"
		umount -l "$dev" 2>/dev/null || true
		losetup -d "$dev" 2>/dev/null || true
	fi
done

# Processes such a run started (swtpm, nats-server) outlive it the same way:
# stop those whose command line names a temp dir whose owner is gone.
for p in $(pgrep -f '/tmp/jcfs-test\.' || true); do
	top=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -o '/tmp/jcfs-test\.[A-Za-z0-9]*' | head -n 1)
	[ -n "$top" ] || continue
	owner=$(cat "$top/owner" 2>/dev/null || echo 0)
	if [ "$owner" = 0 ] || ! kill -0 "$owner" 2>/dev/null; then
		echo "test: stopping stale process $p ($top)"
		kill -TERM "$p" 2>/dev/null || true
	fi
done

status=0
ctest --test-dir "$dir" --output-on-failure "$@" || status=$?
exit "$status"
