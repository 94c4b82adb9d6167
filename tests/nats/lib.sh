# NATS helpers for the integration tests t_nats_*.sh, sourced after
# tests/integration/lib.sh (whose temp dir, mount helpers and cleanup trap it
# relies on). It runs the real nats-server: a generated config per server on
# free loopback ports, started in the background and tracked by PID so the
# shared cleanup stops it before the mounts go away, stopped by SIGTERM or
# killed by SIGKILL by PID, and its log checked for store errors afterwards.
# jsc runs tests/nats/jsclient.mjs, the client that publishes and verifies.
#
# A server is known by a short name; its settings live in JN_* arrays keyed
# by that name, so a test can run several (a cluster) side by side.

: "${JC_TMP:?source tests/integration/lib.sh before tests/nats/lib.sh}"

JN_DIR=$SRCDIR/tests/nats
JN_CLIENT=$JN_DIR/jsclient.mjs
declare -A JN_PORT=() JN_MPORT=() JN_CPORT=() JN_STORE=() JN_PID=() JN_EXTRA=()
JN_USED_PORTS=" "
JN_CLUSTER=()        # names of the servers of the cluster, if any

command -v nats-server >/dev/null || fail "nats-server is not installed (scripts/setup.sh installs it)"
command -v node >/dev/null || fail "node is not installed (scripts/setup.sh installs it)"

# The client's node_modules come from scripts/setup.sh (npm ci); a checkout
# where nobody ran it gets them here, once, under a lock so parallel tests do
# not race on the same directory.
jn_need_client() {
	[ -d "$JN_DIR/node_modules/nats" ] && return 0
	command -v npm >/dev/null || fail "tests/nats/node_modules missing and npm not installed: run scripts/setup.sh"
	(
		flock 9
		[ -d "$JN_DIR/node_modules/nats" ] ||
			(cd "$JN_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
	) 9>"$JN_DIR/.npm-lock" || fail "npm ci in tests/nats failed"
	rm -f "$JN_DIR/.npm-lock"
}
jn_need_client

# A loopback TCP port nobody listens on and that this test has not handed
# out yet. Random, so tests running in parallel rarely pick the same one;
# a collision shows as a start failure of nats-server, not as cross-talk.
jn_free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 40000))
		case "$JN_USED_PORTS" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
			JN_USED_PORTS+="$p "
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# jn_server NAME STORE_DIR: declares a server (ports picked, config written
# by jn_start). JN_EXTRA[NAME] may hold extra lines for the jetstream block.
jn_server() {
	local name=$1
	JN_STORE[$name]=$2
	JN_PORT[$name]=$(jn_free_port)
	JN_MPORT[$name]=$(jn_free_port)
	JN_CPORT[$name]=$(jn_free_port)
	JN_EXTRA[$name]=${JN_EXTRA[$name]:-}
}

jn_url() {
	echo "nats://127.0.0.1:${JN_PORT[$1]}"
}

jn_log() {
	echo "$JC_TMP/nats-$1.log"
}

# jn_cluster NAME...: the named servers form one cluster with routes to each
# other (call after jn_server for each).
jn_cluster() {
	JN_CLUSTER=("$@")
}

jn_write_conf() {
	local name=$1 conf=$JC_TMP/nats-$1.conf n routes=""
	{
		echo "server_name: $name"
		echo "listen: 127.0.0.1:${JN_PORT[$name]}"
		echo "http: 127.0.0.1:${JN_MPORT[$name]}"
		echo "jetstream {"
		echo "  store_dir: \"${JN_STORE[$name]}\""
		[ -z "${JN_EXTRA[$name]}" ] || echo "  ${JN_EXTRA[$name]}"
		echo "}"
		if [ "${#JN_CLUSTER[@]}" -gt 0 ]; then
			for n in "${JN_CLUSTER[@]}"; do
				routes+="${routes:+, }nats-route://127.0.0.1:${JN_CPORT[$n]}"
			done
			echo "cluster {"
			echo "  name: jcfs"
			echo "  listen: 127.0.0.1:${JN_CPORT[$name]}"
			echo "  routes: [ $routes ]"
			echo "}"
		fi
	} >"$conf"
	echo "$conf"
}

# jn_start NAME [nowait]: starts nats-server in the background and, unless
# nowait, waits until JetStream is ready (a cluster member waits on its own
# with jn_wait_ready once all members run).
jn_start() {
	local name=$1 conf pid
	conf=$(jn_write_conf "$name")
	echo "--- start $(date +%T.%N)" >>"$(jn_log "$name")"
	nats-server -c "$conf" -l "$(jn_log "$name")" -P "$JC_TMP/nats-$name.pid" &
	pid=$!
	JN_PID[$name]=$pid
	JC_PIDS+=("$pid")
	[ "${2:-}" = nowait ] || jn_wait_ready "$name"
}

# Ready: the monitoring port's /healthz answers ok, which in 2.9 means
# JetStream is enabled and, in a cluster, has a meta leader and is current.
jn_wait_ready() {
	local name=$1 timeout=${2:-60} i pid=${JN_PID[$1]}
	for ((i = 0; i < timeout * 5; i++)); do
		kill -0 "$pid" 2>/dev/null ||
			fail "nats-server $name exited during start-up; log: $(tail -n 15 "$(jn_log "$name")")"
		if curl -sf -m 2 "http://127.0.0.1:${JN_MPORT[$name]}/healthz" 2>/dev/null | grep -q '"ok"'; then
			return 0
		fi
		sleep 0.2
	done
	fail "nats-server $name not ready after ${timeout}s; log: $(tail -n 15 "$(jn_log "$name")")"
}

jn_forget_pid() {
	local pid=$1 i
	for i in "${!JC_PIDS[@]}"; do
		[ "${JC_PIDS[$i]}" != "$pid" ] || unset "JC_PIDS[$i]"
	done
	JC_PIDS=("${JC_PIDS[@]}")
}

# jn_stop NAME: SIGTERM by PID, and wait; a clean shutdown flushes and
# closes every store file, which is what a restart test wants.
jn_stop() {
	local name=$1 pid=${JN_PID[$1]:-}
	[ -n "$pid" ] || fail "jn_stop: server $name not running"
	kill -TERM "$pid" 2>/dev/null || true
	if ! jc_wait_pid "$pid" 30; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "nats-server $name (pid $pid) did not exit within 30 s of SIGTERM"
	fi
	wait "$pid" 2>/dev/null || true
	jn_forget_pid "$pid"
	unset "JN_PID[$name]"
}

# jn_stop_all NAME...: stops every named server, then checks each one's log
# (all stopped first, so that no log shows a peer going away mid-check).
jn_stop_all() {
	local n
	for n in "$@"; do
		jn_stop "$n"
	done
	for n in "$@"; do
		jn_check_log "$n"
	done
}

# jn_cluster_stop NAME...: jn_stop_all, then unmounts each server's store
# at $JC_TMP/m-NAME (the cluster tests' naming, as for
# jn_assert_cluster_encrypted).
jn_cluster_stop() {
	local n
	jn_stop_all "$@"
	for n in "$@"; do
		jc_umount "$JC_TMP/m-$n"
	done
}

# jn_cluster_start NAME...: the declared servers form one cluster, all start
# at once (a member is ready only once the meta group has a leader), and
# NATS_URL names all of them for jsc.
jn_cluster_start() {
	local n
	jn_cluster "$@"
	for n in "$@"; do
		jn_start "$n" nowait
	done
	for n in "$@"; do
		jn_wait_ready "$n" 90
	done
	NATS_URL=$(jn_urls "$@")
	export NATS_URL
}

# jn_urls NAME...: the client URLs of the named servers, comma-separated.
jn_urls() {
	local n u=""
	for n in "$@"; do u+="${u:+,}$(jn_url "$n")"; done
	echo "$u"
}

# jn_kill NAME: SIGKILL by PID: a crash, nothing flushed.
jn_kill() {
	local name=$1 pid=${JN_PID[$1]:-}
	[ -n "$pid" ] || fail "jn_kill: server $name not running"
	kill -KILL "$pid" 2>/dev/null || true
	jc_wait_pid "$pid" 10 || fail "nats-server $name (pid $pid) survived SIGKILL"
	wait "$pid" 2>/dev/null || true
	jn_forget_pid "$pid"
	unset "JN_PID[$name]"
}

# jn_crash_mount MNT: what a crashed jetcryptfs leaves: the daemon killed by
# SIGKILL (by its PID) and the dead mount detached lazily.
jn_crash_mount() {
	local mnt pid
	mnt=$(realpath "$1")
	pid=${JC_DAEMON[$mnt]:-}
	[ -n "$pid" ] || fail "jn_crash_mount: no daemon recorded for $mnt"
	kill -KILL "$pid" 2>/dev/null || true
	jc_wait_pid "$pid" 10 || fail "jetcryptfs daemon $pid survived SIGKILL"
	unset "JC_DAEMON[$mnt]"
	fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	jc_is_mounted "$mnt" && fail "lazy unmount of $mnt left it mounted"
	return 0
}

# jsc ARGS...: the client against the server named by $JN_SERVER (or the
# URL list in $NATS_URL). Fails the test with the client's message.
jsc() {
	local url=${NATS_URL:-}
	[ -n "$url" ] || url=$(jn_url "${JN_SERVER:?set JN_SERVER or NATS_URL}")
	node "$JN_CLIENT" "$@" --server "$url"
}

# jn_check_log NAME [EXTRA_IGNORE_ERE]: the server's log has no error about
# its store. Connection noise from killed peers (routes, clients) is not a
# store error; anything else at [ERR], and any line naming corruption,
# checksums, lost data or a failing store on any level, fails the test.
jn_check_log() {
	local name=$1 extra=${2:-} log bad
	log=$(jn_log "$name")
	[ -f "$log" ] || fail "no log for nats-server $name"
	bad=$(grep -E '\[(ERR|FTL)\]|[Cc]orrupt|[Cc]hecksum|lost data|[Ll]ost [0-9]|[Ee]rror (opening|reading|writing|recovering|loading|restoring)|[Ss]tore (error|failed)|[Ff]ailed to (create|recover|restore|load|open|write|read)|input/output error|[Ii]nvalid (index|block|message)|bad (message|block|index|record)' "$log" |
		grep -vE 'Error trying to connect to route|route (connection )?(closed|error)|[Rr]oute.*(refused|reset|EOF|broken pipe|i/o timeout)|Client connection closed|[Rr]eadloop|Slow Consumer|[Cc]onnection refused|JetStream cluster no metadata leader|[Nn]o (quorum|leader)|[Ll]eader(ship)? (changed|lost)|RAFT.*(Timeout|No quorum)' |
		{ if [ -n "$extra" ]; then grep -vE "$extra"; else cat; fi; } || true)
	[ -z "$bad" ] || fail "nats-server $name logged store problems:
$bad"
}

# jn_assert_headers BACKING: every non-empty regular backing file except the
# store descriptor starts with the JCFS magic (an empty file has no header).
jn_assert_headers() {
	assert_encrypted "$1"
	local n
	n=$(find "$1" -type f ! -path "$1/.jetcryptfs" -size +0 | wc -l)
	[ "$n" -gt 0 ] || fail "no encrypted files under $1 at all"
	echo "headers: $n backing files under $1 start with JCFS"
}

# jn_assert_cluster_encrypted SEED NAME...: for the cluster tests' naming
# (backing dir $JC_TMP/b-NAME; stream ORDERS, consumer JCPULLDUR, subjects
# jcorders.>, payloads and message ids of SEED): each node's backing dir
# holds raft state, every file in it has a JCFS header, and no file holds
# any of those names, payloads or the raft peer lists in the clear.
jn_assert_cluster_encrypted() {
	local seed=$1 n b raft
	shift
	for n in "$@"; do
		b=$JC_TMP/b-$n
		raft=$(find "$b" -path '*/_js_/*' -type f -size +0 | wc -l)
		[ "$raft" -gt 0 ] || fail "no raft state under $b/jetstream/\$SYS/_js_"
		jn_assert_headers "$b"
		assert_no_plaintext "$b" "${JN_SECRET_STRINGS[@]}" "JCMSG:$seed:" ORDERS JCPULLDUR jcorders \
			'"peers"' '"known_peers"' "ORDERS-$seed-"
		ok "$n: $raft raft files among $(find "$b" -type f | wc -l) backing files, all encrypted, no plaintext"
	done
}

# jn_is_encrypted FILE: 0 if FILE starts with the JCFS header magic.
jn_is_encrypted() {
	[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = JCFS ]
}

# jn_cipher_ids BACKING: the set of cipher ids (header byte 5) and key ids
# (bytes 8..15, hex) of the encrypted backing files, "cipher keyid count".
jn_header_census() {
	find "$1" -type f ! -path "$1/.jetcryptfs" -size +31c -print0 |
		while IFS= read -r -d '' f; do
			[ "$(head -c 4 "$f")" = JCFS ] || continue
			printf '%d %s\n' "0x$(head -c 6 "$f" | tail -c 1 | xxd -p)" "$(head -c 16 "$f" | tail -c 8 | xxd -p)"
		done | sort | uniq -c | awk '{ print $2, $3, $1 }'
}

# Strings that must not occur in any backing file's content after a test
# that used the default names below.
JN_SECRET_STRINGS=(
	JCMSG: JCHDR- JCKV: JCOBJ:              # payload markers of jsclient
	'"durable_name"' '"ack_policy"' '"deliver_subject"' '"subjects"'
	'"max_msgs"' '"num_replicas"' '"storage"' # stream and consumer JSON
)
