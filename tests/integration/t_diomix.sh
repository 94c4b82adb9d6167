#!/usr/bin/env bash
# Direct and buffered I/O of one file through different descriptors, with
# the writeback cache (the default) and with --write-through: once a write
# has completed, no read through the other kind of descriptor returns
# older bytes -- O_DIRECT writes through Linux AIO and synchronous ones,
# read back buffered while another thread keeps reading the range into the
# page cache (xfstests generic/451), and buffered writes read back with
# O_DIRECT. Then all of it at once on one file, with writes through a
# shared mapping and plain buffered writes beside: nothing hangs, and the
# mount still answers and unmounts.
. "$(dirname "$0")/lib.sh"

DIOMIX=$JC_TOOLS/diomix
[ -x "$DIOMIX" ] || fail "diomix helper not found at $DIOMIX"
P=$JC_TMP/plain
mkdir -p "$P"

# The reference: a plain directory gives no stale bytes either.
for mode in aio sync buffered; do
	out=$("$DIOMIX" "$P/f" "$mode" 200) || fail "plain directory, $mode: $out"
done

# load FILE SECONDS: everything at once on FILE; fails if a step hangs.
load() {
	local f=$1 end=$((SECONDS + $2)) pids=() pid rc=0
	"$DIOMIX" "$f" aio 1 --no-check >/dev/null
	(while [ $SECONDS -lt $end ]; do
		timeout 60 "$DIOMIX" "$f" aio 100 --no-check >/dev/null || [ $? -ne 124 ] || exit 1
	done) &
	pids+=($!)
	(while [ $SECONDS -lt $end ]; do
		timeout 60 "$DIOMIX" "$f" sync 50 --no-check >/dev/null || [ $? -ne 124 ] || exit 1
	done) &
	pids+=($!)
	(while [ $SECONDS -lt $end ]; do
		timeout 60 xfs_io -c "mmap -rw 0 64k" -c "mwrite -S 0x5a 0 64k" -c "msync 0 64k" "$f" >/dev/null ||
			[ $? -ne 124 ] || exit 1
	done) &
	pids+=($!)
	(while [ $SECONDS -lt $end ]; do
		timeout 60 dd if=/dev/urandom of="$f" bs=8192 count=8 conv=notrunc status=none || [ $? -ne 124 ] || exit 1
	done) &
	pids+=($!)
	for pid in "${pids[@]}"; do
		wait "$pid" || rc=1
	done
	[ "$rc" -eq 0 ] || fail "direct, buffered and mapped writes of one file at once: a step hung for 60 s"
}

i=0
for opts in "" "--write-through"; do
	i=$((i + 1))
	B=$JC_TMP/b$i M=$JC_TMP/m$i
	jc_mount "$B" "$M" $opts
	for mode in aio sync buffered; do
		out=$("$DIOMIX" "$M/f" "$mode" 300) || fail "${opts:-default}, $mode: $out"
	done
	ok "${opts:-default options}: no read returns bytes older than a completed write (AIO and synchronous O_DIRECT writes, buffered reads; buffered writes, O_DIRECT reads)"
	command -v xfs_io >/dev/null || fail "xfs_io not found (xfsprogs)"
	load "$M/load" 8
	[ "$(stat -c %s "$M/load")" = 65536 ] || fail "the loaded file is $(stat -c %s "$M/load") bytes"
	cat "$M/load" >/dev/null
	jc_umount "$M"
	ok "${opts:-default options}: AIO, synchronous O_DIRECT, mapped and buffered writes of one file at once: no hang, clean unmount"
done
! grep -E " (error|warning): " "$JC_LOG" || fail "the daemon logged errors or warnings"
