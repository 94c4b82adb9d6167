#!/usr/bin/env bash
# The paths the offline tools are given and the paths they meet.
# Given: a jetcryptfs mount point, or any path inside a mount (directly,
# relative, through a symlink, or as the config's backing_dir), is the
# decrypted view, where fsck would find "plaintext files: clean" over a
# tampered store: fsck, cat, encrypt, rekey and inspect refuse it (exit 2,
# one line naming the backing directory), and one line of its own for a
# dead mount (daemon killed); fsck of the backing directory names the
# tampered block. Met: below the backing directory no symlink is followed.
# A directory swapped for a symlink to an outside directory while encrypt
# or rekey waits (the test delay hook) leaves the outside file byte for
# byte as it was and fails the run; a symlink already in place as a
# directory is not walked into by fsck, encrypt, rekey or inspect, and
# refused in a path given to cat or inspect. The symlink cases run twice:
# with openat2 and with the component-by-component walk of older kernels.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m
jc_mount "$B" "$M"
mkdir "$M/d"
head -c 20000 /dev/urandom >"$M/d/f"
seq 1 1000 >"$M/top.txt"
sync "$M/d/f" "$M/top.txt"

# expect_line CODE LINE CMD...: CMD exits CODE and prints exactly LINE.
expect_line() {
	local want=$2
	expect_exit "$1" "${@:3}"
	[ "$JC_OUTPUT" = "$want" ] || fail "$*: expected exactly: $want -- got: $JC_OUTPUT"
}
live() {        # CMD ARG WHAT: the refusal of a path in the live mount
	echo "jetcryptfs $1: $2 is inside the jetcryptfs mount $M (the decrypted view); give its backing $3 instead"
}
dead() {        # CMD ARG [WHAT]
	echo "jetcryptfs $1: $2 is inside the jetcryptfs mount $M, which is dead (its daemon is gone): run fusermount3 -u $M, then mount it again; this command takes its backing ${3:-directory $B}"
}

# One flipped byte in block 1 of d/f (chachapoly: 32-byte header, stored
# blocks of 4136 bytes).
off=$((32 + 4136 + 50))
byte=$(xxd -s "$off" -l 1 -p "$B/d/f")
printf "\\x$(printf %02x $((0x$byte ^ 0x01)))" | dd of="$B/d/f" bs=1 seek="$off" conv=notrunc status=none

for cmd in fsck encrypt rekey inspect; do
	expect_line 2 "$(live $cmd "$M" "directory $B")" "$JCFS" $cmd "$M"
done
expect_line 2 "$(live cat "$M" "directory $B")" "$JCFS" cat "$M"
for cmd in fsck encrypt rekey; do
	expect_line 2 "$(live $cmd "$M/d" "directory $B")" "$JCFS" $cmd "$M/d"
done
expect_line 2 "$(live inspect "$M/d" "directory $B/d")" "$JCFS" inspect "$M/d"
expect_line 2 "$(live inspect "$M/d/f" "file $B/d/f")" "$JCFS" inspect "$B/top.txt" "$M/d/f"
expect_line 2 "$(live cat "$M/d/f" "file $B/d/f")" "$JCFS" cat "$M/d/f"
ok "the mount point and paths inside it: fsck, encrypt, rekey, inspect and cat refuse them (2), naming the backing path"

expect_line 2 "$(live fsck "$M" "directory $B")" env -u JS_KEY "$JCFS" fsck "$M"
cd "$M/d"
expect_line 2 "$(live fsck . "directory $B")" "$JCFS" fsck .
expect_line 2 "$(live cat f "file $B/d/f")" "$JCFS" cat f
expect_line 2 "$(live inspect ../top.txt "file $B/top.txt")" "$JCFS" inspect ../top.txt
cd "$JC_TMP"
ln -s "$M" "$JC_TMP/alias"
expect_line 2 "$(live fsck "$JC_TMP/alias" "directory $B")" "$JCFS" fsck "$JC_TMP/alias"
expect_line 2 "$(live cat "$JC_TMP/alias/d/f" "file $B/d/f")" "$JCFS" cat "$JC_TMP/alias/d/f"
printf 'jetstream {\n  backing_dir: "%s"\n  store_dir: "%s"\n}\n' "$M" "$JC_TMP/elsewhere" >"$JC_TMP/wrong.conf"
for cmd in fsck encrypt rekey; do
	expect_line 2 "$(live $cmd "$M" "directory $B")" "$JCFS" $cmd -c "$JC_TMP/wrong.conf"
done
ok "also without a key, relative, through a symlink, and as the config's backing_dir"

# The difference: the backing directory shows the tampered block.
expect_exit 1 "$JCFS" fsck "$B"
expect_output_contains "$B/d/f: block 1: authentication failed"
expect_exit 7 "$JCFS" encrypt "$B"
expect_exit 7 "$JCFS" rekey "$B"
ok "fsck of the backing directory names the tampered block (1); encrypt/rekey of it: mounted (7)"

# A dead mount: its daemon killed, the mount answers ENOTCONN.
kill -KILL "$JC_PID"
jc_wait_pid "$JC_PID" 10 || fail "daemon $JC_PID survived SIGKILL"
out=$(stat -f "$M" 2>&1) && fail "the mount still answers after its daemon was killed"
grep -q "not connected" <<<"$out" || fail "the mount is not dead: $out"
for cmd in fsck encrypt rekey inspect; do
	expect_line 2 "$(dead $cmd "$M")" "$JCFS" $cmd "$M"
done
expect_line 2 "$(dead fsck "$M/d")" "$JCFS" fsck "$M/d"
expect_line 2 "$(dead inspect "$M/d/f" "path $B/d/f")" "$JCFS" inspect "$M/d/f"
expect_line 2 "$(dead cat "$M/d/f" "path $B/d/f")" "$JCFS" cat "$M/d/f"
expect_line 2 "$(dead fsck "$JC_TMP/alias")" "$JCFS" fsck "$JC_TMP/alias"
expect_exit 1 "$JCFS" fsck "$B"
expect_output_contains "$B/d/f: block 1: authentication failed"
fusermount3 -u -z "$M"
unset "JC_DAEMON[$M]"
jc_is_mounted "$M" && fail "the dead mount is still there"
ok "a dead mount: every tool refuses it with its own line (2); fsck of the backing directory still works"

# ---- symlinks below the backing directory ----

# wait_tmp DIR: until encrypt or rekey has a temp file in DIR (it is then
# inside its first file, sleeping after each chunk).
wait_tmp() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ -n "$(find "$1" -maxdepth 1 -name '.jetcryptfs-tmp-*')" ] && return 0
		sleep 0.05
	done
	fail "no temp file appeared in $1"
}

# race NAME STORE OUTSIDE CMD...: runs CMD (encrypt or rekey of STORE,
# whose a/big comes before sub/f) slowly and, while it converts a/big,
# swaps STORE/sub for a symlink to OUTSIDE, which holds an f of its own.
# The outside f must stay as it was, and the run must fail, naming sub/f.
race() {
	local name=$1 s=$2 o=$3 pid rc=0
	shift 3
	cp "$o/f" "$JC_TMP/$name.orig"
	JETCRYPTFS_TEST_DELAY_MS=1500 "$@" >"$JC_TMP/$name.out" 2>&1 &
	pid=$!
	JC_PIDS+=("$pid")
	wait_tmp "$s/a"
	mv "$s/sub" "$s.sub"
	ln -s "$o" "$s/sub"
	wait "$pid" || rc=$?
	cmp -s "$o/f" "$JC_TMP/$name.orig" || fail "$name: the file outside the store was changed"
	[ -z "$(find "$o" -name '.jetcryptfs-tmp-*')" ] || fail "$name: a temp file was made outside the store"
	[ "$rc" -eq 1 ] || fail "$name: exited $rc, not 1: $(cat "$JC_TMP/$name.out")"
	grep -qF "$s/sub/f: cannot open its directory: a symlink in its path (never followed below the backing directory)" \
		"$JC_TMP/$name.out" || fail "$name: sub/f not named: $(cat "$JC_TMP/$name.out")"
	# Put the directory back for what follows.
	rm "$s/sub"
	mv "$s.sub" "$s/sub"
}

OLD=$JS_KEY
NEW=$(jc_genkey)
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n}\n' "$NEW" "$OLD" >"$JC_TMP/rekey.conf"
for mode in openat2 walk; do
	if [ "$mode" = walk ]; then
		export JETCRYPTFS_TEST_NO_OPENAT2=1
	else
		unset JETCRYPTFS_TEST_NO_OPENAT2
	fi

	# encrypt: a plaintext store, and a plaintext f outside it.
	S=$JC_TMP/s.$mode O=$JC_TMP/out.$mode
	mkdir -p "$S/a" "$S/sub" "$O"
	head -c 2500000 /dev/urandom >"$S/a/big"
	echo "the store's own file" >"$S/sub/f"
	echo "outside the store: must stay as it is" >"$O/f"
	race "encrypt.$mode" "$S" "$O" "$JCFS" encrypt "$S"
	grep -q '^plaintext allowed$' "$S/.jetcryptfs" || fail "encrypt.$mode: a failed run made the store strict"
	[ "$(head -c 4 "$S/sub/f")" != JCFS ] || fail "encrypt.$mode: sub/f was converted through the symlink"
	expect_exit 0 "$JCFS" encrypt "$S"
	expect_output_contains "the store is now strict"
	ok "$mode: a directory swapped for a symlink while encrypt waits: the outside file is untouched, encrypt exits 1 naming it"

	# rekey: the store under OLD, and outside a copy of its sub/f (under
	# OLD too, so rekey would take it).
	O=$JC_TMP/out2.$mode
	mkdir -p "$O"
	cp "$S/sub/f" "$O/f"
	race "rekey.$mode" "$S" "$O" env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey.conf" "$S"
	expect_exit 0 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey.conf" "$S"
	ok "$mode: a directory swapped for a symlink while rekey waits: the outside file is untouched, rekey exits 1 naming it"

	# A symlink in place as a directory: not walked into, and refused in
	# a path given to cat or inspect.
	T=$JC_TMP/t.$mode X=$JC_TMP/x.$mode
	mkdir -p "$T/d" "$X"
	seq 1 3000 >"$T/d/f"
	expect_exit 0 "$JCFS" encrypt --quiet "$T"
	echo "outside plaintext" >"$X/plain"    # encrypt would take it
	cp "$T/d/f" "$X/enc"                    # under OLD: rekey would take it, cat show it
	cp "$T/d/f" "$X/bad"                    # damaged: fsck would name it
	printf 'X' | dd of="$X/bad" bs=1 seek=5000 conv=notrunc status=none
	ln -s "$X" "$T/link"
	(cd "$X" && sha256sum plain enc bad) >"$JC_TMP/x.sums"
	# The planted symlink is a problem of its own (its target is
	# plaintext); fsck names it, and encrypt encrypts it (the operator
	# ran it after reading fsck), without following it either way.
	expect_exit 1 "$JCFS" fsck "$T"
	expect_output_contains "$T: 1 files: 1 encrypted"
	expect_output_contains "$T/link: plaintext symlink -> $X: made before symlink encryption, or planted"
	expect_exit 0 "$JCFS" encrypt "$T"
	expect_output_contains "encrypted 0 of 0"
	expect_output_contains "$T/link: plaintext symlink -> $X encrypted"
	expect_exit 0 "$JCFS" inspect "$T"
	grep -qF "$T/link" <<<"$JC_OUTPUT" && fail "inspect $T walked into the symlink: $JC_OUTPUT"
	for f in enc plain; do
		expect_line 1 "jetcryptfs: error: $T/link/$f: a symlink in its path (never followed below the backing directory)" \
			"$JCFS" cat "$T/link/$f"
		expect_line 1 "jetcryptfs: error: $T/link/$f: cannot read: a symlink in its path (never followed below the backing directory)" \
			"$JCFS" inspect "$T/link/$f"
	done
	(cd "$T/d" && "$JCFS" cat ../link/enc >/dev/null 2>&1) && fail "cat ../link/enc from inside the store exited 0"
	(cd "$T" && "$JCFS" cat link/enc >/dev/null 2>&1) && fail "cat link/enc from the store root exited 0"
	expect_exit 0 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey.conf" "$T"
	expect_output_contains "re-encrypted 1 of 1 files"
	(cd "$X" && sha256sum -c --quiet "$JC_TMP/x.sums") || fail "a file outside the store was changed"
	# Symlinks above the store are the operator's to use.
	ln -s "$T" "$JC_TMP/t.alias.$mode"
	cmp -s <(env -u JS_KEY "$JCFS" cat -c "$JC_TMP/rekey.conf" "$JC_TMP/t.alias.$mode/d/f") <(seq 1 3000) ||
		fail "cat through a symlink above the store"
	ok "$mode: a symlink as a directory: fsck, encrypt, rekey and inspect do not walk into it, cat and inspect refuse it in a path (1); one above the store is followed"
done

# The mount's own conversion: in an adopted store, a plaintext file opened
# for writing is first encrypted whole beside itself and renamed over
# itself. While it waits (the test hook), its directory is swapped in the
# backing directory for a symlink to an outside one holding a file of the
# same name: the open fails (EIO, logged), the outside file stays as it
# is, and no temp file is made there.
S=$JC_TMP/ad M=$JC_TMP/adm O=$JC_TMP/adout
mkdir -p "$S/sub" "$O"
echo "the store's own plaintext" >"$S/sub/f"
echo "outside the store: must stay as it is" >"$O/f"
cp "$O/f" "$JC_TMP/adout.orig"
JETCRYPTFS_TEST_DELAY_MS=1500 jc_mount "$S" "$M" --adopt
mark=$(jc_log_mark)
(echo appended >>"$M/sub/f") 2>"$JC_TMP/append.err" &
apid=$!
sleep 0.5
mv "$S/sub" "$S/sub.real"
ln -s "$O" "$S/sub"
wait "$apid" && fail "the append through a swapped directory succeeded"
cmp -s "$O/f" "$JC_TMP/adout.orig" || fail "the mount's conversion changed a file outside the store"
[ -z "$(find "$O" -name '.jetcryptfs-tmp-*')" ] || fail "the mount's conversion made a temp file outside the store"
jc_log_since "$mark" | grep -qF "$S/sub/f: plaintext file not encrypted before its first change: a symlink in its path" ||
	fail "the refusal is not logged: $(jc_log_since "$mark")"
rm "$S/sub"
mv "$S/sub.real" "$S/sub"
echo appended >>"$M/sub/f"
[ "$(cat "$M/sub/f")" = "the store's own plaintext
appended" ] || fail "the file reads wrong after the conversion: $(cat "$M/sub/f")"
[ "$(head -c 4 "$S/sub/f")" = JCFS ] || fail "the file was not encrypted before its change"
jc_umount "$M"
ok "the mount's own conversion: a directory swapped for a symlink while it waits fails the open (EIO), nothing outside touched"
