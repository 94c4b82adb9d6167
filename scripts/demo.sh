#!/usr/bin/env bash
# The demo: installs what is needed (scripts/setup.sh), builds
# (scripts/build.sh), mounts an encrypted store, runs an unmodified
# nats-server with its JetStream store_dir on the mount, publishes a few
# messages, and shows the two views of the same files: plaintext through the
# mount, ciphertext underneath. Then it stops nats-server and unmounts; with
# --keep it leaves both running and prints how to stop them.
#
# Everything lives in one directory (DEMO_DIR, default
# /var/tmp/jetcryptfs-demo): the key (unless JS_KEY is set), the backing
# directory enc/, the mount point js/, nats.conf, logs and pid files. A second
# run reuses the store and the key (and first stops a demo left running by
# --keep); anything this script started is stopped by its PID if a step
# fails.
set -eEuo pipefail

usage() {
	echo "usage: scripts/demo.sh [--keep]"
	echo "  --keep   leave nats-server and the mount running; print the stop commands"
	echo "environment: JS_KEY (else a key is generated and kept in DEMO_DIR/key),"
	echo "             DEMO_DIR (default /var/tmp/jetcryptfs-demo), DEMO_PORT (default 4322),"
	echo "             BUILD_DIR (as for scripts/build.sh)"
}

keep=0
for arg in "$@"; do
	case "$arg" in
	--keep) keep=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
repo=$(pwd)
DIR=${DEMO_DIR:-/var/tmp/jetcryptfs-demo}
ENC=$DIR/enc
MNT=$DIR/js
NATS_PID=
JCFS_PID=
MOUNTED=0
DONE=0
STARTED=0               # this run got as far as mounting
NATS_STARTED=0
JLOG_FROM=0             # lines of jetcryptfs.log from earlier runs

step() {
	if [ -t 1 ]; then
		printf '\n\033[1m== %s\033[0m\n' "$*"
	else
		printf '\n== %s\n' "$*"
	fi
}

die() {
	echo "demo: error: $*" >&2
	exit 1
}

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

wait_gone() {           # PID SECONDS: 0 once PID has exited
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# Stops what this run (or a kept earlier run) started, by PID: nats-server
# first (it holds files on the mount), then the mount and its daemon.
stop_all() {
	if [ -n "$NATS_PID" ] && kill -0 "$NATS_PID" 2>/dev/null; then
		kill -TERM "$NATS_PID" 2>/dev/null || true
		wait_gone "$NATS_PID" 30 || kill -KILL "$NATS_PID" 2>/dev/null || true
	fi
	NATS_PID=
	rm -f "$DIR/nats.pid"
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } ||
			fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	if [ -n "$JCFS_PID" ] && kill -0 "$JCFS_PID" 2>/dev/null; then
		wait_gone "$JCFS_PID" 20 || kill -KILL "$JCFS_PID" 2>/dev/null || true
	fi
	JCFS_PID=
	rm -f "$DIR/jetcryptfs.pid"
}

on_exit() {
	local rc=$?
	trap - EXIT
	if [ "$DONE" = 1 ] && [ "$keep" = 1 ]; then
		exit 0
	fi
	if [ "$rc" -ne 0 ] && [ "$STARTED" = 0 ]; then
		echo "demo: failed (status $rc)" >&2
	elif [ "$rc" -ne 0 ]; then
		echo "demo: failed (status $rc); stopping what it started" >&2
		[ "$NATS_STARTED" = 0 ] || { echo "--- nats-server log (last 10 lines)"; tail -n 10 "$DIR/nats.log"; } >&2
		{ echo "--- jetcryptfs log of this run (last 10 lines)"; tail -n +"$((JLOG_FROM + 1))" "$DIR/jetcryptfs.log" | tail -n 10; } >&2
	fi
	# Before the mount step nothing is ours yet (a demo kept running by an
	# earlier --keep is left alone).
	[ "$STARTED" = 0 ] || stop_all
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "demo: line $LINENO: $BASH_COMMAND failed" >&2' ERR

# --- install and build --------------------------------------------------------------
step "install (scripts/setup.sh)"
scripts/setup.sh
step "build (scripts/build.sh)"
mkdir -p "$DIR"
scripts/build.sh >"$DIR/build.log" 2>&1 || { tail -n 20 "$DIR/build.log" >&2; die "build failed (log: $DIR/build.log)"; }
build=$(tail -n 1 "$DIR/build.log")
case "$build" in /*) ;; *) build=$repo/$build ;; esac
JCFS=$build/jetcryptfs
[ -x "$JCFS" ] || die "no jetcryptfs binary at $JCFS (log: $DIR/build.log)"
echo "built $JCFS"
CLIENT=(node "$repo/tests/nats/jsclient.mjs")
[ -d "$repo/tests/nats/node_modules/nats" ] || die "tests/nats/node_modules is missing (scripts/setup.sh runs npm ci there)"

# --- a demo left running by --keep: stop it by its PIDs ------------------------------------
if [ -s "$DIR/nats.pid" ] || [ -s "$DIR/jetcryptfs.pid" ] || is_mounted "$MNT"; then
	step "stopping the demo left running by an earlier --keep"
	NATS_PID=$(cat "$DIR/nats.pid" 2>/dev/null || true)
	JCFS_PID=$(cat "$DIR/jetcryptfs.pid" 2>/dev/null || true)
	# Only a pid that still runs the program we started counts.
	[ -z "$NATS_PID" ] || grep -qa nats-server "/proc/$NATS_PID/cmdline" 2>/dev/null || NATS_PID=
	[ -z "$JCFS_PID" ] || grep -qa jetcryptfs "/proc/$JCFS_PID/cmdline" 2>/dev/null || JCFS_PID=
	stop_all
	is_mounted "$MNT" && die "$MNT is still mounted; unmount it (fusermount3 -u $MNT) and rerun"
fi

# --- the key ------------------------------------------------------------------------
step "key"
if [ -n "${JS_KEY:-}" ]; then
	echo "using the key in \$JS_KEY (not stored by the demo)"
else
	if [ ! -s "$DIR/key" ]; then
		if [ -e "$ENC/.jetcryptfs" ]; then
			die "$ENC holds a store but $DIR/key is gone: set JS_KEY to its key, or start over with: chattr -i $MNT; rm -rf $DIR"
		fi
		(umask 077 && "$JCFS" genkey >"$DIR/key.tmp" && mv "$DIR/key.tmp" "$DIR/key")
		echo "generated a key with 'jetcryptfs genkey'"
	fi
	JS_KEY=$(cat "$DIR/key")
	echo "the key is kept in $DIR/key (mode $(stat -c %a "$DIR/key")); without it the data is gone"
fi
export JS_KEY

# --- mount ----------------------------------------------------------------------------
step "mount: $ENC (ciphertext) on $MNT (plaintext)"
mkdir -p "$ENC"
mkdir -p "$MNT" 2>/dev/null || true     # a dead mount of a killed demo: the mount cleans it up
JLOG_FROM=0
[ ! -f "$DIR/jetcryptfs.log" ] || JLOG_FROM=$(wc -l <"$DIR/jetcryptfs.log")
STARTED=1
rc=0
# Strict by default: the store serves no plaintext files, and an old copy
# of its descriptor put back could not change that (docs/SECURITY.md).
"$JCFS" mount --pid-file "$DIR/jetcryptfs.pid" --log-file "$DIR/jetcryptfs.log" "$ENC" "$MNT" || rc=$?
JCFS_PID=$(cat "$DIR/jetcryptfs.pid" 2>/dev/null || true)
case $rc in
0) ;;
4) die "JS_KEY is not the key of the store in $ENC; use its key, or start over with: chattr -i $MNT; rm -rf $DIR" ;;
8) die "$ENC allows plaintext files (see $DIR/jetcryptfs.log); start over with: chattr -i $MNT; rm -rf $DIR" ;;
*) die "mount failed with status $rc" ;;
esac
is_mounted "$MNT" || die "mount returned 0 but $MNT is not mounted"
echo "mounted; daemon pid $JCFS_PID"

# --- nats-server on the mount ----------------------------------------------------------------
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port=${DEMO_PORT:-4322}
for ((i = 0; i < 50; i++)); do
	port_free "$port" && port_free $((port + 1)) && break
	port=$((port + 2))
done
port_free "$port" || die "no free port found near ${DEMO_PORT:-4322}"
url=nats://127.0.0.1:$port
cat >"$DIR/nats.conf" <<EOF
# nats-server for the jetcryptfs demo. No cipher or key here: jetcryptfs
# encrypts everything under store_dir (docs/NATS.md).
listen: 127.0.0.1:$port
http: 127.0.0.1:$((port + 1))
jetstream {
  store_dir: "$MNT"
}
EOF
step "nats-server on the mount (store_dir $MNT, $url)"
: >"$DIR/nats.log"
# Its own stdio goes to the log, so that a kept server does not hold the
# terminal or a pipe (scripts/demo.sh --keep | less) open.
nats-server -c "$DIR/nats.conf" -l "$DIR/nats.log" -P "$DIR/nats.pid" </dev/null >>"$DIR/nats.log" 2>&1 &
NATS_PID=$!
NATS_STARTED=1
for ((i = 0; i < 300; i++)); do
	kill -0 "$NATS_PID" 2>/dev/null || die "nats-server exited during start-up"
	grep -q "Server is ready" "$DIR/nats.log" && break
	sleep 0.1
done
grep -q "Server is ready" "$DIR/nats.log" || die "nats-server not ready after 30 s"
echo "nats-server running; pid $NATS_PID, log $DIR/nats.log"

# --- publish ------------------------------------------------------------------------
step "publish"
js() {
	"${CLIENT[@]}" "$@" --server "$url"
}
if ! js stream-info --stream DEMO >/dev/null 2>&1; then
	js stream-add --stream DEMO --subjects 'demo.>' >/dev/null
	echo "created stream DEMO (subjects demo.>)"
fi
stamp=$(date +%H:%M:%S)
for text in "order 1001: 3 blue widgets" "order 1002: 1 red gadget" \
	"card 4111-1111-1111-1111 exp 12/29" "hello from the jetcryptfs demo at $stamp"; do
	seq=$(js send --stream DEMO --subject demo.orders --data "$text" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
	echo "published #$seq: $text"
done

# --- the two views --------------------------------------------------------------------
sdir=jetstream/\$G/streams/DEMO
step "through the mount: ls -l $MNT/$sdir{,/msgs}"
ls -l "$MNT/$sdir" "$MNT/$sdir/msgs"
step "through the mount: cat $MNT/$sdir/meta.inf"
cat "$MNT/$sdir/meta.inf"
echo
# nats-server has not fsync'd its newest writes yet; they sit in the
# kernel's writeback cache until it does. sync pushes them down, so the
# ciphertext underneath is complete.
sync
step "underneath (after sync): ls -l $ENC/$sdir{,/msgs}"
ls -l "$ENC/$sdir" "$ENC/$sdir/msgs"
step "underneath: xxd $ENC/$sdir/meta.inf | head"
xxd "$ENC/$sdir/meta.inf" | head -n 8
echo "(32-byte header: magic JCFS, version, cipher id, key id, file id; then nonce, ciphertext, tag per 4 KiB block)"
step "a message's text in the files: through the mount, and underneath"
echo "\$ grep -rlaF \"demo at $stamp\" $MNT"
grep -rlaF "demo at $stamp" "$MNT" || echo "(not written to its block yet)"
echo "\$ grep -rlaF \"demo at $stamp\" $ENC"
if grep -rlaF "demo at $stamp" "$ENC"; then
	die "plaintext found underneath"
fi
echo "(nothing: no backing file contains it)"

# --- read back ----------------------------------------------------------------------
step "read back from nats-server (every message of stream DEMO)"
js dump --stream DEMO

# --- stop, or keep -----------------------------------------------------------------------
DONE=1
if [ "$keep" = 1 ]; then
	step "left running (--keep)"
	echo "nats-server: $url (pid $NATS_PID); plaintext view: $MNT; ciphertext: $ENC"
	echo "stop with:"
	echo "  kill $NATS_PID          # nats-server"
	echo "  fusermount3 -u $MNT     # the mount; its daemon (pid $JCFS_PID) exits"
	echo "or run scripts/demo.sh again, which stops it first."
	exit 0
fi
step "stop nats-server and unmount"
stop_all
is_mounted "$MNT" && die "$MNT is still mounted"
echo "stopped; the store stays in $ENC (run the demo again to reuse it)"
echo "the bare mount point $MNT is immutable while nothing is mounted on it (nothing can be written"
echo "there unencrypted); to start over: chattr -i $MNT; rm -rf $DIR"
