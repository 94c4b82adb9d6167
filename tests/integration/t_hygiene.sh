#!/usr/bin/env bash
# Key hygiene: the key never shows in the daemon's /proc/PID/environ or
# cmdline (nor its write helpers'), whatever the key came from ($JS_KEY,
# --key-env NAME, `key: $VAR` in the config), nor in the log, also with
# debug output; the daemon is not dumpable (its /proc files belong to root
# even when it runs as another user) and has no core limit; keys sit in
# locked memory; a config file that holds a key and is readable by others
# earns a warning; a mount/unmount cycle leaks nothing (valgrind, or the
# sanitizer build's LeakSanitizer, which lib.sh turns into a failure).
. "$(dirname "$0")/lib.sh"

KEY=$JS_KEY

# check_proc PID WHAT SECRET: the daemon and its children (the write
# helpers) show SECRET nowhere in environ or cmdline, and no variable a
# key came from is left in the environment block.
check_proc() {
	local pid=$1 what=$2 secret=$3 p
	for p in "$pid" $(pgrep -P "$pid" || true); do
		grep -qaF -- "$secret" "/proc/$p/environ" && fail "$what: the key is in /proc/$p/environ"
		grep -qaF -- "$secret" "/proc/$p/cmdline" && fail "$what: the key is in /proc/$p/cmdline"
		tr '\0' '\n' <"/proc/$p/environ" | grep -qaE '^(JS_KEY|MY_SECRET_VAR|OTHER_KEY_VAR)=' &&
			fail "$what: a key variable is still in /proc/$p/environ"
	done
	return 0
}

# Whether JCFS is a sanitizer build. Not `ldd | grep -q`: grep stops at
# the first match, ldd may still be writing, and under pipefail its
# SIGPIPE made the test take an ASan build for a plain one now and then.
asan_build=0
ldd "$JCFS" | grep libasan >/dev/null && asan_build=1

B=$JC_TMP/b M=$JC_TMP/m
# 1. $JS_KEY
jc_mount "$B" "$M"
check_proc "$JC_PID" "\$JS_KEY" "$KEY"
lck=$(awk '/^VmLck:/ { print $2 }' "/proc/$JC_PID/status")
# AddressSanitizer turns mlock into a no-op: only a plain build can show it.
if [ $asan_build = 0 ]; then
	[ "${lck:-0}" -gt 0 ] || fail "the daemon holds no locked memory (VmLck $lck kB): keys are not in sodium_malloc memory"
fi
grep -Eq '^Max core file size +0 +0 ' "/proc/$JC_PID/limits" || fail "the daemon may dump core: $(grep core "/proc/$JC_PID/limits")"
head -c 100000 /dev/urandom >"$M/data"
cat "$M/data" >/dev/null
jc_umount "$M"
ok "\$JS_KEY: not in environ/cmdline of the daemon or its helpers; VmLck $lck kB; core limit 0"

# 2. --key-env NAME
unset JS_KEY
OTHER_KEY_VAR=$KEY jc_mount "$B" "$M" --key-env OTHER_KEY_VAR
check_proc "$JC_PID" "--key-env" "$KEY"
jc_umount "$M"
ok "--key-env: the variable is wiped from the daemon's environment block"

# 3. key: $VAR in a config; the file holds no secret, so no warning
# even though others may read it.
C=$JC_TMP/c.conf
printf 'jetstream {\n  key: $MY_SECRET_VAR\n}\n' >"$C"
chmod 644 "$C"
MY_SECRET_VAR=$KEY jc_mount "$B" "$M" -c "$C"
check_proc "$JC_PID" "config key: \$VAR" "$KEY"
jc_umount "$M"
grep -q "$C.*readable" "$JC_LOG" && fail "a config with key: \$VAR earned a permission warning"
ok "config key: \$VAR: the variable is wiped; no warning for a config without secrets"

# 4. a key written into the config: a warning while others can read it.
printf 'jetstream {\n  key: "%s"\n}\n' "$KEY" >"$C"
chmod 644 "$C"
jc_mount "$B" "$M" -c "$C"
jc_umount "$M"
grep -q "$C: holds key material and is readable by group or others" "$JC_LOG" ||
	fail "no warning for a world-readable config holding the key"
: >"$JC_LOG"
chmod 600 "$C"
jc_mount "$B" "$M" -c "$C"
jc_umount "$M"
grep -q "readable" "$JC_LOG" && fail "a warning for a 0600 config: $(grep readable "$JC_LOG")"
ok "config holding the key: warned at 0644, quiet at 0600"

# wait_mounted MNT TENTHS: 0 once MNT is mounted, 1 after TENTHS tenths
# of a second without (for daemons run in the foreground, which have no
# readiness exit status).
wait_mounted() {
	local i
	for ((i = 0; i < $2; i++)); do
		jc_is_mounted "$1" && return 0
		sleep 0.1
	done
	jc_is_mounted "$1"
}

# 5. debug output on stderr (-d stays in the foreground) and the log.
export JS_KEY=$KEY
"$JCFS" mount -d --log-file "$JC_LOG" "$B" "$M" >"$JC_TMP/debug.out" 2>&1 &
dpid=$!
JC_PIDS+=("$dpid")
JC_MOUNTS+=("$M")
wait_mounted "$M" 100 || fail "debug mount did not come up: $(tail -5 "$JC_TMP/debug.out")"
echo hello >"$M/dbg"
cat "$M/dbg" "$M/data" >/dev/null
check_proc "$dpid" "foreground -d" "$KEY"
fusermount3 -u "$M"
wait "$dpid" || fail "the debug daemon exited with $?"
[ -s "$JC_TMP/debug.out" ] || fail "no debug output"
grep -qaF -- "$KEY" "$JC_TMP/debug.out" && fail "the key is in the debug output"
grep -qaF -- "$KEY" "$JC_LOG" && fail "the key is in the log"
ok "the key is in neither the debug output ($(wc -l <"$JC_TMP/debug.out") lines) nor the log"

# 6. a daemon running as another user is not dumpable: its /proc files
# belong to root, so that user cannot read its environ or memory.
if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$JCFS" 2>/dev/null; then
	chmod 755 "$JC_TMP"
	NB=$JC_TMP/nb NM=$JC_TMP/nm NR=$JC_TMP/nrun
	mkdir -p "$NB" "$NM" "$NR"
	chown nobody:nogroup "$NB" "$NM" "$NR"
	JS_KEY=$KEY setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$JCFS" mount --pid-file "$NR/pid" "$NB" "$NM" 2>"$JC_TMP/nobody.err" ||
		fail "mount as nobody failed: $(cat "$JC_TMP/nobody.err")"
	JC_MOUNTS+=("$NM")
	npid=$(cat "$NR/pid")
	JC_PIDS+=("$npid")
	[ "$(stat -c %U "/proc/$npid")" = nobody ] || fail "the daemon does not run as nobody"
	[ "$(stat -c %U "/proc/$npid/environ")" = root ] || fail "the daemon is dumpable: /proc/$npid/environ belongs to $(stat -c %U "/proc/$npid/environ")"
	setpriv --reuid=nobody --regid=nogroup --clear-groups cat "/proc/$npid/environ" >/dev/null 2>&1 &&
		fail "its own user can read the daemon's environ"
	check_proc "$npid" "as nobody" "$KEY"
	setpriv --reuid=nobody --regid=nogroup --clear-groups fusermount3 -u "$NM"
	jc_wait_pid "$npid" 20 || fail "the nobody daemon did not exit"
	ok "non-dumpable: a daemon running as nobody has root-owned /proc files nobody cannot read"
else
	echo "skip: nobody cannot run $JCFS (non-dumpable check)"
fi

# 7. leaks over a mount/unmount cycle with some I/O. The sanitizer build
# checks every daemon at exit already (lib.sh fails on its reports).
if [ $asan_build = 1 ]; then
	echo "skip: valgrind on a sanitizer build (LeakSanitizer runs instead)"
elif command -v valgrind >/dev/null; then
	valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$JC_TMP/vg.log" \
		"$JCFS" mount -f --log-file "$JC_LOG" "$B" "$M" >/dev/null 2>&1 &
	vpid=$!
	JC_PIDS+=("$vpid")
	wait_mounted "$M" 300 || fail "the mount under valgrind did not come up: $(tail -5 "$JC_TMP/vg.log")"
	mkdir "$M/vg"
	head -c 50000 /dev/urandom >"$M/vg/f"
	cat "$M/vg/f" "$M/data" >/dev/null
	mv "$M/vg/f" "$M/vg/g"
	truncate -s 1000 "$M/vg/g"
	rm -r "$M/vg"
	fusermount3 -u "$M"
	rc=0
	wait "$vpid" || rc=$?
	[ $rc -eq 0 ] || fail "valgrind reports errors or leaks (exit $rc): $(grep -A12 'lost\|Invalid' "$JC_TMP/vg.log" | head -40)"
	ok "valgrind: no leak, no memory error over a mount/unmount cycle"
else
	echo "skip: valgrind not installed"
fi
