# Shared helpers for the integration tests (tests/integration/t_*.sh), which
# source this file. It gives each test a private temp dir, mounts and
# unmounts jetcryptfs with the daemon's pid and log kept there, and installs a
# trap that always unmounts, kills what the test started and removes the
# temp dir, whether the test passes, fails or is interrupted. Assertions fail
# the test with a message; any command failing unexpectedly does too (set -e,
# with the failing line printed).
# Environment (set by tests/CMakeLists.txt): JCFS, OPFUZZ, SRCDIR, BUILDDIR.
# JC_KEEP=1 keeps the temp dir of a failed test for inspection.

set -eEuo pipefail

: "${JCFS:?JCFS must name the jetcryptfs binary}"
: "${OPFUZZ:=}"
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILDDIR:=}"
JC_TOOLS=$(dirname "${OPFUZZ:-$JCFS}")

JC_TMP=$(mktemp -d /tmp/jcfs-test.XXXXXX)
echo $$ >"$JC_TMP/owner"        # lets scripts/test.sh spot leftovers of a killed run
JC_LOG=$JC_TMP/jcfs.log         # every daemon of this test appends here
JC_MOUNTS=()                    # mount points we mounted
declare -A JC_DAEMON=()         # mount point -> daemon pid
JC_PIDS=()                      # other processes the test started
JC_CLEANUP_HOOKS=()             # functions the cleanup runs (e.g. stop a swtpm)
JC_PID=                         # daemon pid of the last jc_mount
JC_OUTPUT=                      # output of the last expect_exit
JC_NMOUNT=0

# A sanitizer build's daemon has no stderr once daemonized: have reports
# written into the temp dir, where the cleanup finds them and fails the test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$JC_TMP/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$JC_TMP/ubsan"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$JC_TMP/tsan"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok: $*"
}

trap 'echo "FAIL: ${BASH_SOURCE[0]##*/}:$LINENO: command failed ($?): $BASH_COMMAND" >&2' ERR

jc_genkey() {
	head -c 32 /dev/urandom | base64
}

# A fresh key for the test, unless the caller brought one.
export JS_KEY=${JS_KEY:-$(jc_genkey)}

# jc_log_mark: how many lines the daemons' shared log holds now (0 before
# the first mount); jc_log_since MARK: the lines written after that.
jc_log_mark() {
	if [ -e "$JC_LOG" ]; then wc -l <"$JC_LOG"; else echo 0; fi
}
jc_log_since() {
	tail -n +"$(($1 + 1))" "$JC_LOG" 2>/dev/null || true
}

jc_is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# jc_mount BACKING MNT [extra mount args...]: mounts or fails the test.
jc_mount() {
	local backing=$1 mnt=$2 pidf rc=0
	shift 2
	mkdir -p "$backing"
	mkdir -p "$mnt" 2>/dev/null || true     # a dead mount there cannot be stat'ed; mount cleans it up
	backing=$(realpath "$backing") mnt=$(realpath "$mnt")
	JC_NMOUNT=$((JC_NMOUNT + 1))
	pidf=$JC_TMP/daemon.$JC_NMOUNT.pid
	"$JCFS" mount --pid-file "$pidf" --log-file "$JC_LOG" "$@" "$backing" "$mnt" || rc=$?
	jc_mount_check "$mnt" "$pidf" "$rc" "mount $backing on $mnt"
}

# jc_mount_check MNT PIDFILE STATUS WHAT: after a mount command (WHAT, for
# messages) that wrote PIDFILE and exited with STATUS: registers the mount
# and its daemon for cleanup (JC_PID is the daemon), and fails the test
# unless the command succeeded, MNT is mounted and the pid file was written.
jc_mount_check() {
	local mnt=$1 pidf=$2 rc=$3 what=$4
	if [ -s "$pidf" ]; then
		JC_PID=$(cat "$pidf")
		JC_DAEMON[$mnt]=$JC_PID
	fi
	JC_MOUNTS+=("$mnt")
	[ "$rc" -eq 0 ] || fail "$what failed with status $rc (log: $(tail -n 5 "$JC_LOG" 2>/dev/null))"
	jc_is_mounted "$mnt" || fail "$what exited 0 but nothing is mounted on $mnt"
	[ -n "${JC_DAEMON[$mnt]:-}" ] || fail "$what wrote no pid file"
}

# Waits up to $2 seconds for pid $1 to exit; 0 if it did. A zombie has
# exited: a daemonized process is reaped by PID 1, which may take a while
# (in containers, seconds), and kill -0 still finds it until then.
jc_wait_pid() {
	local pid=$1 i state
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || echo X)
		[ "$state" = Z ] || [ "$state" = X ] && return 0
		sleep 0.05
	done
	return 1
}

# jc_umount MNT: unmounts; fails the test if the mount is busy for 10 s or
# the daemon does not exit within 20 s of the unmount (it is killed then).
jc_umount() {
	local mnt i pid
	mnt=$(realpath "$1")
	for ((i = 0; i < 50; i++)); do
		fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.2
	done
	jc_is_mounted "$mnt" && fail "cannot unmount $mnt: $(fusermount3 -u "$mnt" 2>&1)"
	pid=${JC_DAEMON[$mnt]:-}
	unset "JC_DAEMON[$mnt]"
	if [ -n "$pid" ] && ! jc_wait_pid "$pid" 20; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "daemon $pid of $mnt still running 20 s after unmount"
	fi
	return 0
}

# jc_spawn CMD...: runs CMD in the background; the cleanup kills it.
jc_spawn() {
	"$@" &
	JC_PIDS+=("$!")
}

# jc_unguard DIR: takes the immutable attribute that mounts set on their
# mount points (the guard of the bare directory) off every directory under
# DIR, so that it can be removed.
jc_unguard() {
	find "$1" -xdev -type d -print0 2>/dev/null | xargs -0r chattr -i 2>/dev/null || true
}

jc_cleanup() {
	local rc=$? m pid f
	trap - ERR
	set +e
	# Other processes first: they may hold files open on the mounts.
	for pid in "${JC_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${JC_PIDS[@]}"; do
		jc_wait_pid "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	done
	for f in "${JC_CLEANUP_HOOKS[@]}"; do
		"$f"
	done
	# Everything mounted under the temp dir, including mounts a test did
	# not expect to succeed; deepest first.
	for m in $(awk -v t="$JC_TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r) "${JC_MOUNTS[@]}"; do
		jc_is_mounted "$m" || continue
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for pid in "${JC_DAEMON[@]}"; do
		jc_wait_pid "$pid" 10 || kill -KILL "$pid" 2>/dev/null
	done
	for f in "$JC_TMP"/asan* "$JC_TMP"/ubsan* "$JC_TMP"/tsan*; do
		[ -e "$f" ] || continue
		echo "FAIL: sanitizer report $f:" >&2
		cat "$f" >&2
		rc=1
	done
	if [ "$rc" -ne 0 ] && [ -s "$JC_LOG" ]; then
		echo "--- daemon log (last 30 lines) ---" >&2
		tail -n 30 "$JC_LOG" >&2
	fi
	if [ "$rc" -ne 0 ] && [ "${JC_KEEP:-0}" = 1 ]; then
		echo "kept $JC_TMP" >&2
	else
		jc_unguard "$JC_TMP"
		rm -rf "$JC_TMP"
	fi
	exit "$rc"
}
trap jc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE; its
# stdout+stderr are left in $JC_OUTPUT.
expect_exit() {
	local want=$1 rc=0
	shift
	JC_OUTPUT=$("$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc from: $* -- output: $JC_OUTPUT"
}

# expect_output_contains STRING: the last expect_exit printed STRING.
expect_output_contains() {
	grep -qF -- "$1" <<<"$JC_OUTPUT" || fail "output lacks \"$1\": $JC_OUTPUT"
}

# assert_no_plaintext BACKING STRING...: no file under BACKING contains any
# of the strings (names are plaintext by design; only contents are checked).
assert_no_plaintext() {
	local backing=$1 s hits
	shift
	for s in "$@"; do
		hits=$(grep -rlaF -- "$s" "$backing" 2>/dev/null | head -n 3 || true)
		[ -z "$hits" ] || fail "plaintext \"$s\" found in backing files: $hits"
	done
}

# assert_encrypted BACKING: every non-empty regular file except the store
# descriptor and the salt file starts with the header magic "JCFS".
assert_encrypted() {
	local bad
	bad=$(find "$1" -type f ! -path "$1/.jetcryptfs" ! -path "$1/.jetcryptfs.salt" -size +0 -print0 |
		while IFS= read -r -d '' f; do
			[ "$(head -c 4 "$f")" = JCFS ] || printf '%s\n' "$f"
		done | head -n 3)
	[ -z "$bad" ] || fail "backing files without the JCFS header: $bad"
}

# A listing with checksums of everything under a dir, to show that a
# refused mount wrote nothing.
jc_snapshot() {
	(cd "$1" && find . -printf '%p %y %s %m %T@\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0r sha256sum)
}
