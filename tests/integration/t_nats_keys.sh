#!/usr/bin/env bash
# Keys for a JetStream store (issue 3, items 5 and 6). A store written under
# one key, from a NATS-syntax config file: mounting it with another key is
# refused with exit 4 naming both key ids, without a key with exit 3, and in
# both cases nothing is mounted, nothing is written, and the
# "mount && nats-server" chain an operator (or a unit) runs never starts
# nats-server. Rotation: a config with `key: NEW` and `prev_key: OLD` reads
# every old message and writes new files under the new key id (header bytes
# 8..15); after that, the old key alone is refused, and so is the new key
# alone (exit 4, the old key id is recorded as retired) until
# `jetcryptfs rekey` has re-encrypted the old files; then the new key alone
# mounts and every message reads back. The first key is a passphrase, as a
# `key:` string moved over from a nats.conf often is: stretched with the
# store's salt, also as prev_key. The NATS documentation's example key is
# refused as guessable (exit 20; nats-server never starts) unless the block
# says allow_weak_key: true.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

B=$JC_TMP/backing
M=$JC_TMP/mnt
SEED=k$$
N=2000
S=$B/jetstream/\$G/streams
K1="JetStream orders on node-b, 2019 winter migration by Ana"
K2=$(jc_genkey)
unset JS_KEY

# conf NAME KEY [PREV_KEY [EXTRA]]: a nats.conf-style file whose jetstream
# block carries the jetcryptfs settings next to the nats-server ones.
conf() {
	{
		echo "# nats-server settings are ignored by jetcryptfs"
		echo "port: 4222"
		echo "jetstream {"
		echo "  store_dir: \"$M\""
		echo "  backing_dir: \"$B\""
		echo "  key: \"$2\""
		[ -z "${3:-}" ] || echo "  prev_key: \"$3\""
		[ -z "${4:-}" ] || echo "  $4"
		echo "}"
	} >"$JC_TMP/$1.conf"
	chmod 600 "$JC_TMP/$1.conf"
	echo "$JC_TMP/$1.conf"
}

# key_id_of FILE: the header's key id (bytes 8..15), hex.
key_id_of() {
	head -c 16 "$1" | tail -c 8 | xxd -p
}

# last_key_id: the key id the last mount logged.
last_key_id() {
	grep -o 'key id [0-9a-f]\{16\}' "$JC_LOG" | tail -n 1 | cut -d' ' -f3
}

# --- a store under K1 ---------------------------------------------------------------
C1=$(conf k1 "$K1")
jc_mount "$B" "$M" -c "$C1"
ID1=$(last_key_id)
jn_server n1 "$M"
JN_SERVER=n1
jn_start n1
jsc stream-add --stream ORDERS --subjects 'jcorders.>'
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc publish --stream ORDERS --subject jcorders.new --count $N --size 300 --seed "$SEED" --headers
jsc consume --stream ORDERS --name JCPULLDUR --count 700 --seed "$SEED" --headers --expect-first-seq 1
jn_stop n1
jc_umount "$M"
[ "$(key_id_of "$S/ORDERS/msgs/1.blk")" = "$ID1" ] || fail "1.blk key id $(key_id_of "$S/ORDERS/msgs/1.blk"), mount logged $ID1"
grep -q '^kdf argon2id ' "$B/.jetcryptfs" && [ -f "$B/.jetcryptfs.salt" ] ||
	fail "the passphrase store has no salt: $(cat "$B/.jetcryptfs")"
ok "store written under key id $ID1 (a passphrase, stretched with the store's salt)"

# --- wrong key, no key: refused; nats-server never starts -------------------------------
jc_snapshot "$B" >"$JC_TMP/before"
C2=$(conf k2 "$K2")
# The chain a unit or an operator runs: nats-server only if the mount worked.
rc=0
"$JCFS" mount --log-file "$JC_LOG" -c "$C2" >"$JC_TMP/out" 2>&1 &&
	timeout 10 nats-server -c /dev/null -js -sd "$M" -p "$(jn_free_port)" -l "$JC_TMP/nats-wrong.log" || rc=$?
[ "$rc" -eq 4 ] || fail "mount with the wrong key: exit $rc, expected 4: $(cat "$JC_TMP/out")"
[ ! -e "$JC_TMP/nats-wrong.log" ] || fail "nats-server was started although the mount was refused"
grep -qF "key does not match" "$JC_TMP/out" || fail "wrong-key message unclear: $(cat "$JC_TMP/out")"
grep -qF "$ID1" "$JC_TMP/out" || fail "wrong-key message does not name the store's key id $ID1: $(cat "$JC_TMP/out")"
echo "refused: $(cat "$JC_TMP/out")"

# The NATS documentation's example key: guessable, refused before
# anything else; the chain does not start nats-server either.
CW=$(conf weak "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1")
rc=0
"$JCFS" mount --log-file "$JC_LOG" -c "$CW" >"$JC_TMP/out" 2>&1 &&
	timeout 10 nats-server -c /dev/null -js -sd "$M" -p "$(jn_free_port)" -l "$JC_TMP/nats-weak.log" || rc=$?
[ "$rc" -eq 20 ] || fail "mount with the NATS example key: exit $rc, expected 20: $(cat "$JC_TMP/out")"
[ ! -e "$JC_TMP/nats-weak.log" ] || fail "nats-server was started although the mount was refused"
grep -qF "$CW: key: the key looks guessable (it is the example key of the NATS documentation)" "$JC_TMP/out" ||
	fail "weak-key message: $(cat "$JC_TMP/out")"

JS_KEY=$K2 expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "$ID1"
expect_exit 3 env -u JS_KEY "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
echo "refused: $JC_OUTPUT"
jc_is_mounted "$(realpath "$M")" && fail "a refused mount left $M mounted"
[ -z "$(ls -A "$M")" ] || fail "the mount point of a refused mount is not empty: $(ls -A "$M")"
jc_snapshot "$B" >"$JC_TMP/after"
cmp -s "$JC_TMP/before" "$JC_TMP/after" || fail "a refused mount changed the backing dir: $(diff "$JC_TMP/before" "$JC_TMP/after" | head -5)"
ok "wrong key (config and env) refused with 4, the NATS example key with 20, no key with 3; nothing mounted or written, nats-server not started"

# allow_weak_key: true in the jetstream block takes it, on a store of its own.
CWA=$(conf weakok "6dYfBV0zzEkR3vxZCNjxmnVh/aIqgid1" "" "allow_weak_key: true")
sed -i "s|backing_dir: \"$B\"|backing_dir: \"$JC_TMP/weak\"|" "$CWA"
mkdir -p "$JC_TMP/weak"
expect_exit 0 "$JCFS" mount --log-file "$JC_LOG" -c "$CWA" --pid-file "$JC_TMP/weak.pid"
jc_mount_check "$(realpath "$M")" "$JC_TMP/weak.pid" 0 "mount with allow_weak_key: true"
expect_output_contains "the key looks guessable (it is the example key of the NATS documentation); used, as --allow-weak-key or allow_weak_key says"
jc_umount "$M"
ok "allow_weak_key: true in the jetstream block mounts it, with a warning"

# --- rotation: key K2, prev_key K1 ------------------------------------------------------
CR=$(conf rot "$K2" "$K1")
jc_mount "$B" "$M" -c "$CR"
ID2=$(last_key_id)
[ "$ID2" != "$ID1" ] || fail "the new key has the old key id $ID1"
grep -qF "store key changed from $ID1 to $ID2" "$JC_LOG" || fail "the rotation was not logged: $(tail -n 3 "$JC_LOG")"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $N --headers --mode get
jsc consume --stream ORDERS --name JCPULLDUR --count 300 --seed "$SEED" --headers --expect-first-seq 701
jsc publish --stream ORDERS --subject jcorders.new --count 1000 --start $((N + 1)) --size 300 --seed "$SEED" --headers
jsc stream-add --stream ROTATED --subjects 'jcrotated.>'
jsc publish --stream ROTATED --subject jcrotated.x --count 1000 --size 300 --seed "$SEED"
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 1000 --save "$JC_TMP/pull.json"
jn_stop n1
jc_umount "$M"
[ "$(key_id_of "$S/ORDERS/msgs/1.blk")" = "$ID1" ] || fail "ORDERS/msgs/1.blk (old, appended to) changed key id"
for f in "$S"/ROTATED/msgs/*.blk "$S"/ROTATED/meta.inf; do
	[ "$(key_id_of "$f")" = "$ID2" ] || fail "${f#"$B"/} of the new stream has key id $(key_id_of "$f"), not $ID2"
done
census=$(jn_header_census "$B")
echo "census (cipher keyid count):"
echo "$census"
[ "$(awk '{ print $2 }' <<<"$census" | sort -u | tr '\n' ' ')" = "$(printf '%s\n' "$ID1" "$ID2" | sort | tr '\n' ' ')" ] ||
	fail "expected files under exactly the two key ids $ID1 and $ID2: $census"

jc_mount "$B" "$M" -c "$CR"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $((N + 1000)) --headers --mode consumer
jsc verify --stream ROTATED --seed "$SEED" --count 1000 --mode get
jsc consumer-info --stream ORDERS --name JCPULLDUR --compare "$JC_TMP/pull.json"
jn_stop n1
jn_check_log n1
jc_umount "$M"
ok "rotation: old files readable through prev_key, new files under key id $ID2, all intact after a remount"

# --- after the rotation -------------------------------------------------------------------
C1=$(conf k1 "$K1")
expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" -c "$C1"
expect_output_contains "$ID2"
ok "the old key alone is refused now: $JC_OUTPUT"
C2=$(conf k2 "$K2")
jc_snapshot "$B" >"$JC_TMP/before"
expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" -c "$C2"
expect_output_contains "$B: files under key id $ID1 remain (rotated out, not yet rekeyed): add it as prev_key, or run jetcryptfs rekey with it"
jc_is_mounted "$M" && fail "the new key alone mounted a store with files under the retired key"
jc_snapshot "$B" >"$JC_TMP/after"
cmp -s "$JC_TMP/before" "$JC_TMP/after" || fail "a refused mount changed the backing dir"
ok "before rekey, the new key alone is refused (4: files under key id $ID1 remain), nothing written"
expect_exit 0 "$JCFS" rekey -c "$CR"
[ "$(key_id_of "$S/ORDERS/msgs/1.blk")" = "$ID2" ] || fail "rekey left ORDERS/msgs/1.blk under key id $ID1"
jc_mount "$B" "$M" -c "$C2"
find "$M" -type f -exec cat {} + >/dev/null || fail "a file does not read with the new key alone after rekey"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $((N + 1000)) --headers --mode get
jsc verify --stream ROTATED --seed "$SEED" --count 1000 --mode get
jn_stop n1
jn_check_log n1
jc_umount "$M"
assert_no_plaintext "$B" "${JN_SECRET_STRINGS[@]}" "JCMSG:$SEED:" "$K1" "$K2" ORDERS ROTATED JCPULLDUR jcorders jcrotated
ok "after rekey the new key alone mounts and every message reads back; no plaintext, no key in the backing dir"
