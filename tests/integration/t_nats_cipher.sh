#!/usr/bin/env bash
# Changing the cipher under a live JetStream store (issue 3, item 4): a store
# written with chachapoly is remounted with --cipher aes and the same key;
# nats-server appends to the old stream and creates a new one; after a
# restart and a remount (with chachapoly again) every message of both
# phases reads back. In the backing dir, every file that existed before the
# change (same inode) still has cipher id 1 in its header, appends included,
# and every file created after it has cipher id 2.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

B=$JC_TMP/backing
M=$JC_TMP/mnt
SEED=c$$
N=2000
S=$B/jetstream/\$G/streams

# cipher_of FILE: the header's cipher id (byte 5), as a decimal number.
cipher_of() {
	printf '%d' "0x$(head -c 6 "$1" | tail -c 1 | xxd -p)"
}

# --- phase 1: chachapoly -------------------------------------------------------------
jc_mount "$B" "$M" --cipher chachapoly
jn_server n1 "$M"
JN_SERVER=n1
jn_start n1
jsc stream-add --stream ORDERS --subjects 'jcorders.>'
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc publish --stream ORDERS --subject jcorders.new --count $N --size 300 --seed "$SEED" --headers
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1
jsc kv-put --bucket JCKVB --keys 100 --seed "$SEED" --round 1
jn_stop n1
jc_umount "$M"
census=$(jn_header_census "$B")
[ "$(awk '{ print $1 }' <<<"$census" | sort -u)" = 1 ] || fail "phase 1 files are not all chachapoly: $census"
(cd "$B" && find . -type f ! -path ./.jetcryptfs -size +31c -printf '%i %p\n' | sort) >"$JC_TMP/old.files"
ok "phase 1: $(wc -l <"$JC_TMP/old.files") files, all cipher id 1"

# --- phase 2: aes, same key ------------------------------------------------------------
jc_mount "$B" "$M" --cipher aes
grep -q "cipher aes for new files" "$JC_LOG" || fail "the mount did not log the aes cipher: $(tail -n 2 "$JC_LOG")"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $N --headers --mode get
jsc publish --stream ORDERS --subject jcorders.new --count $N --start $((N + 1)) --size 300 --seed "$SEED" --headers
jsc stream-add --stream AESNEW --subjects 'jcaesnew.>'
jsc publish --stream AESNEW --subject jcaesnew.x --count 1000 --size 300 --seed "$SEED"
jsc consume --stream ORDERS --name JCPULLDUR --count 2000 --seed "$SEED" --headers --expect-first-seq 501
jsc kv-put --bucket JCKVB --keys 100 --seed "$SEED" --round 2
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 2500 --save "$JC_TMP/pull.json"
jn_stop n1
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $((2 * N)) --headers --mode consumer
jsc verify --stream AESNEW --seed "$SEED" --count 1000 --mode get
jn_stop n1
jc_umount "$M"
ok "phase 2 (aes): old messages read, new ones written, all read after a restart"

# Old inodes keep cipher 1, new ones have cipher 2.
old1=0 new2=0
while read -r ino f; do
	p=$B/${f#./}
	c=$(cipher_of "$p")
	if grep -q "^$ino $f\$" "$JC_TMP/old.files"; then
		[ "$c" = 1 ] || fail "old file $f (inode $ino) now has cipher id $c"
		old1=$((old1 + 1))
	else
		[ "$c" = 2 ] || fail "file $f, created after the switch to aes, has cipher id $c"
		new2=$((new2 + 1))
	fi
done < <(cd "$B" && find . -type f ! -path ./.jetcryptfs -size +31c -printf '%i %p\n')
[ "$(cipher_of "$S/ORDERS/msgs/1.blk")" = 1 ] || fail "ORDERS/msgs/1.blk changed cipher"
grep -q " ./jetstream/\$G/streams/ORDERS/msgs/1.blk\$" "$JC_TMP/old.files" ||
	fail "ORDERS/msgs/1.blk was replaced instead of appended to"
for f in "$S"/AESNEW/msgs/*.blk "$S"/AESNEW/meta.inf; do
	[ "$(cipher_of "$f")" = 2 ] || fail "${f#"$B"/} of the new stream has cipher id $(cipher_of "$f")"
done
[ "$old1" -gt 0 ] && [ "$new2" -gt 0 ] || fail "expected files of both ciphers, found $old1 and $new2"
ok "headers: $old1 old files with cipher 1 (appended ones included), $new2 new files with cipher 2"
echo "census (cipher keyid count):"
jn_header_census "$B"

# --- phase 3: remount with the default cipher, everything still reads ---------------------
jc_mount "$B" "$M"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $((2 * N)) --headers --mode get
jsc verify --stream AESNEW --seed "$SEED" --count 1000 --mode consumer
jsc consumer-info --stream ORDERS --name JCPULLDUR --compare "$JC_TMP/pull.json"
jsc kv-verify --bucket JCKVB --keys 100 --seed "$SEED" --round 2 --history-len 2
jn_stop n1
jn_check_log n1
jc_umount "$M"
jn_assert_headers "$B"
assert_no_plaintext "$B" "${JN_SECRET_STRINGS[@]}" "JCMSG:$SEED:" ORDERS AESNEW JCPULLDUR JCKVB jcorders jcaesnew jckey
ok "both ciphers read back after remounting with chachapoly; no plaintext"
