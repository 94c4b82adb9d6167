#!/usr/bin/env bash
# Bad paths given to the commands: FIFOs and other non-regular files where
# a file is read or written (no hang: a clear one-line error), a store
# descriptor that is not a regular file (exit 6 from mount and fsck), and
# mount points that cannot work -- a regular file, the backing directory
# itself or a directory inside it (refused before anything is written) --
# or that hide something (a non-empty directory: refused unless nonempty),
# and a pid file
# that cannot be written (exit 1, nothing mounted); and backing paths with
# characters libfuse treats specially in options (mounted all the same).
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m
mkdir -p "$B" "$M"
mkfifo "$JC_TMP/fifo"

# Every command here must return at once; a hang is a failure, not a stall.
t() { timeout -s KILL 20 "$JCFS" "$@"; }

expect_exit 1 t cat "$JC_TMP/fifo"
expect_output_contains "$JC_TMP/fifo: not a regular file"
expect_exit 1 t inspect "$JC_TMP/fifo"
expect_output_contains "$JC_TMP/fifo: not a regular file or directory"
expect_exit 2 t mount --pid-file "$JC_TMP/fifo" "$B" "$M"
expect_output_contains "--pid-file $JC_TMP/fifo: not a regular file"
! jc_is_mounted "$M" || fail "mounted with a FIFO as the pid file"
expect_exit 2 t mount --log-file "$JC_TMP/fifo" "$B" "$M"
expect_output_contains "$JC_TMP/fifo: cannot open log file: a FIFO that no process reads"
! jc_is_mounted "$M" || fail "mounted with an unread FIFO as the log file"
[ -z "$(ls -A "$B")" ] || fail "a refused mount wrote $(ls -A "$B")"
ok "FIFOs as the file to cat or inspect, or as the pid or log file: one-line errors, no hang"

# The store descriptor as a FIFO, a directory, a symlink: a damaged store.
for kind in fifo dir symlink; do
	rm -rf "$B/.jetcryptfs"
	case $kind in
	fifo) mkfifo "$B/.jetcryptfs" ;;
	dir) mkdir "$B/.jetcryptfs" ;;
	symlink) echo "jetcryptfs store 1" >"$JC_TMP/elsewhere"; ln -s "$JC_TMP/elsewhere" "$B/.jetcryptfs" ;;
	esac
	expect_exit 6 t mount "$B" "$M"
	expect_output_contains "$B/.jetcryptfs: store descriptor is not a regular file"
	! jc_is_mounted "$M" || fail "mounted with a $kind as the store descriptor"
	expect_exit 6 t fsck "$B"
	expect_output_contains "$B/.jetcryptfs: store descriptor is not a regular file"
	expect_exit 1 t inspect "$B"
	expect_output_contains "$B/.jetcryptfs"
done
rm -rf "$B/.jetcryptfs"
ok "a store descriptor that is a FIFO, a directory or a symlink: exit 6 from mount and fsck"

# Mount points that cannot work: refused, and the backing directory keeps
# nothing of the attempt.
: >"$JC_TMP/afile"
expect_exit 1 t mount "$B" "$JC_TMP/afile"
expect_output_contains "$JC_TMP/afile: mount point is not a directory"
expect_exit 2 t mount "$B" "$B"
expect_output_contains "$B: mount point is the backing directory $B or inside it"
mkdir "$B/inner"
expect_exit 2 t mount "$B" "$B/inner"
expect_output_contains "$B/inner: mount point is the backing directory $B or inside it"
expect_exit 2 t mount "$B" "$B/inner/../inner"
jc_is_mounted "$B" || jc_is_mounted "$B/inner" || jc_is_mounted "$JC_TMP/afile" && fail "a bad mount point was mounted"
[ "$(ls -A "$B")" = inner ] || fail "refused mounts wrote $(ls -A "$B")"
rmdir "$B/inner"
ok "mount point a regular file (1), the backing directory or inside it (2): refused, nothing written"

# A non-empty mount point is refused (what is there would be hidden, and
# may be plaintext written while the store was not mounted); -o nonempty
# and --nonempty mount over it.
echo hidden >"$M/underneath"
expect_exit 9 t mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "$M: mount point is not empty (it holds 'underneath')"
expect_output_contains "mount with -o nonempty"
! jc_is_mounted "$M" || fail "mounted over a non-empty directory"
[ -z "$(ls -A "$B")" ] || fail "a refused mount wrote $(ls -A "$B")"
jc_mount "$B" "$M" -o nonempty
[ ! -e "$M/underneath" ] || fail "the mount shows what was underneath"
jc_umount "$M"
jc_mount "$B" "$M" --nonempty
jc_umount "$M"
[ "$(cat "$M/underneath")" = hidden ] || fail "what was underneath is gone"
chattr -i "$M"
rm "$M/underneath"
ok "non-empty mount point: refused (9) unless -o nonempty or --nonempty"

# A pid file that cannot be written: refused before the mount (a service
# manager would find no pid file and take the start for failed).
M2=$JC_TMP/m2
mkdir "$M2"
expect_exit 1 t mount --pid-file "$JC_TMP/no/such/dir/pid" "$B" "$M2"
expect_output_contains "$JC_TMP/no/such/dir/pid: cannot write pid file: No such file or directory"
[ "$(echo "$JC_OUTPUT" | wc -l)" -eq 1 ] || fail "more than one line: $JC_OUTPUT"
! jc_is_mounted "$M2" || fail "mounted although the pid file could not be written"
# The same on a directory no mount has made a store yet: it stays as it
# was, bound to no key (a second key then mounts it) -- also where it is
# the root of a filesystem of its own, with a lost+found.
F=$JC_TMP/fresh
mkdir -p "$F/lost+found"
expect_exit 1 t mount --pid-file "$JC_TMP/no/such/dir/pid" "$F" "$M2"
[ "$(ls -A "$F")" = lost+found ] || fail "a failed first mount left $(ls -A "$F")"
JS_KEY=$(jc_genkey) jc_mount "$F" "$M2"
jc_umount "$M2"
[ -f "$F/.jetcryptfs" ] || fail "a mount that served left no store descriptor"
pidf=$JC_TMP/ok.pid
"$JCFS" mount --pid-file "$pidf" --log-file "$JC_LOG" "$B" "$M2"
jc_mount_check "$M2" "$pidf" 0 "mount with a pid file"
[ "$(cat "$pidf")" = "$JC_PID" ] && [ -d "/proc/$JC_PID" ] || fail "pid file does not name the daemon"
jc_umount "$M2"
[ ! -e "$pidf" ] || fail "pid file left behind by a clean stop"
ok "an unwritable pid file: exit 1, nothing mounted, a fresh directory left empty; a good one names the daemon and is removed at the end"

# A relative pid file is removed where it was written, though the daemon
# works from /; a refused second mount of the store leaves the first's
# alone; one that names another process by then (a new daemon of the
# store) is left too.
(cd "$JC_TMP" && "$JCFS" mount --pid-file rel.pid --log-file "$JC_LOG" "$B" "$M2")
jc_mount_check "$M2" "$JC_TMP/rel.pid" 0 "mount with a relative pid file"
M3=$JC_TMP/m3
mkdir "$M3"
expect_exit 7 t mount --pid-file "$JC_TMP/rel.pid" "$B" "$M3"
[ "$(cat "$JC_TMP/rel.pid")" = "$JC_PID" ] || fail "a refused second mount changed the first daemon's pid file"
jc_umount "$M2"
[ ! -e "$JC_TMP/rel.pid" ] || fail "a relative pid file was left behind"
"$JCFS" mount --pid-file "$JC_TMP/other.pid" --log-file "$JC_LOG" "$B" "$M2"
jc_mount_check "$M2" "$JC_TMP/other.pid" 0 "mount with a pid file"
echo 1 >"$JC_TMP/other.pid"
jc_umount "$M2"
[ "$(cat "$JC_TMP/other.pid")" = 1 ] || fail "the daemon removed a pid file that no longer named it"
ok "pid files: a relative one is removed, another daemon's is left alone"

# Backing paths with the characters libfuse's option parser treats
# specially (',' separates options, '\' escapes) and a space: the mount
# works and names the backing directory as it is.
O="$JC_TMP/odd,dir\\with space"
jc_mount "$O" "$JC_TMP/mo"
echo payload >"$JC_TMP/mo/f"
[ "$(cat "$JC_TMP/mo/f")" = payload ] || fail "a backing path with ',' and '\\': the file reads back wrong"
src=$(awk -v m="$JC_TMP/mo" '$2 == m { print $1 }' /proc/self/mounts)
[ "$src" = "$JC_TMP/odd,dir\\134with\\040space" ] || fail "the mount names its source $src"
jc_umount "$JC_TMP/mo"
[ "$(head -c 4 "$O/f")" = JCFS ] || fail "a backing path with ',' and '\\': the file is not encrypted"
ok "a backing path with ',', '\\' and a space mounts and is named as it is"
