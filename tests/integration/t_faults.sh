#!/usr/bin/env bash
# Faults: the daemon killed with SIGKILL in the middle of writes the
# application fsyncs (everything fsync'd is there after a remount, nothing
# fails authentication); a full backing filesystem (ENOSPC to the
# application, no half-written block, usable again once space is freed);
# backing files and directories broken under the mount (the application
# gets an error, the daemon keeps serving); unmount and SIGTERM while files
# are open and being written (no crash, nothing fsync'd lost).
. "$(dirname "$0")/lib.sh"

FSYNCW=$JC_TOOLS/fsyncwriter
[ -x "$FSYNCW" ] || fail "no fsyncwriter next to $JCFS"

# Every file in the backing tree must read through the mount without an
# error, and the log must name no failed block.
assert_log_clean() {
	if grep -E "authentication failed|shorter than its size|not a whole number of blocks" "$JC_LOG"; then
		fail "$1: the daemon log names damaged blocks"
	fi
}

read_all() {
	local f
	while IFS= read -r -d '' f; do
		cat -- "$f" >/dev/null || fail "$1: cannot read $f through the mount"
	done < <(find "$2" -type f -print0)
}

# jetcryptfs fsck, where this build has it: every block of the store
# authenticates.
HAVE_FSCK=0
"$JCFS" fsck --help >/dev/null 2>&1 && HAVE_FSCK=1
assert_fsck_clean() {
	[ $HAVE_FSCK = 1 ] || return 0
	"$JCFS" fsck --quiet "$2" >"$JC_TMP/fsck.out" 2>&1 || fail "$1: fsck: $(cat "$JC_TMP/fsck.out")"
	grep -q ": clean$" "$JC_TMP/fsck.out" || fail "$1: fsck: $(cat "$JC_TMP/fsck.out")"
}

# Waits until file $1 has at least $2 lines (the writer made progress).
wait_lines() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	fail "no progress in $1"
}

# ---- SIGKILL mid-fsync'd writes ----
# Each round starts a writer on a fresh directory of the same store, kills
# the daemon once the writer has fsync'd a while, detaches the dead mount,
# remounts, and verifies every round so far. Rounds differ in cipher, write
# mode and the moment of the kill. The --big rounds overwrite up to 1 MiB
# at a time, where a kill most often lands inside a write: without the
# write helpers (fs/store/safewrite.c) about one such round in fifteen tore a
# block and lost fsync'd bytes.
B=$JC_TMP/b M=$JC_TMP/m
rounds=("chachapoly - -" "aes - -" "chachapoly --write-through -" "aes --write-through -"
	"chachapoly --write-through --big" "aes --write-through --big"
	"chachapoly --write-through --big" "aes - --big")
jc_mount "$B" "$M"
# The guarantee rests on the write helpers: the daemon's children but for
# the flusher (jetcryptfs __flush).
write_helpers() {
	local p
	for p in $(pgrep -P "$JC_PID"); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q ' __flush ' || echo "$p"
	done
}
[ "$(write_helpers | wc -l)" -ge 1 ] || fail "the daemon runs no write helper processes: $(grep -i helper "$JC_LOG")"
grep -q "writes are made by the daemon itself" "$JC_LOG" && fail "$(grep "writes are made" "$JC_LOG")"
# One helper is pinned to each CPU the daemon may run on, so that a write
# is handed over on the caller's own CPU; two more are not pinned.
pinned=() unpinned=0
for p in $(write_helpers); do
	cpus=$(taskset -cp "$p" | sed 's/.*: //')
	if [[ $cpus =~ ^[0-9]+$ ]]; then pinned+=("$cpus"); else unpinned=$((unpinned + 1)); fi
done
want=$(nproc)
[ "$want" -le 14 ] || want=14
if [ "$want" = 1 ]; then
	# On one CPU the unpinned helpers show the same single CPU.
	[ "${#pinned[@]}" = 3 ] || fail "write helpers: ${#pinned[@]} on one CPU, want 3"
else
	[ "${#pinned[@]}" = "$want" ] && [ "$unpinned" = 2 ] &&
		[ "$(printf '%s\n' "${pinned[@]}" | sort -u | wc -l)" = "$want" ] ||
		fail "write helpers: pinned to CPUs '${pinned[*]}' and $unpinned not pinned; want one on each of $(nproc) CPUs and 2"
fi
# A helper killed on its own: the daemon says so, and writes go on through
# the others. The victim is stopped first, so that the writers' jobs queue
# on it (callers on its CPU try it first), then killed with them: another
# helper must make them, not fail them. Eight writers at once (more than
# the three helpers left on two CPUs) must wait for a helper rather than
# write unprotected: the daemon's own write count (wchar, its threads
# only; helpers are processes of their own) grows by its FUSE replies and
# log (~100-250 KB, more on a loaded machine), not by the 24 MB of data.
head -c 3000000 /dev/urandom >"$JC_TMP/h.ref"
# start_writers TAG: eight fsync'd copies of h.ref at once, in the
# background; check_writers TAG waits for them (a writer that hangs is
# killed after a minute) and compares.
start_writers() {
	local w
	writers=()
	for w in 1 2 3 4 5 6 7 8; do
		timeout -s KILL 60 dd if="$JC_TMP/h.ref" of="$M/$1.$w" bs=100k conv=fsync status=none &
		writers+=($!)
	done
}
check_writers() {
	local w
	for w in "${!writers[@]}"; do
		wait "${writers[$w]}" || fail "$1: writer $((w + 1)) failed or hung"
	done
	for w in 1 2 3 4 5 6 7 8; do
		cmp -s "$JC_TMP/h.ref" "$M/$1.$w" || fail "$1: file $w differs"
	done
}
daemon_wchar() { awk '$1 == "wchar:" { print $2 }' "/proc/$JC_PID/io"; }
helpers=$(write_helpers)
victim=
for p in $helpers; do
	[[ $(taskset -cp "$p" | sed 's/.*: //') =~ ^[0-9]+$ ]] && { victim=$p; break; }
done
[ -n "$victim" ] || fail "no pinned write helper among $helpers"
kill -STOP "$victim"
wc0=$(daemon_wchar)
start_writers helper-killed
sleep 1
kill -KILL "$victim"
check_writers helper-killed
wc1=$(daemon_wchar)
for _ in $(seq 50); do grep -q "write helper $victim ended (killed by signal 9)" "$JC_LOG" && break; sleep 0.1; done
grep -q "write helper $victim ended (killed by signal 9): the other helpers make its writes" "$JC_LOG" ||
	fail "no log line for the killed write helper $victim: $(tail -n 3 "$JC_LOG")"
[ $((wc1 - wc0)) -lt 1000000 ] ||
	fail "with a write helper killed, the daemon wrote $((wc1 - wc0)) bytes itself: writers went past the helpers"
[ "$(write_helpers | wc -l)" = $((${#pinned[@]} + unpinned - 1)) ] || fail "the other write helpers did not stay"
ok "a write helper killed on its own: logged, writes go on through the others"
# Every helper killed: the last death says that none is left, and writes
# go on, made by the daemon itself.
kill -KILL $(grep -vx "$victim" <<<"$helpers")
for _ in $(seq 50); do grep -q "no write helper is left" "$JC_LOG" && break; sleep 0.1; done
grep -q "no write helper is left" "$JC_LOG" || fail "no log line once every write helper was killed: $(tail -n 3 "$JC_LOG")"
[ -z "$(write_helpers)" ] || fail "write helpers left after killing them all: $(write_helpers | tr "\n" " ")"
wc0=$(daemon_wchar)
start_writers helpers-gone
check_writers helpers-gone
wc1=$(daemon_wchar)
[ $((wc1 - wc0)) -ge 24000000 ] || fail "with no write helper left, the daemon wrote only $((wc1 - wc0)) bytes itself"
ok "every write helper killed: logged, the daemon makes the writes itself"
rm -f "$M"/helper-killed.* "$M"/helpers-gone.*
for r in "${!rounds[@]}"; do
	read -r cipher mode big <<<"${rounds[$r]}"
	[ "$mode" != - ] || mode=
	[ "$big" != - ] || big=
	jc_umount "$M"
	jc_mount "$B" "$M" --cipher "$cipher" $mode
	mkdir "$M/r$r"
	"$FSYNCW" write "$M/r$r" "$JC_TMP/journal.$r" --seed $((r + 1)) $big >"$JC_TMP/writer.$r" 2>&1 &
	wpid=$!
	JC_PIDS+=("$wpid")
	if [ -n "$big" ]; then
		wait_lines "$JC_TMP/journal.$r" $((2 + r % 4 * 3))
	else
		wait_lines "$JC_TMP/journal.$r" $((10 + r * 15))
	fi
	kill -KILL "$JC_PID"
	wait "$wpid" || fail "round $r: writer failed: $(cat "$JC_TMP/writer.$r")"
	grep -q "stopped" "$JC_TMP/writer.$r" || fail "round $r: the writer did not notice the kill"
	fusermount3 -uz "$M"
	jc_mount "$B" "$M" --cipher "$cipher"
	for ((k = 0; k <= r; k++)); do
		"$FSYNCW" verify "$M/r$k" "$JC_TMP/journal.$k" >"$JC_TMP/verify" ||
			fail "round $r (${rounds[$r]}): after SIGKILL: $(cat "$JC_TMP/verify")"
	done
	read_all "SIGKILL round $r" "$M"
	assert_log_clean "SIGKILL round $r"
	assert_fsck_clean "SIGKILL round $r" "$B"
done
jc_umount "$M"
assert_encrypted "$B"
ok "SIGKILL mid-write, ${#rounds[@]} rounds: every fsync'd byte back, no block fails authentication"

# ---- full disk ----
# The backing directory on a 2 MiB tmpfs. With --write-through the
# application's write() fails with ENOSPC; with the writeback cache and no
# low-space mark (--low-space 0) its fsync() does. Either way no block is
# left half written (the space a write needs is reserved with fallocate
# first), every file still reads without an error after a remount, what
# was fsync'd is there, and the store works again once space is freed.
# (With the default mark, above this whole disk, write() fails as with
# --write-through: t_nats_full.sh, and the low-space section below.)
S=$JC_TMP/small B=$JC_TMP/small/b M=$JC_TMP/m-small
mkdir -p "$S"
mount -t tmpfs -o size=2m tmpfs "$S"
head -c 300000 /dev/urandom >"$JC_TMP/pre"
head -c 4000000 /dev/urandom >"$JC_TMP/src"
jc_mount "$B" "$M" --write-through
cp "$JC_TMP/pre" "$M/pre"
sync "$M/pre"
expect_exit 1 dd if="$JC_TMP/src" of="$M/fill" bs=64k conv=fsync
expect_output_contains "error writing"
expect_output_contains "No space left on device"
size=$(stat -c %s "$M/fill")
[ "$size" -gt 0 ] || fail "full disk: nothing was written before ENOSPC"
cmp -n "$size" "$JC_TMP/src" "$M/fill" || fail "full disk: the written part of fill differs"
jc_umount "$M"
jc_mount "$B" "$M"
[ "$(stat -c %s "$M/fill")" -eq "$size" ] || fail "full disk: fill is $(stat -c %s "$M/fill") bytes after a remount, was $size"
cmp -n "$size" "$JC_TMP/src" "$M/fill" || fail "full disk: fill differs after a remount"
cmp "$JC_TMP/pre" "$M/pre" || fail "full disk: a file written before differs"
assert_log_clean "full disk, write-through"
assert_fsck_clean "full disk, write-through" "$B"
rm "$M/fill"
jc_umount "$M"
jc_mount "$B" "$M" --low-space 0
ok "full disk, write-through: write() fails with ENOSPC, no half-written block, earlier files intact"

# Writeback cache: the application learns at fsync. The writer stops at
# its first error; afterwards everything it had fsync'd is there.
mkdir "$M/w"
"$FSYNCW" write "$M/w" "$JC_TMP/journal.full" --seed 7 >"$JC_TMP/writer.full" 2>&1 ||
	fail "full disk: writer: $(cat "$JC_TMP/writer.full")"
grep -q "No space left on device" "$JC_TMP/writer.full" ||
	fail "full disk: the writer did not see ENOSPC: $(cat "$JC_TMP/writer.full")"
jc_umount "$M"
jc_mount "$B" "$M"
"$FSYNCW" verify "$M/w" "$JC_TMP/journal.full" >"$JC_TMP/verify" ||
	fail "full disk, writeback: $(cat "$JC_TMP/verify")"
read_all "full disk" "$M"
cmp "$JC_TMP/pre" "$M/pre" || fail "full disk: a file written before differs"
assert_log_clean "full disk, writeback"
assert_fsck_clean "full disk, writeback" "$B"
# A writer that never fsyncs learns at close: the kernel writes the file
# back there and returns the error (it checks before it would send FLUSH,
# which the daemon does not take).
jc_umount "$M"
jc_mount "$B" "$M" --low-space 0
expect_exit 1 dd if="$JC_TMP/src" of="$M/unsynced" bs=64k
expect_output_contains "closing output file"
expect_output_contains "No space left on device"
rm -f "$M/unsynced"
jc_umount "$M"
jc_mount "$B" "$M"
# Space freed: the store takes writes again.
rm -r "$M/w"
mkdir "$M/again"
"$FSYNCW" write "$M/again" "$JC_TMP/journal.again" --seed 8 --ops 40 >"$JC_TMP/writer.again" 2>&1 &&
	grep -q "40 operations done" "$JC_TMP/writer.again" ||
	fail "full disk: not usable after freeing space: $(cat "$JC_TMP/writer.again")"
"$FSYNCW" verify "$M/again" "$JC_TMP/journal.again" >"$JC_TMP/verify" ||
	fail "full disk: after freeing space: $(cat "$JC_TMP/verify")"
jc_umount "$M"
assert_encrypted "$B"
umount "$S"
ok "full disk, writeback: fsync and close fail with ENOSPC, fsync'd data intact, usable again after freeing space"

# ---- the low-space mark ----
# A 16 MiB backing disk, mark 8 MiB; another writer fills the disk below
# the mark behind the mount's back. A file opened for writing then gets
# direct I/O, and so does every other handle of it while one is open: a
# private mapping made meanwhile fills the page cache with the old
# contents. Once space is back, a read must return what the direct write
# wrote, not those pages: since Linux 6.6 the direct write drops them
# itself; before, only the daemon's first cached open (without keep_cache)
# does, which this kernel cannot show. Shared mappings of a direct file
# are refused (ENODEV).
S=$JC_TMP/low B=$JC_TMP/low/b M=$JC_TMP/m-low
mkdir -p "$S"
mount -t tmpfs -o size=16m tmpfs "$S"
log0=$(jc_log_mark)
jc_mount "$B" "$M" --low-space 8
head -c 8192 /dev/zero | tr '\0' A >"$M/c"
[ "$(head -c 4 "$M/c")" = AAAA ] || fail "low space: c does not read back"
jc_log_since "$log0" | grep -q "below the low-space mark" && fail "low space: below the mark on an empty 16 MiB disk"
head -c $((10 << 20)) /dev/zero >"$S/filler"
exec 3<>"$M/c"
jc_log_since "$log0" | grep -q "below the low-space mark of 8 MiB" ||
	fail "low space: opening c for writing with 6 MiB left did not log crossing the mark"
[ "$("$JC_TOOLS/fsop" mmap-shared "$M/c")" = ENODEV ] ||
	fail "low space: a shared mapping of a direct file was not refused with ENODEV"
# Last before the write: each direct open empties the page cache.
[ "$("$JC_TOOLS/fsop" mmap-read "$M/c" 4)" = AAAA ] || fail "low space: private mapping of c"
printf BBBB >&3
exec 3>&-
rm "$S/filler"
[ "$(head -c 4 "$M/c")" = BBBB ] ||
	fail "low space: c reads \"$(head -c 4 "$M/c")\" after a direct write and space freed, want BBBB (stale page cache)"
exec 3<>"$M/c"
jc_log_since "$log0" | grep -q "available again" || fail "low space: the daemon did not log space coming back"
exec 3>&-
jc_umount "$M"
assert_encrypted "$B"
assert_no_plaintext "$B" BBBBAAAA
umount "$S"
ok "low space: direct below the mark, shared mappings refused, no stale cache after it, crossings logged"

# ---- backing files broken under the mount ----
# Each breakage gets an error to the application, and the daemon keeps
# serving everything else.
daemon_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

B=$JC_TMP/b-io M=$JC_TMP/m-io
jc_mount "$B" "$M"
mkdir -p "$M/d/sub" "$M/gone"
for f in good isdir badhdr short; do
	head -c 10000 /dev/urandom >"$M/$f"
done
echo kept >"$M/gone/open"
cp "$M/good" "$JC_TMP/good"
jc_umount "$M"
# Broken while unmounted, so that no cache of the mount remembers them.
rm "$B/isdir" && mkdir "$B/isdir"
printf 'JCFS\x09' | dd of="$B/badhdr" conv=notrunc status=none    # unknown version
truncate -s 20 "$B/short"                                         # shorter than a header
jc_mount "$B" "$M"
pid=$JC_PID
expect_exit 1 cat "$M/isdir"
expect_output_contains "Is a directory"
expect_exit 1 cat "$M/badhdr"
expect_output_contains "Input/output error"
expect_exit 1 cat "$M/short"
expect_output_contains "Input/output error"
grep -q "badhdr: damaged or unsupported header" "$JC_LOG" || fail "no log line names the damaged header of badhdr"
# A backing directory removed under the mount, with a file in it open.
exec 7<"$M/gone/open"
rm -rf "$B/gone"
expect_exit 1 touch "$M/gone/new"
expect_output_contains "No such file or directory"
[ "$(cat <&7)" = kept ] || fail "an open file of a removed directory no longer reads"
exec 7<&-
daemon_alive "$pid" || fail "the daemon died after backing I/O errors"
cmp "$JC_TMP/good" "$M/good" || fail "an intact file no longer reads after the errors"
echo after >"$M/d/sub/after"
[ "$(cat "$M/d/sub/after")" = after ] || fail "the mount no longer takes writes after the errors"
jc_umount "$M"
ok "backing I/O errors: directory for a file, bad header, short file, removed directory -> errors; daemon keeps serving"

# ---- unmount and SIGTERM under load ----
# A writer keeps writing and fsyncing through open files while the mount
# is (a) unmounted with fusermount3 -u (refused: busy), then lazily -- the
# operator's explicit choice -- and (b) the daemon gets SIGTERM, which
# never detaches a busy mount: it stays, the log names the writer, and a
# second SIGTERM once the writer is done unmounts. The writer goes on until
# told to stop, the daemon exits once it is done, and a remount shows
# every fsync'd byte.
B=$JC_TMP/b-load M=$JC_TMP/m-load
for how in lazy sigterm; do
	jc_mount "$B" "$M"
	pid=$JC_PID pidf=$JC_TMP/daemon.$JC_NMOUNT.pid
	mkdir "$M/$how"
	rm -f "$JC_TMP/stop"
	"$FSYNCW" write "$M/$how" "$JC_TMP/journal.$how" --seed 9 --stop-file "$JC_TMP/stop" \
		>"$JC_TMP/writer.$how" 2>&1 &
	wpid=$!
	JC_PIDS+=("$wpid")
	wait_lines "$JC_TMP/journal.$how" 20
	if [ $how = lazy ]; then
		expect_exit 1 fusermount3 -u "$M"
		expect_output_contains "busy"
		fusermount3 -uz "$M"
		jc_is_mounted "$M" && fail "$how: still mounted"
	else
		mark=$(jc_log_mark)
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			jc_log_since "$mark" | grep -q "$M: busy, not unmounted (in use by $wpid " && break
			sleep 0.05
		done
		jc_log_since "$mark" | grep -q "$M: busy, not unmounted (in use by $wpid " ||
			fail "$how: no line naming the writer: $(jc_log_since "$mark")"
		jc_is_mounted "$M" || fail "$how: SIGTERM detached a busy mount"
	fi
	n=$(wc -l <"$JC_TMP/journal.$how")
	wait_lines "$JC_TMP/journal.$how" $((n + 20))     # still writing
	daemon_alive "$pid" || fail "$how: the daemon exited while files were open"
	touch "$JC_TMP/stop"
	wait "$wpid" || fail "$how: writer failed: $(cat "$JC_TMP/writer.$how")"
	grep -q "stop file found" "$JC_TMP/writer.$how" || fail "$how: the writer was cut off: $(cat "$JC_TMP/writer.$how")"
	if [ $how = sigterm ]; then
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			jc_is_mounted "$M" || break
			sleep 0.05
		done
		jc_is_mounted "$M" && fail "$how: a second SIGTERM with nothing open did not unmount"
	fi
	for ((i = 0; i < 100; i++)); do
		daemon_alive "$pid" || break
		sleep 0.1
	done
	daemon_alive "$pid" && fail "$how: the daemon did not exit after the last file was closed"
	[ -e "$pidf" ] && fail "$how: the daemon did not exit cleanly (pid file left behind)"
	grep -q "\[$pid\] info: unmounted" "$JC_LOG" || fail "$how: the daemon did not log its unmount"
	jc_mount "$B" "$M"
	"$FSYNCW" verify "$M/$how" "$JC_TMP/journal.$how" >"$JC_TMP/verify" ||
		fail "$how: after the unmount under load: $(cat "$JC_TMP/verify")"
	jc_umount "$M"
done
assert_log_clean "unmount under load"
assert_fsck_clean "unmount under load" "$B"
ok "unmount under load: busy refused, lazy unmount detaches, SIGTERM waits for the last file, open files served to the end, fsync'd data intact"

# Out of file descriptors: the daemon holds one per inode the kernel
# keeps. Started with a limit of 256, it raises it where it may (root with
# CAP_SYS_RESOURCE: then 1,000 new files are no problem); where it may not,
# lookups fail with EMFILE and the log says why, once.
FD=$JC_TMP/fd FDM=$JC_TMP/fdm
mkdir -p "$FD" "$FDM"
pidf=$JC_TMP/fd.pid
(ulimit -n 256; "$JCFS" mount --pid-file "$pidf" --log-file "$JC_LOG" "$FD" "$FDM")
jc_mount_check "$FDM" "$pidf" 0 "mount with 256 descriptors"
limit=$(awk '/^Max open files/ { print $4 }' "/proc/$JC_PID/limits")
mark=$(jc_log_mark)
mkdir "$FDM/d"
made=0
for i in $(seq 1000); do
	: >"$FDM/d/$i" 2>/dev/null && made=$((made + 1))
done
if [ "$limit" -gt 2000 ]; then
	[ "$made" = 1000 ] || fail "limit raised to $limit, yet only $made of 1000 files were made"
	what="raised to $limit"
else
	[ "$made" -lt 1000 ] || fail "1000 files made with a limit of $limit descriptors"
	[ "$(jc_log_since "$mark" | grep -c "out of file descriptors (limit $limit)")" = 1 ] ||
		fail "EMFILE not logged once: $(jc_log_since "$mark" | tail -n 3)"
	what="kept at $limit: EMFILE after $made files, logged once"
fi
jc_umount "$FDM"
ok "out of file descriptors: the limit $what"
