#!/usr/bin/env bash
# Enabling jetcryptfs on an existing JetStream store (issue 3, item 3):
# nats-server writes a store to a plain directory and stops; mounting
# jetcryptfs over that directory is refused (exit 5) until --adopt is given,
# and the refused mount writes nothing; the adopting mount logs how many
# plaintext files it found; nats-server on the mount reads every old message
# and resumes the old consumer; old files nobody rewrote stay byte for byte
# as they were, and everything written since (new blocks, new streams,
# rewritten metadata) is encrypted. Then `jetcryptfs encrypt` converts the
# rest: no plaintext is left, a plain mount reads everything, and a
# plaintext file dropped into the backing directory afterwards reads as EIO
# (also when mounted with --adopt again).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

B=$JC_TMP/store          # first nats-server's plain store_dir, then the backing dir
M=$JC_TMP/mnt
SEED=a$$
SEED2=b$$
N=3000

# --- a plaintext store, as an operator has it today ---------------------------------
jn_server n1 "$B"
JN_SERVER=n1
jn_start n1
jsc stream-add --stream ORDERS --subjects 'jcorders.>'
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc publish --stream ORDERS --subject jcorders.new --count $N --size 200 --seed "$SEED" --headers
jsc consume --stream ORDERS --name JCPULLDUR --count 1000 --seed "$SEED" --headers --expect-first-seq 1
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 1000 --save "$JC_TMP/pull.json"
# max_bytes 120000 gives 32 kB blocks: 300 messages of 300 bytes fill
# three full blocks that nats-server later only reads.
jsc stream-add --stream ROLL --subjects 'jcroll.>' --max-bytes 120000
jsc publish --stream ROLL --subject jcroll.x --count 300 --size 300 --seed "$SEED"
jn_stop n1
[ -s "$B/jetstream/\$G/streams/ROLL/msgs/1.blk" ] || fail "no ROLL/msgs/1.blk in the plain store"
grep -qaF "JCMSG:$SEED:1:" "$B/jetstream/\$G/streams/ORDERS/msgs/1.blk" ||
	fail "the plain store does not hold plaintext messages; the test is not testing adoption"
nplain=$(find "$B" -type f -size +0 | wc -l)
(cd "$B" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$JC_TMP/old.sums"
jc_snapshot "$B" >"$JC_TMP/before"
ok "plain store: $nplain non-empty files, $N + 300 messages"

# --- without --adopt: refused, nothing written ------------------------------------
mkdir -p "$M"
expect_exit 5 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "--adopt"
expect_output_contains "$nplain plaintext files"
jc_is_mounted "$(realpath "$M")" && fail "a refused mount left $M mounted"
jc_snapshot "$B" >"$JC_TMP/after"
cmp -s "$JC_TMP/before" "$JC_TMP/after" || fail "the refused mount changed the backing dir: $(diff "$JC_TMP/before" "$JC_TMP/after" | head -5)"
[ ! -e "$B/.jetcryptfs" ] || fail "the refused mount wrote a store descriptor"
ok "mount over plaintext without --adopt refused (exit 5), nothing written"

# --- with --adopt --------------------------------------------------------------------
jc_mount "$B" "$M" --adopt
grep -qF "adopted $nplain plaintext files" "$JC_LOG" ||
	fail "the daemon did not log 'adopted $nplain plaintext files': $(tail -n 5 "$JC_LOG")"
[ -s "$B/.jetcryptfs" ] || fail "adopting mount wrote no store descriptor"
jn_server n2 "$M"
JN_SERVER=n2
jn_start n2
jsc verify --stream ORDERS --seed "$SEED" --count $N --headers --subject jcorders.new --mode get
jsc verify --stream ROLL --seed "$SEED" --count 300 --mode consumer
jsc consumer-info --stream ORDERS --name JCPULLDUR --compare "$JC_TMP/pull.json"
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1001
ok "nats-server on the adopted mount reads all old messages and resumes the consumer"

# New data: appended to the old streams and a new stream.
jsc publish --stream ORDERS --subject jcorders.new --count 500 --start $((N + 1)) --size 200 --seed "$SEED" --headers
jsc publish --stream ROLL --subject jcroll.x --count 10 --start 301 --size 300 --seed "$SEED"
jsc stream-add --stream FRESH --subjects 'jcfresh.>'
jsc consumer-add --stream FRESH --name JCFRESHDUR --type pull
jsc publish --stream FRESH --subject jcfresh.x --count 1000 --size 200 --seed "$SEED2" --headers
jsc consume --stream FRESH --name JCFRESHDUR --count 100 --seed "$SEED2" --headers --expect-first-seq 1
jn_stop n2
jn_start n2
jsc verify --stream ORDERS --seed "$SEED" --count $((N + 500)) --headers --mode consumer
jsc verify --stream ROLL --seed "$SEED" --count 310 --mode get
jsc verify --stream FRESH --seed "$SEED2" --count 1000 --headers --mode get
jn_stop n2
jn_check_log n2
ok "old and new messages intact after a nats-server restart"

# Old files: each one either untouched or converted whole; full blocks
# nobody wrote to are untouched.
same=0 conv=0
while read -r sum f; do
	p=$B/${f#./}
	if [ ! -e "$p" ]; then
		continue        # removed by nats-server (e.g. an index it rebuilt)
	elif [ "$(sha256sum <"$p" | cut -d' ' -f1)" = "$sum" ]; then
		same=$((same + 1))
	elif jn_is_encrypted "$p"; then
		conv=$((conv + 1))
	else
		fail "old file $f changed but is still plaintext"
	fi
done <"$JC_TMP/old.sums"
for f in 'ROLL/msgs/1.blk' 'ROLL/msgs/2.blk'; do
	grep -qF " ./jetstream/\$G/streams/$f" "$JC_TMP/old.sums" || fail "no $f in the plain store"
	! jn_is_encrypted "$B/jetstream/\$G/streams/$f" || fail "$f was rewritten although nothing wrote to it"
done
[ "$same" -ge 2 ] || fail "only $same old files left as they were"
jn_is_encrypted "$B/jetstream/\$G/streams/ORDERS/msgs/1.blk" ||
	fail "ORDERS/msgs/1.blk was appended to but is not encrypted"
ok "old files: $same byte-identical, $conv encrypted when first written"

# New files: encrypted, and no new payload anywhere in the clear.
jn_assert_headers "$B/jetstream/\$G/streams/FRESH"
new=$( (cd "$B" && find . -type f ! -path ./.jetcryptfs -size +0 | sort) |
	comm -13 <(awk '{ print $2 }' "$JC_TMP/old.sums" | sort) -)
[ -n "$new" ] || fail "no new files in the backing dir"
while read -r f; do
	jn_is_encrypted "$B/$f" || fail "new file $f is not encrypted"
done <<<"$new"
assert_no_plaintext "$B" "JCMSG:$SEED2:" "JCMSG:$SEED:$((N + 1)):" "JCMSG:$SEED:$((N + 500)):" \
	"JCMSG:$SEED:301:" "JCMSG:$SEED:310:" FRESH JCFRESHDUR jcfresh
ok "$(wc -l <<<"$new") new files all encrypted; new payloads nowhere in the clear"

# A remount of the store being adopted needs --adopt again: the store
# allows plaintext files, and that is served only when the operator says
# so each time (an old descriptor put back must not turn it on silently).
jc_umount "$M"
expect_exit 8 "$JCFS" mount --log-file "$JC_LOG" "$B" "$M"
expect_output_contains "the store allows plaintext files (it is being adopted), and --adopt was not given"
! jc_is_mounted "$M" || fail "an adopted store mounted without --adopt"
jc_mount "$B" "$M" --adopt
jn_start n2
jsc verify --stream ORDERS --seed "$SEED" --count $((N + 500)) --headers --mode get
jsc verify --stream ROLL --seed "$SEED" --count 310 --mode get
jn_stop n2
jc_umount "$M"
ok "adopted store refused without --adopt (8), remounts with it"

# --- jetcryptfs encrypt: migrate the rest, then the store is strict -------------------
"$JCFS" encrypt "$B" >"$JC_TMP/encrypt.out" 2>&1 || fail "jetcryptfs encrypt failed: $(tail -n 5 "$JC_TMP/encrypt.out")"
jn_assert_headers "$B"
assert_no_plaintext "$B" "${JN_SECRET_STRINGS[@]}" "JCMSG:$SEED:" "JCMSG:$SEED2:" \
	ORDERS ROLL FRESH JCPULLDUR JCFRESHDUR jcorders jcroll jcfresh
jc_mount "$B" "$M"
jn_start n2
jsc verify --stream ORDERS --seed "$SEED" --count $((N + 500)) --headers --mode get
jsc verify --stream ROLL --seed "$SEED" --count 310 --mode consumer
jsc verify --stream FRESH --seed "$SEED2" --count 1000 --headers --mode get
jn_stop n2
jn_check_log n2
ok "after jetcryptfs encrypt: no plaintext left, all messages readable"

# Strict now: a plaintext file slipped under the mount reads as EIO.
echo "JCFORGED plaintext" >"$B/jetstream/forged.txt"
if out=$(cat "$M/jetstream/forged.txt" 2>&1); then
	fail "a plaintext file in the strict store read back: $out"
fi
grep -qi "input/output error" <<<"$out" || fail "reading a planted plaintext file: expected EIO, got: $out"
jc_umount "$M"
# --adopt cannot make a strict store accept plaintext again.
jc_mount "$B" "$M" --adopt
cat "$M/jetstream/forged.txt" >/dev/null 2>&1 && fail "--adopt made the strict store accept a plaintext file"
jc_umount "$M"
ok "strict store: a plaintext file planted afterwards reads as EIO, with or without --adopt"
