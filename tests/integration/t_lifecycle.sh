#!/usr/bin/env bash
# The mount's life around a running nats-server, as an operator drives it:
# SIGTERM while nats-server publishes leaves the mount in place (busy: the
# log names nats-server) and unmounts once it has stopped; SIGHUP after a
# log rotation opens a new log file and changes nothing else; kill -9 of the
# daemon mid-publish fails nats-server's writes, one `jetcryptfs mount`
# brings the store back (the dead mount cleaned up) with every message
# acknowledged a few seconds before (the daemon flushes the writeback
# cache every second; write-through: every acknowledged one); the mount
# goes away under a running nats-server and
# its next stream cannot be created in the bare directory (the immutable
# guard); `umount && mount` 50 times in a row always mounts; stacked and
# second mounts are refused. After every case the bare mount point -- seen
# through a bind mount of its parent, which does not carry the mounts --
# holds nothing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

D=$JC_TMP/d
B=$D/b M=$D/m
PEEK=$JC_TMP/peek
SEED=life$$
mkdir -p "$B" "$M" "$PEEK"
mount --bind "$D" "$PEEK"
JC_MOUNTS+=("$PEEK")

# assert_bare_empty WHAT: nothing ever landed in the bare mount point.
assert_bare_empty() {
	[ -z "$(ls -A "$PEEK/m")" ] || fail "$1: the bare mount point holds $(ls -A "$PEEK/m")"
}

# wait_log MARK PATTERN: until a daemon log line after MARK matches.
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		jc_log_since "$1" | grep -qE -- "$2" && return 0
		sleep 0.05
	done
	fail "no log line matching '$2': $(jc_log_since "$1")"
}

# wait_unmounted MNT: until MNT is no longer a mount point (10 s).
wait_unmounted() {
	local i
	for ((i = 0; i < 200; i++)); do
		jc_is_mounted "$1" || return 0
		sleep 0.05
	done
	fail "$1 still mounted"
}

last_seq() {
	jsc stream-info --stream LIFE | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).state.last_seq))'
}

# publish_bg START COUNT: publishes in the background (tolerating errors),
# progress (the contiguous acknowledged index) in $JC_TMP/prog.START and
# the result in $JC_TMP/pub.START; sets PUBPID.
publish_bg() {
	echo "$(($1 - 1))" >"$JC_TMP/prog.$1"
	node "$JN_CLIENT" publish --server "$(jn_url n1)" --stream LIFE --subject jclife.x --count "$2" \
		--start "$1" --size 300 --seed "$SEED" --headers --inflight 32 --progress "$JC_TMP/prog.$1" \
		--tolerate-errors >"$JC_TMP/pub.$1" 2>&1 &
	PUBPID=$!
	JC_PIDS+=("$PUBPID")
}

# wait_progress START N: until N messages from START are acknowledged.
wait_progress() {
	local i got
	for ((i = 0; i < 600; i++)); do
		got=$(cat "$JC_TMP/prog.$1" 2>/dev/null || echo 0)
		[ "${got:-0}" -lt $(($1 - 1 + $2)) ] || return 0
		sleep 0.1
	done
	fail "publisher reached only $got in 60 s"
}

jc_mount "$B" "$M"
[ "$(lsattr -d "$PEEK/m" | cut -c5)" = i ] || fail "the mount point is not immutable: $(lsattr -d "$PEEK/m")"
jn_server n1 "$M"
JN_SERVER=n1
jn_start n1
jsc stream-add --stream LIFE --subjects 'jclife.>'
jsc publish --stream LIFE --subject jclife.x --count 500 --size 300 --seed "$SEED" --headers

# ---- SIGTERM while nats-server publishes ----
publish_bg 501 4000
wait_progress 501 200
mark=$(jc_log_mark)
kill -TERM "$JC_PID"
wait_log "$mark" "$M: busy, not unmounted \(in use by [0-9]+ nats-server"
jc_is_mounted "$M" || fail "SIGTERM took the mount away under a running nats-server"
wait "$PUBPID" || fail "publishing failed after the SIGTERM: $(cat "$JC_TMP/pub.501")"
jn_forget_pid "$PUBPID"
grep -q '"acked":4000' "$JC_TMP/pub.501" || fail "not every publish was acknowledged: $(cat "$JC_TMP/pub.501")"
jn_stop n1
jn_check_log n1
pid=$JC_PID
kill -TERM "$pid"
wait_unmounted "$M"
jc_wait_pid "$pid" 20 || fail "the daemon did not exit after unmounting"
unset "JC_DAEMON[$M]"
assert_bare_empty "SIGTERM"
ok "SIGTERM under a publishing nats-server: mount kept, log names nats-server, all 4000 acknowledged; after it stops, SIGTERM unmounts"

# ---- SIGHUP: the log file reopened ----
LOG2=$JC_TMP/rotated.log
jc_mount "$B" "$M" --log-file "$LOG2"
echo before >"$M/hup"
mv "$LOG2" "$LOG2.1"
kill -HUP "$JC_PID"
for ((i = 0; i < 100; i++)); do
	[ -s "$LOG2" ] && break
	sleep 0.05
done
grep -q "SIGHUP: log file reopened" "$LOG2" || fail "no new log file after SIGHUP: $(ls -l "$JC_TMP")"
grep -q "mounted $B on $M" "$LOG2.1" || fail "the rotated log lost its lines"
jc_is_mounted "$M" || fail "SIGHUP unmounted the store"
[ "$(cat "$M/hup")" = before ] || fail "the mount does not serve after SIGHUP"
kill -0 "$JC_PID" || fail "the daemon died of SIGHUP"
ok "SIGHUP after a log rotation: a new log file, the mount stays"

# ---- kill -9 of the daemon under a publishing nats-server ----
# crash_round [MOUNT_OPTS]: nats-server publishes while the daemon alone is
# killed. What it wrote sat in the kernel's writeback cache, which the
# daemon flushes every second (--flush-interval): every message
# acknowledged 3 s before the kill must be back; with --write-through,
# every message acknowledged at all.
crash_round() {
	local start early acked pid
	jn_start n1
	start=$(($(last_seq) + 1))
	publish_bg "$start" 200000
	wait_progress "$start" 1000
	early=$(cat "$JC_TMP/prog.$start")
	sleep 3
	pid=$JC_PID
	kill -KILL "$pid"
	jc_wait_pid "$pid" 10 || fail "the daemon survived SIGKILL"
	unset "JC_DAEMON[$M]"
	# nats-server's writes now fail -- those into pages the kernel has
	# cached may still succeed until it opens or creates a file (and are
	# lost: the acknowledged count runs on to the next block) -- and so
	# does anything aimed at the path.
	jc_wait_pid "$PUBPID" 60 || fail "the publisher did not give up after the daemon died"
	wait "$PUBPID" 2>/dev/null || true
	jn_forget_pid "$PUBPID"
	acked=$(sed -n 's/.*"acked_upto":\([0-9]*\).*/\1/p' "$JC_TMP/pub.$start")
	[ -n "$acked" ] || fail "no publish result: $(cat "$JC_TMP/pub.$start")"
	echo "kill -9: $acked acknowledged, $early of them 3 s before the kill"
	if echo x 2>/dev/null >"$M/after-crash"; then
		fail "a file could be written at the dead mount's path"
	fi
	jn_kill n1
	assert_bare_empty "kill -9"
	# One command brings the store back: the dead mount is cleaned up.
	mark=$(jc_log_mark)
	jc_mount "$B" "$M" "$@"
	jc_log_since "$mark" | grep -q "$M: cleaned up the dead mount of $B" ||
		fail "the remount did not say it cleaned up the dead mount: $(jc_log_since "$mark")"
	jn_start n1
	[ "${1:-}" = --write-through ] && early=$acked
	# No --first-seq: a crash can leave nats-server's newest block empty
	# with an all-zero index, and nats-server 2.9.10 then reports first_seq
	# 0 (it does so on a plain disk with the same files).
	jsc verify --stream LIFE --seed "$SEED" --headers --subject jclife.x --require-upto "$early" --mode get
	echo "kill -9: $(last_seq) messages back, $early required"
	jn_stop n1
	jn_check_log n1 'transport endpoint is not connected|software caused connection abort|input/output error|[Ee]rror (writing|flushing)|[Ff]ailed to (write|create)'
	mv "$(jn_log n1)" "$(jn_log n1).crash$start"
	assert_bare_empty "after the recovery"
}
crash_round
ok "kill -9 of the daemon mid-publish: writes fail, nothing in the bare directory, one mount recovers, every message acknowledged 3 s before back"
jc_umount "$M"
jc_mount "$B" "$M" --write-through
crash_round --write-through
ok "kill -9 with --write-through: every acknowledged message back"

# ---- kill -9 while the writeback cache is being flushed ----
# The flush (syncfs) and an unmount wait, uninterruptibly, for the daemon
# to answer the writes they set off; a daemon thread doing that when
# kill -9 came would wait for ever and keep /dev/fuse open, and the dead
# mount would hang instead of failing. Under a writer that keeps the
# cache dirty, with a flush every 100 ms, the mount must be dead (ENOTCONN)
# within seconds of every kill, and no process of it left.
K=$D/k KM=$D/km
mkdir -p "$K" "$KM"
for ((round = 1; round <= 10; round++)); do
	jc_mount "$K" "$KM" --flush-interval 100
	pid=$JC_PID
	timeout 20 dd if=/dev/zero of="$KM/big" bs=64k count=200000 status=none 2>/dev/null &
	writer=$!
	sleep "0.$((RANDOM % 8 + 2))"
	kill -KILL "$pid"
	unset "JC_DAEMON[$KM]"
	dead=0
	for ((i = 0; i < 100; i++)); do
		case $(timeout 2 stat -f "$KM" 2>&1 || true) in *"not connected"*) dead=1; break ;; esac
		sleep 0.05
	done
	[ "$dead" = 1 ] || fail "round $round: the mount still hangs 5 s after kill -9 of its daemon"
	wait "$writer" 2>/dev/null || true
	jc_wait_pid "$pid" 10 || fail "round $round: the killed daemon's process lingers"
	! pgrep -f "jetcryptfs __flush $KM" >/dev/null || sleep 1
	! pgrep -f "jetcryptfs __flush $KM" >/dev/null || fail "round $round: a flusher process outlived the mount"
done
fusermount3 -u -z "$KM"
ok "kill -9 amid flushes of a dirty cache, 10 times: the mount is dead at once each time, nothing left behind"

# ---- the mount gone under a running nats-server: the guard ----
# However the mount goes away (here the operator's own lazy unmount),
# nats-server's next stream cannot land in the bare directory.
jn_start n1
fusermount3 -u -z "$M"
unset "JC_DAEMON[$M]"
jc_is_mounted "$M" && fail "lazy unmount left it mounted"
if jsc stream-add --stream LATE --subjects 'jclate.>' 2>"$JC_TMP/late.err"; then
	fail "nats-server created a stream on the bare mount point"
fi
if touch "$M/x" 2>/dev/null || mkdir "$M/d" 2>/dev/null; then
	fail "root could create in the guarded bare mount point"
fi
assert_bare_empty "the mount gone under nats-server"
jn_kill n1
ok "mount gone under nats-server: its new stream fails, the bare directory stays empty (EPERM even for root)"

# ---- umount && mount, 50 times ----
# A daemon finishes for some milliseconds after umount returns, holding the
# store lock; the next mount waits for it instead of failing.
jc_mount "$B" "$M"
for ((i = 1; i <= 50; i++)); do
	head -c 300000 /dev/urandom >"$M/cycle"     # something to flush at the unmount
	fusermount3 -u "$M" || fail "round $i: fusermount3 -u failed"
	unset "JC_DAEMON[$M]"
	"$JCFS" mount --pid-file "$JC_TMP/cycle.pid" --log-file "$JC_LOG" "$B" "$M" ||
		fail "round $i: the mount right after an unmount failed with status $?"
	JC_DAEMON[$M]=$(cat "$JC_TMP/cycle.pid")
done
jc_umount "$M"
assert_bare_empty "50 cycles"
ok "umount && mount 50 times: every mount succeeds"

# ---- stacked and second mounts ----
B2=$D/b2 M2=$D/m2
mkdir -p "$B2" "$M2"
jc_mount "$B" "$M"
expect_exit 9 "$JCFS" mount --log-file "$JC_LOG" "$B2" "$M"
expect_output_contains "$M: mount point already carries a mount (fuse.jetcryptfs of $B) that this one would hide"
expect_exit 7 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "$M: $B is already mounted there"
expect_exit 7 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M2"
expect_output_contains "$B: already mounted on $M"
[ -z "$(ls -A "$B2")" ] || fail "a refused mount wrote to $B2"
lower=$JC_PID
jc_mount "$B2" "$M" -o nonempty
echo top >"$M/top"
fusermount3 -u "$M"
jc_wait_pid "$JC_PID" 20 || fail "the stacked mount's daemon did not exit"
JC_DAEMON[$M]=$lower
jc_is_mounted "$M" || fail "unmounting the stacked mount took the one below"
[ ! -e "$M/top" ] || fail "the lower mount shows the stacked mount's file"
jc_umount "$M"
# A dead mount of another store in the way: refused with what to run.
jc_mount "$B2" "$M"
kill -KILL "$JC_PID"
jc_wait_pid "$JC_PID" 10 || fail "daemon survived SIGKILL"
unset "JC_DAEMON[$M]"
expect_exit 9 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "$M: mount point is a dead mount (fuse.jetcryptfs of $B2, not answering): unmount it with 'fusermount3 -u -z $M'"
fusermount3 -u -z "$M"
assert_bare_empty "stacked mounts"
ok "stacked mount refused (9) unless -o nonempty, second mount of a store refused (7), another store's dead mount named (9)"

# ---- where the lines go ----
expect_exit 2 "$JCFS" mount -o key=SuperSecretValue42 "$B" "$M"
if grep -q SuperSecretValue42 <<<"$JC_OUTPUT"; then fail "-o key= echoed its value: $JC_OUTPUT"; fi
expect_output_contains "-o key... is not an option"
jc_mount "$B" "$M" --log-level warning
mark=$(jc_log_mark)
kill -HUP "$JC_PID"
sleep 0.3
jc_umount "$M"
[ -z "$(jc_log_since "$mark")" ] || fail "info lines logged at --log-level warning: $(jc_log_since "$mark")"
if ! python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/dev/log")' 2>/dev/null; then
	expect_exit 0 "$JCFS" mount --pid-file "$JC_TMP/fb.pid" "$B" "$M"
	JC_DAEMON[$M]=$(cat "$JC_TMP/fb.pid")
	expect_output_contains "no syslog socket (/dev/log) and no --log-file: logging to /var/log/jetcryptfs.log"
	kill -HUP "${JC_DAEMON[$M]}"
	for ((i = 0; i < 100; i++)); do
		grep -q "jetcryptfs\[${JC_DAEMON[$M]}\] info: SIGHUP" /var/log/jetcryptfs.log && break
		sleep 0.05
	done
	grep -q "jetcryptfs\[${JC_DAEMON[$M]}\] info: SIGHUP" /var/log/jetcryptfs.log ||
		fail "the daemon's run-time lines do not reach the fallback log"
	jc_umount "$M"
	ok "no syslog, no --log-file: said at start, lines in /var/log/jetcryptfs.log"
else
	echo "skip: a syslog daemon listens on /dev/log"
fi
assert_bare_empty "logging"
ok "-o key= refused without its value; --log-level warning drops info lines"
