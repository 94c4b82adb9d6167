#!/usr/bin/env bash
# Tampering: files written through the mount are changed in the backing
# directory while it is unmounted -- single-bit flips in the header, a
# nonce, a ciphertext and a tag; two blocks swapped; a block copied in from
# another file; the last block cut in half; the header's cipher id
# changed -- and a plaintext file and a file of a store with another key
# are put in. Each must read as EIO, every byte returned before the error
# must be the original's, and the daemon log must name the file (and the
# block, where one is at fault) in exactly one line. Both ciphers.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m O=$JC_TMP/orig
mkdir -p "$O"
SIZE=$((4 * 4096 + 1000))       # blocks 0..3 full, block 4 of 1000 bytes
attacks=(hdr_fileid hdr_keyid hdr_version nonce ciphertext tag swap copy cut cipher_id)

for cipher in chachapoly aes; do
	jc_mount "$B" "$M" --cipher "$cipher"
	for a in "${attacks[@]}" other; do
		head -c $SIZE /dev/urandom >"$O/$cipher.$a"
		cp "$O/$cipher.$a" "$M/$cipher.$a"
	done
	jc_umount "$M"
done
# A file of another store (another key), and a plaintext file.
OTHER_KEY=$(jc_genkey)
JS_KEY=$OTHER_KEY jc_mount "$JC_TMP/b2" "$JC_TMP/m2"
head -c $SIZE /dev/urandom >"$O/foreign"
cp "$O/foreign" "$JC_TMP/m2/foreign"
jc_umount "$JC_TMP/m2"
cp "$JC_TMP/b2/foreign" "$B/foreign"
head -c $SIZE /dev/urandom >"$O/plaintext"
cp "$O/plaintext" "$B/plaintext"

# flip FILE OFFSET: inverts bit 2 of the byte at OFFSET.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 4)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# put FILE OFFSET BYTE(hex)
put() {
	printf "\\x$2" | dd of="$1" bs=1 seek="$3" conv=notrunc status=none
}

# block FILE N: the stored bytes of block N on stdout.
block() {
	dd if="$1" bs=1 skip=$((32 + $2 * S)) count=$S status=none
}

declare -A want_block   # file -> block number the log must name ("" for file-level errors)
for cipher in chachapoly aes; do
	if [ $cipher = chachapoly ]; then N=24; else N=12; fi
	S=$((4096 + N + 16))
	f() { echo "$B/$cipher.$1"; }
	flip "$(f hdr_fileid)" 20;                    want_block[$cipher.hdr_fileid]=0
	flip "$(f hdr_keyid)" 9;                      want_block[$cipher.hdr_keyid]=
	put "$(f hdr_version)" 07 4;                  want_block[$cipher.hdr_version]=
	flip "$(f nonce)" $((32 + 2 * S + 5));        want_block[$cipher.nonce]=2
	flip "$(f ciphertext)" $((32 + 2 * S + N + 777)); want_block[$cipher.ciphertext]=2
	flip "$(f tag)" $((32 + 3 * S - 3));          want_block[$cipher.tag]=2
	# Blocks 1 and 2 swapped.
	block "$(f swap)" 1 >"$JC_TMP/b1"
	block "$(f swap)" 2 >"$JC_TMP/b2blk"
	dd if="$JC_TMP/b2blk" of="$(f swap)" bs=1 seek=$((32 + S)) conv=notrunc status=none
	dd if="$JC_TMP/b1" of="$(f swap)" bs=1 seek=$((32 + 2 * S)) conv=notrunc status=none
	want_block[$cipher.swap]=1
	# Block 2 of another file of the same store and cipher.
	block "$(f other)" 2 >"$JC_TMP/ob"
	dd if="$JC_TMP/ob" of="$(f copy)" bs=1 seek=$((32 + 2 * S)) conv=notrunc status=none
	want_block[$cipher.copy]=2
	# The last block (1000 bytes + overhead) cut in half.
	truncate -s $((32 + 4 * S + (1000 + N + 16) / 2)) "$(f cut)"
	want_block[$cipher.cut]=4
	# The other cipher's id in the header.
	if [ $cipher = chachapoly ]; then put "$(f cipher_id)" 02 5; else put "$(f cipher_id)" 01 5; fi
	want_block[$cipher.cipher_id]=0
done
want_block[foreign]=
want_block[plaintext]=

jc_mount "$B" "$M"
pid=$JC_PID
for name in $(printf '%s\n' "${!want_block[@]}" | sort); do
	out=$JC_TMP/out.$name
	rc=0
	err=$(dd if="$M/$name" of="$out" bs=4096 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "$name: read the whole tampered file without an error"
	grep -q "Input/output error" <<<"$err" || fail "$name: error is not EIO: $err"
	[ -e "$out" ] || : >"$out"      # dd makes none if the open fails
	got=$(stat -c %s "$out")
	cmp -s -n "$got" "$O/$name" "$out" || fail "$name: the $got bytes returned before the error differ from the original"
	lines=$(grep -F "$B/$name:" "$JC_LOG" || true)
	[ "$(grep -c . <<<"$lines")" -eq 1 ] || fail "$name: want one log line naming the file, got: ${lines:-none}"
	if [ -n "${want_block[$name]}" ]; then
		grep -q "block ${want_block[$name]}: authentication failed" <<<"$lines" ||
			fail "$name: the log line does not name block ${want_block[$name]}: $lines"
	fi
	echo "ok: $name: EIO after $got correct bytes; log: ${lines#* error: }"
done
# Blocks after a bad one still read, correctly.
for cipher in chachapoly aes; do
	dd if="$M/$cipher.tag" bs=4096 skip=3 status=none | cmp - <(tail -c +$((3 * 4096 + 1)) "$O/$cipher.tag") ||
		fail "$cipher.tag: the blocks after the damaged one do not read back"
done
# Intact files still read, and the daemon is still there.
for cipher in chachapoly aes; do
	cmp "$O/$cipher.other" "$M/$cipher.other" || fail "$cipher.other no longer reads correctly"
done
kill -0 "$pid" || fail "the daemon died"
jc_umount "$M"
# fsck, where this build has it, names every tampered file.
if "$JCFS" fsck --help >/dev/null 2>&1; then
	expect_exit 1 "$JCFS" fsck --quiet "$B"
	for name in "${!want_block[@]}"; do
		grep -q "^$B/$name: " <<<"$JC_OUTPUT" || fail "fsck does not name $name: $JC_OUTPUT"
	done
	for cipher in chachapoly aes; do
		grep -q "^$B/$cipher.other: " <<<"$JC_OUTPUT" && fail "fsck names the intact $cipher.other"
	done
	ok "fsck names all ${#want_block[@]} tampered files and no intact one"
fi
ok "${#want_block[@]} tampered files: each EIO, only correct bytes before it, one log line"

# A write that needs a tampered block: appending past a partial last block
# first rewrites that block padded with zeros, and reading it fails. The
# kernel has grown the file and marked its pages written by then: a 4 KiB
# writeback WRITE fails in its answer, and a 1 MiB one has already been
# answered when the daemon finds out (docs/PERFORMANCE.md, "Writeback writes answered before they are made").
# Either way the application must see EIO from fsync and from reads of the
# file, also once it is closed and opened again -- never what the disk has
# (zeros where the lost bytes were) -- and the log names the block. After a
# remount the file reads as the disk has it.
for cipher in chachapoly aes; do
	if [ $cipher = chachapoly ]; then N=24; else N=12; fi
	S=$((4096 + N + 16))
	for len in 4096 $((1 << 20)); do
		jc_mount "$B" "$M" --cipher "$cipher"
		head -c $((2 * 4096 + 2048)) /dev/urandom >"$O/lost.$cipher"     # block 2 of 2048 bytes
		cp "$O/lost.$cipher" "$M/lost.$cipher"
		jc_umount "$M"
		flip "$B/lost.$cipher" $((32 + 2 * S + N + 100))
		mark=$(jc_log_mark)
		jc_mount "$B" "$M"
		got=$("$JC_TOOLS/fsop" lost-write "$M/lost.$cipher" $((3 * 4096)) $len)
		# close() reports it only if the daemon answered after the failure
		# (the kernel may send the 1 MiB in more than one WRITE, the
		# first answered before it is made: the log says which it was).
		since=$(jc_log_since "$mark")
		if [ $len = 4096 ]; then
			want="close=EIO read=EIO fsync=EIO" how="only at its next fsync or close,"
		else
			want="close=(ok|EIO) read=EIO fsync=EIO" how="only at its next fsync,"
		fi
		[[ "$got" =~ ^$want$ ]] || fail "lost write of $len bytes, $cipher: want $want, got: $got"
		grep -q "$B/lost.$cipher: block 2: authentication failed" <<<"$since" ||
			fail "lost write of $len bytes, $cipher: the log does not name block 2: $since"
		grep -q "$B/lost.$cipher: writing back cached data failed: .*$how" <<<"$since" ||
			fail "lost write of $len bytes, $cipher: the log does not say the write was lost ($how): $since"
		# Closed and opened again: still nothing but EIO.
		rc=0
		err=$(dd if="$M/lost.$cipher" of="$JC_TMP/lost.out" bs=4096 2>&1) || rc=$?
		[ $rc -ne 0 ] && grep -q "Input/output error" <<<"$err" ||
			fail "lost write of $len bytes, $cipher: reopened, the file reads without EIO: $err"
		[ ! -s "$JC_TMP/lost.out" ] ||
			fail "lost write of $len bytes, $cipher: reopened, $(stat -c %s "$JC_TMP/lost.out") bytes read before EIO"
		# Remounted: what the disk has, the first two blocks, then the
		# tampered one.
		jc_umount "$M"
		jc_mount "$B" "$M"
		rc=0
		err=$(dd if="$M/lost.$cipher" of="$JC_TMP/lost.out" bs=4096 2>&1) || rc=$?
		[ $rc -ne 0 ] && grep -q "Input/output error" <<<"$err" ||
			fail "lost write of $len bytes, $cipher: remounted, the file reads without EIO: $err"
		[ "$(stat -c %s "$JC_TMP/lost.out")" -eq $((2 * 4096)) ] ||
			fail "lost write of $len bytes, $cipher: remounted, $(stat -c %s "$JC_TMP/lost.out") bytes before EIO, want 8192"
		cmp -n $((2 * 4096)) "$O/lost.$cipher" "$JC_TMP/lost.out" ||
			fail "lost write of $len bytes, $cipher: remounted, the first two blocks differ"
		jc_umount "$M"
		rm -f "$B/lost.$cipher"
		echo "ok: lost write of $len bytes, $cipher: $got"
	done
done
ok "writeback writes lost on a tampered block: fsync and reads say EIO until a remount, the log names the block"
