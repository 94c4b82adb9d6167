#!/usr/bin/env bash
# Strict by default: a store serves plaintext files only when the operator
# says --adopt, each time, so that a descriptor put back cannot turn that
# on in silence. The attack it answers: an adopted store's descriptor is
# saved, encrypt makes the store strict, then the old descriptor is put
# back and a plaintext file planted. A plain mount refuses the store (exit
# 8, nothing written), and so do --strict, -o strict, the config's strict:
# true, encrypt and rekey under strict; fsck under strict reports the
# descriptor and the file, cat refuses the file. Also: a new store and a
# strict one mount; a store without a descriptor that holds plaintext files
# is refused; adopt and strict together are a usage error.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m
mkdir -p "$B" "$M"
CONF=$JC_TMP/js.conf
printf 'jetstream {\n  strict: true\n}\n' >"$CONF"

# An adopted store, its descriptor saved, then encrypted: strict.
echo "an old plaintext file" >"$B/old.txt"
jc_mount "$B" "$M" --adopt
echo "written through the mount" >"$M/new.txt"
jc_umount "$M"
cp -p "$B/.jetcryptfs" "$JC_TMP/desc.adopted"
"$JCFS" encrypt --quiet "$B"
expect_exit 0 "$JCFS" fsck --quiet --strict "$B"
for how in "" "--strict"; do
	mark=$(jc_log_mark)
	jc_mount "$B" "$M" $how
	jc_log_since "$mark" | grep -q "key id [0-9a-f]*, strict)" || fail "the mount ($how) does not log that it is strict"
	! jc_log_since "$mark" | grep -q "does not say so" || fail "a mount is told to pin the store"
	[ "$(cat "$M/old.txt")" = "an old plaintext file" ] || fail "old.txt changed"
	jc_umount "$M"
done
ok "an encrypted store mounts strict, with or without --strict, and checks clean under strict"

# The replay: the adopted store's descriptor put back, a file planted.
cp -p "$JC_TMP/desc.adopted" "$B/.jetcryptfs"
echo "planted by the attacker" >"$B/planted.txt"
before=$(jc_snapshot "$B")

for how in "" "--strict" "-o strict" "-c $CONF"; do
	# shellcheck disable=SC2086 # $how is two words where it has a value
	expect_exit 8 "$JCFS" mount $how "$B" "$M"
	expect_output_contains "$B/.jetcryptfs: the store allows plaintext files (it is being adopted)"
	expect_output_contains "if encrypt had made it strict, this is an old copy of its descriptor put back"
	! jc_is_mounted "$M" || fail "mounted a store that allows plaintext files with '$how'"
done
# Only the operator's explicit --adopt serves it: the documented hole.
jc_mount "$B" "$M" --adopt
[ "$(cat "$M/planted.txt")" = "planted by the attacker" ] ||
	fail "with --adopt, the replayed descriptor no longer lets the planted file through (update SECURITY.md)"
jc_umount "$M"
cp -p "$JC_TMP/desc.adopted" "$B/.jetcryptfs"  # the mount may have rewritten it
before=$(jc_snapshot "$B")
expect_exit 8 "$JCFS" "$B" "$M" -o rw,strict,nosuid   # the mount.fuse3 form
! jc_is_mounted "$M" || fail "mounted in the mount.fuse3 form"
expect_exit 8 "$JCFS" encrypt --quiet --strict "$B"
expect_output_contains "and strict was asked"
expect_exit 8 "$JCFS" encrypt --quiet -c "$CONF" "$B"
expect_exit 8 "$JCFS" rekey --quiet --strict "$B"
[ "$(jc_snapshot "$B")" = "$before" ] || fail "a command refused under strict changed the backing directory"
ok "a replayed descriptor: mount (plain, --strict, -o strict, config, mount.fuse3 form), encrypt and rekey under strict refuse it, exit 8, nothing written; --adopt alone serves it"

expect_exit 1 "$JCFS" fsck --quiet --strict "$B"
expect_output_contains ".jetcryptfs: store descriptor allows plaintext files, but strict was asked"
expect_output_contains "planted.txt: not encrypted (plaintext file in a strict store)"
expect_exit 1 "$JCFS" fsck --quiet -c "$CONF" "$B"
expect_output_contains "planted.txt: not encrypted"
expect_exit 0 "$JCFS" fsck --quiet "$B"     # the descriptor alone lets it pass
expect_exit 1 "$JCFS" cat --strict "$B/planted.txt"
expect_output_contains "$B/planted.txt: not encrypted (no jetcryptfs header), and strict was asked"
[ "$(echo "$JC_OUTPUT" | wc -l)" -eq 1 ] || fail "cat's refusal is not one line: $JC_OUTPUT"
expect_exit 0 "$JCFS" cat "$B/planted.txt"
expect_exit 0 "$JCFS" cat --strict "$B/new.txt"
[ "$JC_OUTPUT" = "written through the mount" ] || fail "cat --strict of an encrypted file: $JC_OUTPUT"
ok "fsck names the descriptor and the planted file, cat refuses it, under strict only"

# Descriptor deleted too: the survey finds the plaintext file.
rm "$B/.jetcryptfs"
before=$(jc_snapshot "$B")
expect_exit 8 "$JCFS" mount --strict "$B" "$M"
expect_output_contains "$B: no store descriptor and 1 plaintext files (the first: planted.txt), but strict was asked"
expect_exit 8 "$JCFS" encrypt --quiet --strict "$B"
[ "$(jc_snapshot "$B")" = "$before" ] || fail "a refused command wrote to a store without descriptor"
! jc_is_mounted "$M" || fail "mounted"
rm "$B/planted.txt"
jc_mount "$B" "$M" --strict
jc_umount "$M"
expect_exit 0 "$JCFS" inspect "$B/.jetcryptfs"
expect_output_contains "plaintext refused"
ok "no descriptor and a plaintext file: refused (8); without it the descriptor is re-created strict"

# A key rotation under strict: the mount moves the descriptor to the new
# key, rekey converts the files; both with strict: true in the config.
NEWKEY=$(jc_genkey)
printf 'jetstream {\n  key: "%s"\n  prev_key: $OLD_KEY\n  strict: true\n}\n' "$NEWKEY" >"$JC_TMP/rot.conf"
chmod 600 "$JC_TMP/rot.conf"
export OLD_KEY=$JS_KEY
jc_mount "$B" "$M" -c "$JC_TMP/rot.conf"
[ "$(cat "$M/new.txt")" = "written through the mount" ] || fail "new.txt after the rotation"
jc_umount "$M"
expect_exit 0 "$JCFS" rekey --quiet -c "$JC_TMP/rot.conf" "$B"
export NEW_KEY=$NEWKEY
expect_exit 0 "$JCFS" fsck --quiet --strict --key-env NEW_KEY "$B"
ok "strict through a key rotation: the mount and rekey work, fsck is clean under the new key alone"

# A new store under strict; adopt and strict together.
N=$JC_TMP/new
mkdir -p "$N"
jc_mount "$N" "$M" -o strict
echo hello >"$M/f"
jc_umount "$M"
assert_encrypted "$N"
mkdir -p "$JC_TMP/plain"
echo x >"$JC_TMP/plain/x"
expect_exit 2 "$JCFS" mount --adopt --strict "$JC_TMP/plain" "$M"
expect_output_contains "adopt (command line) and strict (command line) cannot be used together"
expect_exit 2 "$JCFS" mount --adopt -c "$CONF" "$JC_TMP/plain" "$M"
expect_output_contains "adopt (command line) and strict ($CONF) cannot be used together"
printf 'jetstream {\n  adopt: true\n  strict: yes\n}\n' >"$JC_TMP/both.conf"
expect_exit 2 "$JCFS" mount -c "$JC_TMP/both.conf" "$JC_TMP/plain" "$M"
expect_output_contains "both.conf:3:11: adopt and strict cannot both be true"
[ ! -e "$JC_TMP/plain/.jetcryptfs" ] || fail "a refused mount wrote a descriptor"
# A config's leftover adopt: true under a command line's strict (the
# shipped unit's -o strict): strict wins, with a warning.
printf 'jetstream {\n  adopt: true\n}\n' >"$JC_TMP/adopt.conf"
mark=$(jc_log_mark)
jc_mount "$N" "$M" -c "$JC_TMP/adopt.conf" -o strict
jc_log_since "$mark" | grep -q "$JC_TMP/adopt.conf: adopt: true ignored, since strict was asked" ||
	fail "no warning for adopt: true under -o strict: $(jc_log_since "$mark")"
jc_umount "$M"
expect_exit 8 "$JCFS" mount -c "$JC_TMP/adopt.conf" --strict "$JC_TMP/plain" "$M"
[ ! -e "$JC_TMP/plain/.jetcryptfs" ] || fail "a refused mount wrote a descriptor"
expect_exit 2 "$JCFS" inspect --strict "$B"
expect_output_contains "option --strict does not apply here"
ok "a new store under strict; adopt and strict together: usage errors (2), but a config's adopt yields to --strict"
