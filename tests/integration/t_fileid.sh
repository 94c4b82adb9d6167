#!/usr/bin/env bash
# New file ids, and so new file keys, where they cost nothing: AES-GCM's
# random 96-bit nonces are safe for about 2^32 encryptions per key, and the
# key is per file id (docs/FORMAT.md, "Nonce"). A file cut to 0 bytes gets
# a new id at its next write -- nats-server rewrites its state files with
# O_TRUNC, block 0 again and again -- whether it stayed open in between or
# not; an AES file whose id has had its budget of encryptions gets a new
# one at its next write that covers it whole from offset 0, while other
# handles of it stay open and keep working. The budget is lowered to 8
# blocks with the test-only JETCRYPTFS_TEST_ID_BUDGET. `jetcryptfs
# inspect` shows the ids; the contents, and fsck after a remount, show
# that nothing was lost.
. "$(dirname "$0")/lib.sh"

# file_id BACKING_FILE: the file id its header names.
file_id() {
	"$JCFS" inspect --json "$1" | sed -n 's/.*"file_id": "\([0-9a-f]*\)".*/\1/p'
}

# same CIPHER WHAT REF FILE: FILE reads as REF, through a new handle with
# O_DIRECT (so the read reaches the daemon, whatever the kernel cached).
same() {
	dd if="$4" of="$JC_TMP/got" bs=64k iflag=direct status=none
	cmp -s "$JC_TMP/got" "$3" || fail "$1: $2: the file reads back wrong"
}

for cipher in chachapoly aes; do
	B=$JC_TMP/b-$cipher M=$JC_TMP/m-$cipher
	export JETCRYPTFS_TEST_ID_BUDGET=8
	jc_mount "$B" "$M" --cipher "$cipher"
	unset JETCRYPTFS_TEST_ID_BUDGET

	# Cut to 0 and written again, with a reader holding the file open
	# throughout: a new id each time, as nats-server rewrites o.dat.
	head -c 15000 /dev/urandom >"$JC_TMP/ref"
	cp "$JC_TMP/ref" "$M/state"
	exec 3<"$M/state"
	ids=$(file_id "$B/state")
	for i in 1 2 3; do
		head -c $((3000 * i)) /dev/urandom >"$JC_TMP/ref"
		cat "$JC_TMP/ref" >"$M/state"          # O_TRUNC, then the write
		id=$(file_id "$B/state")
		grep -qx "$id" <<<"$ids" && fail "$cipher: rewrite $i after O_TRUNC kept a file id it had before ($id)"
		ids+=$'\n'$id
		same "$cipher" "rewrite $i after O_TRUNC" "$JC_TMP/ref" "$M/state"
	done
	exec 3<&-
	ok "$cipher: a file cut to 0 gets a new file id at each rewrite; a reader kept open meanwhile"

	# Cut to 0 while nobody has it open, and later written in place
	# (no O_TRUNC): the header-only file's id is stale all the same.
	truncate -s 0 "$M/state"
	id=$(file_id "$B/state")
	[ "$id" = "$(sed -n '$p' <<<"$ids")" ] || fail "$cipher: truncate to 0 changed the header already"
	head -c 5000 /dev/urandom >"$JC_TMP/ref"
	dd if="$JC_TMP/ref" of="$M/state" conv=notrunc status=none
	[ "$(file_id "$B/state")" != "$id" ] || fail "$cipher: the first write after a truncate to 0 (file closed between) kept the id"
	same "$cipher" "write after truncate to 0" "$JC_TMP/ref" "$M/state"
	ok "$cipher: a header-only file gets a new file id at its next write"
	jc_umount "$M"

	# The budget: with --write-through each write below is one request.
	export JETCRYPTFS_TEST_ID_BUDGET=8
	jc_mount "$B" "$M" --cipher "$cipher" --write-through
	unset JETCRYPTFS_TEST_ID_BUDGET
	head -c 8192 /dev/urandom >"$JC_TMP/ref"
	cp "$JC_TMP/ref" "$M/g"                        # 2 blocks encrypted
	exec 4<>"$M/g"                                  # open across the switch
	id0=$(file_id "$B/g")
	rewrite_block1() {
		head -c 4096 /dev/urandom >"$JC_TMP/blk"
		dd if="$JC_TMP/blk" of="$M/g" bs=4096 seek=1 conv=notrunc status=none
		dd if="$JC_TMP/blk" of="$JC_TMP/ref" bs=4096 seek=1 conv=notrunc status=none
	}
	rewrite_whole() {
		head -c 8192 /dev/urandom >"$JC_TMP/ref"
		dd if="$JC_TMP/ref" of="$M/g" bs=8192 conv=notrunc status=none
	}
	rewrite_block1; rewrite_block1; rewrite_block1  # 5 blocks
	rewrite_whole                                   # 7: under the budget
	[ "$(file_id "$B/g")" = "$id0" ] || fail "$cipher: a whole-file rewrite under the budget changed the file id"
	rewrite_block1; rewrite_block1                  # 9: budget spent
	[ "$(file_id "$B/g")" = "$id0" ] || fail "$cipher: a rewrite in place changed the file id"
	head -c 4096 /dev/urandom >"$JC_TMP/blk"        # at 0, not the whole file
	dd if="$JC_TMP/blk" of="$M/g" bs=4096 conv=notrunc status=none
	dd if="$JC_TMP/blk" of="$JC_TMP/ref" bs=4096 conv=notrunc status=none
	[ "$(file_id "$B/g")" = "$id0" ] || fail "$cipher: a write at 0 that does not cover the file changed the file id"
	same "$cipher" "in-place rewrites" "$JC_TMP/ref" "$M/g"
	rewrite_whole
	id1=$(file_id "$B/g")
	if [ "$cipher" = aes ]; then
		[ "$id1" != "$id0" ] || fail "$cipher: a whole-file rewrite past the budget kept the file id"
	else
		[ "$id1" = "$id0" ] || fail "$cipher: the AES budget renewed a chachapoly file's id"
	fi
	same "$cipher" "whole-file rewrite past the budget" "$JC_TMP/ref" "$M/g"
	# The handle opened before the switch: written through, then read.
	printf 'through the old handle' >&4
	printf 'through the old handle' | dd of="$JC_TMP/ref" conv=notrunc status=none
	same "$cipher" "a write through a handle opened before the switch" "$JC_TMP/ref" "$M/g"
	exec 4<&-
	jc_umount "$M"

	jc_mount "$B" "$M" --cipher "$cipher"
	same "$cipher" "after a remount" "$JC_TMP/ref" "$M/g"
	jc_umount "$M"
	expect_exit 0 "$JCFS" fsck "$B"
	if [ "$cipher" = aes ]; then
		ok "$cipher: a whole-file rewrite past the budget gets a new file id; contents, other handles, fsck right"
	else
		ok "$cipher: no budget for XChaCha20's 192-bit nonces; contents and fsck right"
	fi
done
