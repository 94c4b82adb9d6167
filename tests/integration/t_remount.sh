#!/usr/bin/env bash
# Remounting: `mount -o remount,ro MNT` (mount(8) runs it through
# mount.fuse3 as `jetcryptfs BACKING MNT -o remount,ro,...`) makes a live
# mount read-only in place: writes, creates and metadata changes fail with
# EROFS, reads work and change no access time; `remount,rw` makes it
# writable again, with the mount's other flags (nosuid, nodev) kept across
# both. A file open for writing makes the read-only remount fail (EBUSY,
# one line). Refused with one line and a documented status: a mount point
# that carries no mount or another store's mount, a change of the access
# time handling, and a caller who is not root.
#
# mount(8) removes PATH from its helpers' environment, so the test runs in
# a private mount namespace with a link to the binary bind-mounted over
# /usr/local/sbin (as t_system.sh does); nothing outside it changes.
if [ -z "${JC_REMOUNT_NS:-}" ]; then
	exec env JC_REMOUNT_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

LINKS=$JC_TMP/links
mkdir -p "$LINKS"
ln -s "$JCFS" "$LINKS/jetcryptfs"
[ -d /usr/local/sbin ] || fail "/usr/local/sbin missing: the test needs it as a bind-mount target"
mount --bind "$LINKS" /usr/local/sbin
chmod 755 "$JC_TMP"

B=$JC_TMP/b M=$JC_TMP/m B2=$JC_TMP/b2 M2=$JC_TMP/m2
mount_opts() { awk -v m="$1" '$2 == m { o = $4 } END { print o }' /proc/self/mounts; }

jc_mount "$B" "$M"
echo one >"$M/a"
mkdir "$M/d"
before=$(mount_opts "$M")
grep -q "^rw," <<<"$before" || fail "a fresh mount is not rw: $before"

expect_exit 0 mount -o remount,ro "$M"
now=$(mount_opts "$M")
[ "$now" = "${before/rw,/ro,}" ] || fail "after remount,ro the mount has \"$now\", want \"${before/rw,/ro,}\""
expect_exit 2 sh -c "echo two >'$M/b'"
expect_output_contains "Read-only file system"
expect_exit 2 sh -c "echo more >>'$M/a'"
expect_output_contains "Read-only file system"
expect_exit 1 mkdir "$M/d2"
expect_output_contains "Read-only file system"
expect_exit 1 chmod 600 "$M/a"
expect_output_contains "Read-only file system"
[ "$(cat "$M/a")" = one ] || fail "reading after remount,ro gives $(cat "$M/a")"
[ -d "$M/d" ] || fail "the directory is gone after remount,ro"
ok "mount -o remount,ro: writes, creates and chmod fail with EROFS, reads work, other flags kept"

# No access time changes on a read-only mount (a read that reaches the
# daemon would update this one on a writable mount: it is older than the
# change time).
expect_exit 0 mount -o remount,rw "$M"
touch -a -d "2001-01-01" "$M/a"
old=$(stat -c %X "$B/a")
expect_exit 0 mount -o remount,ro "$M"
dd if="$M/a" of=/dev/null bs=4096 count=1 iflag=direct status=none
[ "$(stat -c %X "$B/a")" = "$old" ] || fail "a read on the read-only mount changed the atime"
ok "a read on a read-only remount leaves the access time alone"

expect_exit 0 mount -o remount,rw "$M"
[ "$(mount_opts "$M")" = "$before" ] || fail "after remount,rw the mount has \"$(mount_opts "$M")\", want \"$before\""
echo two >"$M/b"
echo more >>"$M/a"
[ "$(cat "$M/a")" = "one
more" ] || fail "a after remount,rw: $(cat "$M/a")"
[ "$(cat "$M/b")" = two ] || fail "b after remount,rw: $(cat "$M/b")"
ok "mount -o remount,rw: writable again, flags as before"

# A writer in the way.
exec 5>>"$M/a"
expect_exit 1 mount -o remount,ro "$M"
expect_output_contains "busy: a file on it is open for writing"
exec 5>&-
grep -q "^rw," <<<"$(mount_opts "$M")" || fail "the refused remount changed the mount: $(mount_opts "$M")"
ok "remount,ro with a file open for writing: refused in one line, nothing changed"

# The mount.fuse3 form by hand, and the refusals.
expect_exit 0 "$JCFS" "$B" "$M" -o remount,ro,config=/nonexistent,key_file=/nonexistent,x-systemd.after=x
grep -q "^ro," <<<"$(mount_opts "$M")" || fail "jetcryptfs -o remount,ro did not make it read-only"
expect_exit 0 "$JCFS" mount -o remount,rw "$B" "$M"
grep -q "^rw," <<<"$(mount_opts "$M")" || fail "jetcryptfs mount -o remount,rw did not make it writable"
jc_mount "$B2" "$M2"
expect_exit 9 "$JCFS" "$B" "$M2" -o remount,ro
expect_output_contains "a jetcryptfs mount of $B2, not of $B"
mkdir -p "$JC_TMP/empty"
expect_exit 9 "$JCFS" "$B" "$JC_TMP/empty" -o remount,ro
expect_output_contains "nothing is mounted there"
expect_exit 2 "$JCFS" "$B" "$M" -o remount,noatime
expect_output_contains "a remount cannot change how access times are kept"
expect_exit 1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$JCFS" "$B" "$M" -o remount,ro
expect_output_contains "remounting needs root"
grep -q "^rw," <<<"$(mount_opts "$M")" || fail "a refused remount changed the mount: $(mount_opts "$M")"
ok "refused in one line: another store's mount (9), no mount (9), an atime change (2), not root (1)"

jc_umount "$M2"
jc_umount "$M"
ok "unmounted after the remounts"
