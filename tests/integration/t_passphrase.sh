#!/usr/bin/env bash
# Passphrases (issue 21, item 3). A key that is not a full-entropy key is
# stretched with Argon2id under a random salt of the store: the descriptor
# is version 3 and carries the salt, the salt file repeats it, and the key
# id is not the unstretched HKDF id (computed here), so a guess needs an
# Argon2id run; two stores with one passphrase have different key ids. A
# guessable key is refused with exit 20 (mount and tools), and accepted with
# --allow-weak-key, -o allow_weak_key or allow_weak_key: true. A store made
# before (a fixture written by the previous version) mounts with one
# warning line; rekey moves it to the stretched derivation, after which
# nothing in the store answers to the unstretched keys. Losing the
# descriptor or the salt file loses nothing; losing both is refused with
# what to restore, and restoring the salt file brings the store back.
. "$(dirname "$0")/lib.sh"

PASS="Lighthouse keepers count 7 gulls at noon"
unset JS_KEY
export JS_KEY=$PASS

# unstretched_id PASSPHRASE: the key id the derivation before stretching
# gives (HKDF-SHA256, docs/FORMAT.md "Keys", first row), and the HMAC of
# a descriptor under its store key: "ID" or, with a file, "ID MAC-OK|MAC-BAD".
unstretched() {
	python3 - "$@" <<'EOF'
import hashlib, hmac, sys
def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + t, i + 1
    return out[:n]
pw = sys.argv[1].encode()
master = expand(hmac.new(b"jetcryptfs", pw, hashlib.sha256).digest(), b"jetcryptfs master key v1", 32)
kid = expand(master, b"jetcryptfs key id v1", 8).hex()
if len(sys.argv) < 3:
    print(kid)
    sys.exit(0)
text = open(sys.argv[2], "rb").read()
body, mac = text[:text.rindex(b"mac ")], text[text.rindex(b"mac ") + 4:-1].decode()
want = hmac.new(expand(master, b"jetcryptfs store descriptor v1", 32), body, hashlib.sha256).hexdigest()
print(kid, "MAC-OK" if hmac.compare_digest(want, mac) else "MAC-BAD")
EOF
}

# stretched_id PASSPHRASE SALT T M: the Argon2id derivation, where Python
# has an Argon2id of its own (cryptography >= 44); empty otherwise.
stretched_id() {
	python3 - "$@" 2>/dev/null <<'EOF' || true
import sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
pw, salt, t, m = sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = Argon2id(salt=salt, length=32, iterations=t, lanes=1, memory_cost=m).derive(pw)
master = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"jetcryptfs", info=b"jetcryptfs master key v2 argon2id").derive(s)
print(HKDFExpand(algorithm=hashes.SHA256(), length=8, info=b"jetcryptfs key id v1").derive(master).hex())
EOF
}

desc_field() {        # desc_field BACKING FIELD: a descriptor line's value
	awk -v f="$2" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "$1/.jetcryptfs"
}

# mount_out BACKING MNT [ARGS...]: a mount whose output is kept in
# $JC_OUTPUT (warnings included), registered for cleanup like jc_mount's.
mount_out() {
	local b=$1 m=$2 pidf rc=0
	shift 2
	mkdir -p "$b" "$m"
	JC_NMOUNT=$((JC_NMOUNT + 1))
	pidf=$JC_TMP/daemon.$JC_NMOUNT.pid
	JC_OUTPUT=$("$JCFS" mount --pid-file "$pidf" --log-file "$JC_LOG" "$@" "$b" "$m" 2>&1) || rc=$?
	jc_mount_check "$(realpath "$m")" "$pidf" "$rc" "mount $b: $JC_OUTPUT"
}

# --- a passphrase store ------------------------------------------------------------------
B=$JC_TMP/b M=$JC_TMP/m
mount_out "$B" "$M"
echo "made under a passphrase" >"$M/hello.txt"
head -c 20000 /dev/urandom >"$M/data.bin"
sum=$(sha256sum <"$M/data.bin")
jc_umount "$M"
head -n 1 "$B/.jetcryptfs" | grep -qx "jetcryptfs store 3" || fail "not a version 3 descriptor: $(cat "$B/.jetcryptfs")"
read -r alg t m salt < <(desc_field "$B" kdf)
[ "$alg $t $m" = "argon2id 3 262144" ] && [[ "$salt" =~ ^[0-9a-f]{32}$ ]] ||
	fail "kdf line: $(desc_field "$B" kdf)"
[ "$(cat "$B/.jetcryptfs.salt")" = "$(printf 'jetcryptfs salt 1\nkdf argon2id 3 262144 %s' "$salt")" ] ||
	fail "salt file: $(cat "$B/.jetcryptfs.salt")"
[ "$(stat -c %a "$B/.jetcryptfs.salt")" = 600 ] || fail "salt file mode $(stat -c %a "$B/.jetcryptfs.salt")"
id=$(desc_field "$B" key_id)
old=$(unstretched "$PASS")
[ "$id" != "$old" ] || fail "the key id is the unstretched HKDF id $old"
for f in "$B/hello.txt" "$B/data.bin"; do
	[ "$(head -c 16 "$f" | tail -c 8 | xxd -p)" = "$id" ] || fail "$f: header key id is not $id"
done
read -r _ mac < <(unstretched "$PASS" "$B/.jetcryptfs")
[ "$mac" = MAC-BAD ] || fail "the descriptor verifies under the unstretched store key"
want=$(stretched_id "$PASS" "$salt" "$t" "$m")
if [ -n "$want" ]; then
	[ "$want" = "$id" ] || fail "Argon2id (Python) gives key id $want, the store has $id"
	echo "Python's own Argon2id gives the store's key id $id"
else
	echo "(no Argon2id in this Python: the stretched id is not recomputed here; unit tests check the vectors)"
fi
ok "passphrase store: descriptor version 3 with the salt, salt file, key id $id is not the unstretched $old"

# The same passphrase mounts it again; another is a wrong key; a second
# store under the same passphrase has its own salt and key id.
mount_out "$B" "$M"
[ "$(cat "$M/hello.txt")" = "made under a passphrase" ] && [ "$(sha256sum <"$M/data.bin")" = "$sum" ] ||
	fail "content does not read back"
jc_umount "$M"
JS_KEY="Lighthouse keepers count 8 gulls at noon" expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "key does not match this store (store key id $id"
mount_out "$JC_TMP/b2" "$JC_TMP/m2"
jc_umount "$JC_TMP/m2"
[ "$(desc_field "$JC_TMP/b2" key_id)" != "$id" ] && [ "$(desc_field "$JC_TMP/b2" kdf)" != "$(desc_field "$B" kdf)" ] ||
	fail "two stores under one passphrase share a salt or key id"
ok "the passphrase mounts again, another is refused (4); a second store gets its own salt and key id"

# Offline tools derive the same way: cat finds the salt of the file's
# store, fsck and inspect read the store.
[ "$("$JCFS" cat "$B/hello.txt")" = "made under a passphrase" ] || fail "cat of a passphrase store's file"
expect_exit 0 "$JCFS" fsck "$B"
expect_output_contains "clean"
expect_exit 0 "$JCFS" inspect "$B"
expect_output_contains "$B/.jetcryptfs: store descriptor, key id $id, plaintext refused, passphrases stretched with Argon2id t=3 m=262144 KiB salt $salt"
expect_output_contains "$B/.jetcryptfs.salt: salt file, passphrases stretched with Argon2id t=3 m=262144 KiB salt $salt"
"$JCFS" inspect --json "$B" >"$JC_TMP/i.json"
python3 - "$JC_TMP/i.json" "$salt" <<'EOF' || fail "inspect --json: $(cat "$JC_TMP/i.json")"
import json, sys
j = {o["type"]: o for o in json.load(open(sys.argv[1])) if o["type"] in ("descriptor", "salt")}
want = {"alg": "argon2id", "t": 3, "m_kib": 262144, "salt": sys.argv[2]}
assert j["descriptor"]["kdf"] == want and j["salt"]["kdf"] == want, j
EOF
ok "cat, fsck and inspect (text and --json) on a passphrase store"

# --- guessable keys -------------------------------------------------------------------------
W=$JC_TMP/weak
mkdir -p "$W"
for k in "s3cr3t" "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1" "CorrectHorseBatteryStaple" "MyS3cr3tNatsKey2024!"; do
	JS_KEY=$k expect_exit 20 "$JCFS" mount --log-file "$JC_LOG" "$W" "$M"
	expect_output_contains "\$JS_KEY: the key looks guessable ("
	expect_output_contains "--allow-weak-key"
	[ "$(wc -l <<<"$JC_OUTPUT")" -eq 1 ] || fail "more than one line: $JC_OUTPUT"
	grep -qF -- "$k" <<<"$JC_OUTPUT" && fail "the refusal quotes the key: $JC_OUTPUT"
done
[ -z "$(ls -A "$W")" ] || fail "a refused weak key wrote $(ls -A "$W")"
! jc_is_mounted "$(realpath "$M")" || fail "a weak key mounted"
JS_KEY=s3cr3t expect_exit 20 "$JCFS" fsck "$B"
JS_KEY=s3cr3t expect_exit 20 "$JCFS" rekey "$B"
JS_KEY=s3cr3t expect_exit 20 "$JCFS" cat "$B/hello.txt"
ok "a guessable key is refused with 20 (mount, fsck, rekey, cat), one line, nothing written"

JS_KEY=s3cr3t mount_out "$W" "$M" --allow-weak-key
expect_output_contains "the key looks guessable (it is shorter than 16 characters); used, as --allow-weak-key or allow_weak_key says"
echo weak >"$M/w"
jc_umount "$M"
JS_KEY=s3cr3t mount_out "$W" "$M" -o allow_weak_key
jc_umount "$M"
printf 'jetstream {\n  key: "s3cr3t"\n  allow_weak_key: true\n}\n' >"$JC_TMP/weak.conf"
chmod 600 "$JC_TMP/weak.conf"
env -u JS_KEY "$JCFS" mount --log-file "$JC_LOG" -c "$JC_TMP/weak.conf" --pid-file "$JC_TMP/w.pid" "$W" "$M"
jc_mount_check "$(realpath "$M")" "$JC_TMP/w.pid" 0 "mount with allow_weak_key: true"
[ "$(cat "$M/w")" = weak ] || fail "the weak store does not read back"
jc_umount "$M"
JS_KEY=s3cr3t expect_exit 0 "$JCFS" fsck --allow-weak-key "$W"
printf 'jetstream {\n  key: "s3cr3t"\n  allow_weak_key: maybe\n}\n' >"$JC_TMP/bad.conf"
expect_exit 2 env -u JS_KEY "$JCFS" mount --log-file "$JC_LOG" -c "$JC_TMP/bad.conf" "$W" "$M"
ok "accepted with --allow-weak-key, -o allow_weak_key, allow_weak_key: true (and fsck --allow-weak-key)"

# A guessable prev_key only reads what is under it: warned of, not refused.
printf 'jetstream {\n  key: "%s"\n  prev_key: "s3cr3t"\n}\n' "$PASS" >"$JC_TMP/rot.conf"
chmod 600 "$JC_TMP/rot.conf"
mount_out "$W" "$M" -c "$JC_TMP/rot.conf"
expect_output_contains "prev_key: the previous key looks guessable (it is shorter than 16 characters)"
[ "$(cat "$M/w")" = weak ] || fail "a file under the weak prev_key does not read"
jc_umount "$M"
expect_exit 0 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rot.conf" "$W"
[ -z "$(desc_field "$W" retired)" ] || fail "rekey left a retired key: $(cat "$W/.jetcryptfs")"
mount_out "$W" "$M"
jc_umount "$M"
ok "a guessable prev_key is warned of; rotation with the same store salt, then rekey, leaves the passphrase alone"

# --- a store made before passphrases were stretched -----------------------------------------
L=$JC_TMP/legacy
cp -a "$SRCDIR/tests/integration/data/legacy-passphrase" "$L"
LPASS="legacy fixture: amber walrus 42 juggles kites"
lid=$(unstretched "$LPASS")
[ "$(desc_field "$L" key_id)" = "$lid" ] || fail "fixture key id $(desc_field "$L" key_id), unstretched id $lid"
read -r _ mac < <(unstretched "$LPASS" "$L/.jetcryptfs")
[ "$mac" = MAC-OK ] || fail "the fixture's descriptor does not verify under the unstretched store key"
cp "$L/.jetcryptfs" "$JC_TMP/legacy.desc"
JS_KEY=$LPASS mount_out "$L" "$M"
[ "$(grep -c 'warning' <<<"$JC_OUTPUT")" -eq 1 ] || fail "expected one warning line: $JC_OUTPUT"
expect_output_contains "$L: key id $lid is a passphrase used without stretching (the store predates it): a guess at it costs one hash; run jetcryptfs rekey to move the store to the Argon2id derivation"
[ "$(sha256sum <"$M/hello.txt" | cut -c1-64)" = 0e9ca6e0d60265bc2343c43ffd6aab4e014881344d14e112fc21d7377a3ceac2 ] &&
	[ "$(sha256sum <"$M/dir/data.bin" | cut -c1-64)" = ee210c4f460bea8d53dc48e08dcecdcca8b49c25887bd589816c5b2a870f4d25 ] ||
	fail "the fixture does not read back"
echo "written after" >"$M/after.txt"
jc_umount "$M"
cmp -s "$L/.jetcryptfs" "$JC_TMP/legacy.desc" || fail "a mount of the old store changed its descriptor"
[ ! -e "$L/.jetcryptfs.salt" ] || fail "a mount of the old store wrote a salt file"
JS_KEY=$LPASS expect_exit 0 "$JCFS" fsck "$L"
expect_output_contains "run jetcryptfs rekey"
[ "$(JS_KEY=$LPASS "$JCFS" cat "$L/hello.txt" 2>/dev/null | sha256sum | cut -c1-64)" = 0e9ca6e0d60265bc2343c43ffd6aab4e014881344d14e112fc21d7377a3ceac2 ] ||
	fail "cat of the old store's file"
ok "the old store mounts, reads and is written with one warning line; its descriptor stays as it was"

JS_KEY=$LPASS expect_exit 0 "$JCFS" rekey "$L"
expect_output_contains "the passphrase is stretched with Argon2id now: no file is left under its unstretched key id $lid"
nid=$(desc_field "$L" key_id)
[ "$nid" != "$lid" ] && head -n 1 "$L/.jetcryptfs" | grep -qx "jetcryptfs store 3" || fail "after rekey: $(cat "$L/.jetcryptfs")"
[ -z "$(desc_field "$L" retired)" ] || fail "rekey left the old key id retired: $(cat "$L/.jetcryptfs")"
[ "$(tail -n 1 "$L/.jetcryptfs.salt")" = "kdf $(desc_field "$L" kdf)" ] || fail "salt file after rekey"
ids=$(find "$L" -type f ! -name '.jetcryptfs*' -size +0 -exec sh -c 'head -c 16 "$1" | tail -c 8 | xxd -p' _ {} \; | sort -u)
[ "$ids" = "$nid" ] || fail "after rekey the headers carry key ids: $ids"
read -r _ mac < <(unstretched "$LPASS" "$L/.jetcryptfs")
[ "$mac" = MAC-BAD ] || fail "after rekey the descriptor still verifies under the unstretched store key"
JS_KEY=$LPASS mount_out "$L" "$M"
grep -q warning <<<"$JC_OUTPUT" && fail "a warning after rekey: $JC_OUTPUT"
[ "$(cat "$M/after.txt")" = "written after" ] &&
	[ "$(sha256sum <"$M/dir/data.bin" | cut -c1-64)" = ee210c4f460bea8d53dc48e08dcecdcca8b49c25887bd589816c5b2a870f4d25 ] ||
	fail "the store does not read back after rekey"
jc_umount "$M"
ok "rekey moved the old store to Argon2id (key id $nid): no header or descriptor answers to the unstretched key $lid any more"

# The old descriptor put back (a rollback) does not bring the unstretched
# key back as the current one: the salt file stands in, the store moves
# on to the stretched key again, and every file reads.
cp "$JC_TMP/legacy.desc" "$L/.jetcryptfs"
JS_KEY=$LPASS mount_out "$L" "$M"
expect_output_contains "store key changed from $lid to $nid"
[ "$(cat "$M/after.txt")" = "written after" ] || fail "the store does not read with its old descriptor put back"
echo new >"$M/new.txt"
jc_umount "$M"
[ "$(head -c 16 "$L/new.txt" | tail -c 8 | xxd -p)" = "$nid" ] || fail "a new file is not under the stretched key"
[ "$(desc_field "$L" key_id)" = "$nid" ] || fail "the descriptor did not move on to $nid"
ok "an old descriptor put back: the stretched key stays current, files written under it"

# --- losing the descriptor, the salt file, both ---------------------------------------------
cp "$B/.jetcryptfs.salt" "$JC_TMP/salt.copy"
rm "$B/.jetcryptfs"
mount_out "$B" "$M"
expect_output_contains "store descriptor was missing; re-created from the key ids of 2 encrypted files"
[ "$(sha256sum <"$M/data.bin")" = "$sum" ] || fail "content after the descriptor was lost"
jc_umount "$M"
[ "$(desc_field "$B" key_id)" = "$id" ] && [ "$(desc_field "$B" kdf)" = "argon2id 3 262144 $salt" ] ||
	fail "re-created descriptor: $(cat "$B/.jetcryptfs")"
rm "$B/.jetcryptfs.salt"
expect_exit 0 "$JCFS" fsck "$B"
expect_output_contains "note: no salt file (.jetcryptfs.salt); the next mount re-creates it from the store descriptor"
mount_out "$B" "$M"
expect_output_contains "$B/.jetcryptfs.salt: missing; re-creating it from the store descriptor"
jc_umount "$M"
cmp -s "$B/.jetcryptfs.salt" "$JC_TMP/salt.copy" || fail "re-created salt file: $(cat "$B/.jetcryptfs.salt")"
ok "a lost descriptor is re-created from the headers and the salt file, a lost salt file from the descriptor"

rm "$B/.jetcryptfs" "$B/.jetcryptfs.salt"
jc_snapshot "$B" >"$JC_TMP/before"
expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "$B: no given key matches the files ("
expect_output_contains "and the store has neither .jetcryptfs nor .jetcryptfs.salt: the key is wrong, or the store's passphrase salt was lost with both: put .jetcryptfs.salt back from your copy"
expect_exit 4 "$JCFS" fsck "$B"
jc_snapshot "$B" >"$JC_TMP/after"
cmp -s "$JC_TMP/before" "$JC_TMP/after" || fail "a refused mount changed the backing dir"
cp "$JC_TMP/salt.copy" "$B/.jetcryptfs.salt"
mount_out "$B" "$M"
[ "$(sha256sum <"$M/data.bin")" = "$sum" ] || fail "content after the salt file was put back"
jc_umount "$M"
[ "$(desc_field "$B" key_id)" = "$id" ] || fail "descriptor after the salt file was put back"
ok "both lost: refused (4) with what to restore, nothing written; the salt file put back restores the store"

# A first mount that fails before it serves leaves a fresh directory as
# it was: no descriptor, no salt file.
F=$JC_TMP/fresh
mkdir -p "$F"
expect_exit 1 "$JCFS" mount --pid-file "$JC_TMP/no/such/dir/pid" --log-file "$JC_LOG" "$F" "$M"
[ -z "$(ls -A "$F")" ] || fail "a failed first mount left $(ls -A "$F")"
ok "a failed first mount of a passphrase store leaves no descriptor and no salt file"
assert_no_plaintext "$B" "made under a passphrase" "$PASS"
assert_no_plaintext "$L" "written after" "$LPASS"
