#!/usr/bin/env bash
# The paths the offline tools are given. A jetcryptfs mount point, or any
# path inside a mount (directly, relative, through a symlink, or as the
# config's backing_dir), is the decrypted view, where fsck would find
# "plaintext files: clean" over a tampered store: fsck, cat, encrypt,
# rekey and inspect refuse it (exit 2, one line naming the backing
# directory), and one line of its own for a dead mount (daemon killed);
# fsck of the backing directory names the tampered block.
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
