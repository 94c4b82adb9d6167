#!/usr/bin/env bash
# Crash recovery of a JetStream store on jetcryptfs (issue 3, item 8): in the
# middle of a publish run, the jetcryptfs daemon and nats-server are killed
# together with SIGKILL and the dead mount is detached lazily; after a
# remount and a restart the stream loads without store errors, every message
# still present reads back byte for byte (payload, headers, sequence), and
# nothing from before the last sync point is missing. The sync point is a
# clean nats-server restart: nats-server 2.9 fsyncs on its own two-minute
# timer, too slow for a test, but a clean shutdown flushes and closes every
# store file, so everything acknowledged before it must survive (DESIGN.md's
# rule: synced data survives, unsynced data may be lost, nothing comes back
# wrong). Two rounds: one with the writeback cache (the default), one with
# --write-through, where the kill lands amid writes that reached the backing
# files; the store stays writable.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

B=$JC_TMP/backing
M=$JC_TMP/mnt
SEED=x$$
S=$M/jetstream/\$G/streams

# last_seq: the stream's last sequence, from stream info.
last_seq() {
	jsc stream-info --stream CRASH | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).state.last_seq))'
}

# daemon_errors_since LINE: error lines the daemons logged after line LINE
# of the shared log (authentication failures, EIO).
daemon_errors_since() {
	jc_log_since "$1" | grep -E ' (error|crit):' || true
}

jc_mount "$B" "$M"
jn_server n1 "$M"
JN_SERVER=n1
jn_start n1
jsc stream-add --stream CRASH --subjects 'jccrash.>'
jsc consumer-add --stream CRASH --name JCPULLDUR --type pull
jsc publish --stream CRASH --subject jccrash.x --count 2000 --size 400 --seed "$SEED" --headers
synced=0

# set_aside_dead_mount_errors LINE: the kill call is not atomic, and in the
# microseconds between the daemon's death and its own, nats-server may fail
# a call on the dead mount and log it: an open after the connection is gone
# (ENOTCONN), or a write that was in flight when it went (ECONNABORTED).
# Those lines, and only those, written after line LINE of its log, move to
# a side file; every other line stays for jn_check_log.
DEAD_MOUNT_ERRORS='transport endpoint is not connected|software caused connection abort'
set_aside_dead_mount_errors() {
	local log from=$(($1 + 1))
	log=$(jn_log n1)
	tail -n +"$from" "$log" | grep -E "$DEAD_MOUNT_ERRORS" >>"$log.crashed" || true
	{ head -n "$1" "$log"; tail -n +"$from" "$log" | grep -vE "$DEAD_MOUNT_ERRORS" || true; } >"$log.new"
	mv "$log.new" "$log"
}

# crash_round AFTER [MOUNT_OPTS...]: publishes from the end of the stream
# on, kills the daemon and nats-server once AFTER more publishes were
# acknowledged, then remounts (with MOUNT_OPTS), restarts and checks.
crash_round() {
	local after=$1 start prog pubpid got i logline acked_upto have nlog
	shift
	# The sync point: a clean shutdown of nats-server flushes and closes
	# every store file; all acknowledged so far must survive the crash.
	jn_stop n1
	jn_start n1
	synced=$(last_seq)
	start=$((synced + 1))
	prog=$JC_TMP/progress.$start
	echo "$((start - 1))" >"$prog"
	node "$JN_CLIENT" publish --server "$(jn_url n1)" --stream CRASH --subject jccrash.x \
		--count 200000 --start "$start" --size 400 --seed "$SEED" --headers \
		--inflight 64 --progress "$prog" --tolerate-errors >"$JC_TMP/pub.$start.json" 2>&1 &
	pubpid=$!
	JC_PIDS+=("$pubpid")
	for ((i = 0; i < 600; i++)); do
		got=$(cat "$prog" 2>/dev/null || echo 0)
		[ "${got:-0}" -lt $((start - 1 + after)) ] || break
		kill -0 "$pubpid" 2>/dev/null || fail "publisher exited early: $(cat "$JC_TMP/pub.$start.json")"
		sleep 0.1
	done
	[ "${got:-0}" -ge $((start - 1 + after)) ] || fail "publisher reached only $got in 60 s"
	# Both at once, mid-publish: the daemon first in the same kill call,
	# so nats-server cannot notice a dead mount and shut down cleanly.
	nlog=$(wc -l <"$(jn_log n1)")
	kill -KILL "${JC_DAEMON[$(realpath "$M")]}" "${JN_PID[n1]}"
	jn_kill n1
	set_aside_dead_mount_errors "$nlog"
	jn_crash_mount "$M"
	jc_wait_pid "$pubpid" 30 || fail "publisher did not give up after the crash"
	wait "$pubpid" 2>/dev/null || true
	jn_forget_pid "$pubpid"
	acked_upto=$(sed -n 's/.*"acked_upto":\([0-9]*\).*/\1/p' "$JC_TMP/pub.$start.json")
	[ -n "$acked_upto" ] || fail "no publish result: $(cat "$JC_TMP/pub.$start.json")"
	echo "round: sync point at $synced, killed with $acked_upto acknowledged"

	logline=$(jc_log_mark)
	jc_mount "$B" "$M" "$@"
	jn_start n1
	have=$(last_seq)
	# Every message there reads back intact (index = sequence), the count
	# matches, and none before the sync point is missing.
	jsc verify --stream CRASH --seed "$SEED" --first-seq 1 --headers --subject jccrash.x --require-upto "$synced" --mode get
	jsc verify --stream CRASH --seed "$SEED" --first-seq 1 --headers --subject jccrash.x --mode consumer
	echo "round: $have of $acked_upto acknowledged messages survived (required: $synced)"
	[ -z "$(daemon_errors_since "$logline")" ] || fail "the daemon logged errors reading the crashed store:
$(daemon_errors_since "$logline")"
	jn_check_log n1
}

crash_round 3000
# The consumer still works on the recovered store.
jsc consume --stream CRASH --name JCPULLDUR --count 1000 --seed "$SEED" --headers --expect-first-seq 1
ok "first crash: recovered, everything up to the sync point present, all intact"

# Write-through: every write reaches the daemon, and the backing file,
# before it returns, so the kill lands amid block writes, not before them.
jn_stop n1
jc_umount "$M"
jc_mount "$B" "$M" --write-through
jn_start n1
crash_round 1000 --write-through
jsc consume --stream CRASH --name JCPULLDUR --count 1000 --seed "$SEED" --headers --expect-first-seq 1001
ok "second crash: recovered, everything up to the sync point present, all intact"

# The recovered store takes new messages and keeps them across a clean restart.
n=$(last_seq)
jsc publish --stream CRASH --subject jccrash.x --count 1000 --start $((n + 1)) --size 400 --seed "$SEED" --headers
jn_stop n1
jn_start n1
jsc verify --stream CRASH --seed "$SEED" --first-seq 1 --last-seq $((n + 1000)) --count $((n + 1000)) --headers --mode get
jn_stop n1
jn_check_log n1
jc_umount "$M"
jn_assert_headers "$B"
assert_no_plaintext "$B" "${JN_SECRET_STRINGS[@]}" "JCMSG:$SEED:" CRASH JCPULLDUR jccrash
ok "recovered store takes new messages; $((n + 1000)) intact after a clean restart; no plaintext"
