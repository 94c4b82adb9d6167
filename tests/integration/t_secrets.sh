#!/usr/bin/env bash
# Secrets in the daemon's memory, for both ciphers: a file is written and
# read through several worker threads at once, and then, with the daemon
# idle, its memory is searched (tests/tools/memscan, as root: it reads
# /proc/PID/mem) for the master key and the file's content key, derived
# as docs/FORMAT.md says (tests/tools/jckeys). While the file is open its
# key must be there -- which shows the search finds what it looks for --
# and the master key is expected there always, in locked pages (the
# keyring is sodium_malloc'd). Once the last handle of the file is
# closed, its key must be found nowhere: not in the key slot, not in any
# thread's cipher context or key copy (idle workers keep theirs), not on
# a worker's stack. Nor, for chachapoly, any block's XChaCha20 subkey,
# which a thread's context keeps after the block. The master key must
# never be found outside locked pages.
. "$(dirname "$0")/lib.sh"

MEMSCAN=$JC_TOOLS/memscan
JCKEYS=$JC_TOOLS/jckeys
[ -x "$MEMSCAN" ] && [ -x "$JCKEYS" ] || fail "memscan and jckeys are not built in $JC_TOOLS"
[ "$(id -u)" = 0 ] || fail "needs root: the daemon's memory is readable only by root"

# wait_idle PID: waits until the daemon has used no CPU time for a
# second (its workers are all waiting for requests: a RELEASE the kernel
# sends after close has been handled); fails after 30 s.
wait_idle() {
	local pid=$1 i prev= now
	for ((i = 0; i < 60; i++)); do
		now=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
		[ "$now" = "$prev" ] && return 0
		prev=$now
		sleep 1
	done
	fail "daemon $pid still busy after 60 s"
}

# scan NAME: searches the daemon for the keys; the report is $JC_TMP/scan.NAME.
scan() {
	local out=$JC_TMP/scan.$1
	wait_idle "$JC_PID"
	"$MEMSCAN" "$JC_PID" master="$master" file="$filekey" @"$JC_TMP/subkeys" >"$out" ||
		fail "memscan failed on $JC_PID"
	sed -n "1,40s/^/  $1: /p" "$out"
}

# count NAME SECRET FIELD: hits, locked or unlocked of SECRET in scan NAME
# (0 for a secret it was not given).
count() {
	awk -v s="$2" -v f="$3" '$1 == "secret" && $2 == s { for (i = 3; i < NF; i += 2) if ($i == f) n = $(i + 1) }
		END { print n + 0 }' "$JC_TMP/scan.$1"
}

# ThreadSanitizer's runtime saves every register, vector registers with
# what the last block left in them among them, on the thread's stack when
# its trace buffer fills in an intercepted call (__tsan_trace_switch_thunk,
# found there with a key): a copy the daemon neither makes nor can wipe.
# AddressSanitizer turns mlock into a no-op: against such a daemon only
# where the keys are is checked, not whether locked.
if ldd "$JCFS" | grep -q libtsan; then
	echo "skip: $JCFS is a ThreadSanitizer build, whose runtime copies registers onto the stacks"
	exit 0
fi
locked=locked
if ldd "$JCFS" | grep -q libasan; then
	echo "note: $JCFS is an AddressSanitizer build, whose mlock does nothing: locked memory is not checked"
	locked=hits
fi

MIB=$((1 << 20))
head -c $((8 * MIB)) /dev/urandom >"$JC_TMP/ref"

for cipher in chachapoly aes; do
	B=$JC_TMP/b-$cipher M=$JC_TMP/m-$cipher
	jc_mount "$B" "$M" --cipher "$cipher"

	# Held open throughout, so that all the work below is under one load
	# of the file's key: four writers into it at once, each its quarter,
	# and then four readers with O_DIRECT (every read reaches the daemon):
	# requests handled by several worker threads, each keying its own
	# contexts.
	exec 3<>"$M/f"
	for i in 0 1 2 3; do
		dd if="$JC_TMP/ref" of="$M/f" bs=1M skip=$((2 * i)) seek=$((2 * i)) count=2 conv=notrunc \
			status=none &
	done
	wait
	for i in 0 1 2 3; do
		dd if="$M/f" of="$JC_TMP/part.$i" bs=64k skip=$((32 * i)) count=32 iflag=direct status=none &
	done
	wait
	cat "$JC_TMP"/part.{0,1,2,3} | cmp -s - "$JC_TMP/ref" || fail "$cipher: the file reads back wrong"
	[ "$(ls "/proc/$JC_PID/task" | wc -l)" -gt 2 ] || fail "$cipher: the daemon never started several workers"

	keys=$("$JCKEYS" --blocks "$B/f")
	master=$(awk '$1 == "master" { print $2 }' <<<"$keys")
	filekey=$(awk '$1 == "file" { print $3 }' <<<"$keys")
	[ ${#master} = 64 ] && [ ${#filekey} = 64 ] || fail "jckeys: $keys"
	awk '$1 == "block" { print "subkey", $4 }' <<<"$keys" >"$JC_TMP/subkeys"
	if [ "$cipher" = chachapoly ]; then
		[ "$(wc -l <"$JC_TMP/subkeys")" = 2048 ] || fail "jckeys: $(wc -l <"$JC_TMP/subkeys") subkeys for 2048 blocks"
	fi

	# Still open: the key is loaded (a key slot, locked) and the workers'
	# contexts keep what they last used, all of which the scan finds.
	scan "$cipher-open"
	[ "$(count "$cipher-open" file $locked)" -ge 1 ] ||
		fail "$cipher: the file key is not found in locked memory while the file is open: the scan cannot see it"
	if [ "$cipher" = chachapoly ]; then
		[ "$(count "$cipher-open" subkey hits)" -ge 1 ] ||
			fail "$cipher: no block subkey found while the file is open: the scan cannot see them"
	fi
	[ "$(count "$cipher-open" master $locked)" -ge 1 ] ||
		fail "$cipher: the master key is not found in locked memory: the scan cannot see it"
	[ $locked = hits ] || [ "$(count "$cipher-open" master unlocked)" = 0 ] ||
		fail "$cipher: the master key is in unlocked memory (file open): $(grep 'hit master' "$JC_TMP/scan.$cipher-open")"

	# Closed, the last handle: the key is gone, from every thread.
	exec 3<&-
	scan "$cipher-closed"
	[ "$(count "$cipher-closed" file hits)" = 0 ] ||
		fail "$cipher: the file key is still in the daemon's memory after the last close: $(grep 'hit file' "$JC_TMP/scan.$cipher-closed")"
	[ "$(count "$cipher-closed" subkey hits)" -eq 0 ] ||
		fail "$cipher: block subkeys are still in the daemon's memory after the last close: $(grep 'hit subkey' "$JC_TMP/scan.$cipher-closed" | head -n 5)"
	[ $locked = hits ] || [ "$(count "$cipher-closed" master unlocked)" = 0 ] ||
		fail "$cipher: the master key is in unlocked memory: $(grep 'hit master' "$JC_TMP/scan.$cipher-closed")"
	[ "$(count "$cipher-closed" master $locked)" -ge 1 ] || fail "$cipher: the master key is gone from locked memory"
	ok "$cipher: file key found only while the file is open, master key only in locked pages"
	jc_umount "$M"
done
