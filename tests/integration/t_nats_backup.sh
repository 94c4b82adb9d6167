#!/usr/bin/env bash
# The backup/restore route of docs/NATS.md for a single server: nats-server
# with its own encryption (chachapoly) on a plain store holds a stream and a
# durable consumer; the stream is backed up through JetStream's snapshot API
# (as `nats stream backup` does; the CLI is not in Debian 12, jsclient speaks
# the API) into a directory on a jetcryptfs mount of its own; the server is
# switched to an empty jetcryptfs store without cipher/key and the stream is
# restored from that backup. Every message and the consumer's ack floor come
# back, also after a restart of nats-server and a remount, and neither
# backing directory holds the payloads in the clear, while the mounted view
# of the backup does (so the check tests something).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

SEED=k$$
N=4000
NATS_KEY=$(jc_genkey)
BK=$JC_TMP/bk-b BKM=$JC_TMP/bk-m      # the backup's jetcryptfs store and mount
BKEY=$(jc_genkey)

# --- the server as an operator has it: NATS's own encryption on a plain disk -----
jn_server n1 "$JC_TMP/plain"
JN_EXTRA[n1]="cipher: chachapoly
  key: \"$NATS_KEY\""
JN_SERVER=n1
jn_start n1
jsc stream-add --stream ORDERS --subjects 'jcorders.>'
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc publish --stream ORDERS --subject jcorders.new --count $N --size 500 --seed "$SEED" --headers --msgid
jsc consume --stream ORDERS --name JCPULLDUR --count 1000 --seed "$SEED" --headers --expect-first-seq 1
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 1000
assert_no_plaintext "$JC_TMP/plain" "JCMSG:$SEED:"
ok "nats-server with its own encryption: $N messages, consumer at 1000"

# --- backup into a jetcryptfs mount ---------------------------------------------
JS_KEY=$BKEY jc_mount "$BK" "$BKM"
jsc backup --stream ORDERS --dir "$BKM/orders" --consumers >"$JC_TMP/backup.json"
grep -q "\"messages\":$N," "$JC_TMP/backup.json" || fail "backup: $(cat "$JC_TMP/backup.json")"
[ -s "$BKM/orders/stream.tar.s2" ] && [ -s "$BKM/orders/backup.json" ] || fail "backup files missing"
jn_stop n1
ok "backup through the snapshot API: $(cat "$JC_TMP/backup.json")"

# --- the server moves to an empty jetcryptfs store --------------------------------
jc_mount "$JC_TMP/b-n1" "$JC_TMP/m-n1"
JN_STORE[n1]=$JC_TMP/m-n1
JN_EXTRA[n1]=""
jn_start n1
jsc restore --stream ORDERS --dir "$BKM/orders" >"$JC_TMP/restore.json"
grep -q "\"messages\":$N,\"first_seq\":1,\"last_seq\":$N" "$JC_TMP/restore.json" ||
	fail "restore: $(cat "$JC_TMP/restore.json")"
jsc verify --stream ORDERS --seed "$SEED" --count $N --headers --mode get
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 1000
ok "restored onto jetcryptfs: every message verifies, the consumer's ack floor is 1000"

# --- survives a restart and a remount of both stores ---------------------------
jn_stop n1
jc_umount "$JC_TMP/m-n1"
jc_umount "$BKM"
jc_mount "$JC_TMP/b-n1" "$JC_TMP/m-n1"
jn_start n1
jsc verify --stream ORDERS --seed "$SEED" --count $N --headers --mode get
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1001
jn_stop n1
jn_check_log n1
jc_umount "$JC_TMP/m-n1"
ok "after a restart and a remount: all messages, the consumer resumes at 1001"

# --- nothing in the clear on disk --------------------------------------------------
jn_assert_headers "$JC_TMP/b-n1"
assert_no_plaintext "$JC_TMP/b-n1" "${JN_SECRET_STRINGS[@]}" "JCMSG:$SEED:" ORDERS JCPULLDUR jcorders
jn_assert_headers "$BK"
assert_no_plaintext "$BK" "JCMSG:$SEED:" '"JCPULLDUR"' '"jcorders.>"'
JS_KEY=$BKEY jc_mount "$BK" "$BKM"
grep -qF '"jcorders.>"' "$BKM/orders/backup.json" || fail "the backup's metadata does not name the stream's subjects"
grep -qaF "JCMSG:$SEED:" "$BKM/orders/stream.tar.s2" || fail "the backup holds no payload in the clear to look for"
jc_umount "$BKM"
ok "no payload, name or stream config in the clear in either backing directory"
