#!/usr/bin/env bash
# The concurrency soak: tests/tools/soak.c on a real mount, all threads on
# the same files at once (stripe writes that share blocks, truncates and
# appends past them, O_APPEND logs with rotation, temp-file + rename
# rewrites, renames over spare names, hard links, unlinks), each thread
# checking what it owns as it goes. Then unmount, remount and compare the
# whole tree with the reference the soak wrote, and fsck the store. Two
# rounds: chachapoly with the kernel's writeback cache, and aes with
# --write-through and more threads, so both write paths see concurrency.
# SOAK_SECONDS is the total time of the two soaks (default 120); SOAK_SEED
# picks another seed.
#
# Under ThreadSanitizer, by hand: configure a build with CC=clang and
# -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer
# -Wno-unknown-attributes" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread, make
# safewrite_start() return -ENOSYS in that copy (TSan cannot follow its
# clone(CLONE_VM) helper processes and aborts), mount with -f and
# TSAN_OPTIONS=log_path=DIR/tsan, and run tests/soak (and opfuzz) on it.
. "$(dirname "$0")/lib.sh"

SOAK=${BUILDDIR:+$BUILDDIR/tests/soak}
[ -x "${SOAK:-}" ] || SOAK=$JC_TOOLS/soak
[ -x "$SOAK" ] || fail "soak binary not found (BUILDDIR=${BUILDDIR:-unset})"
[ -x "$OPFUZZ" ] || fail "OPFUZZ does not name the opfuzz binary"
total=${SOAK_SECONDS:-120}
seed=${SOAK_SEED:-20240607}
half=$((total / 2 > 0 ? total / 2 : 1))

# round CIPHER THREADS FILES SEED [mount args...]
round() {
	local cipher=$1 threads=$2 files=$3 s=$4
	shift 4
	local B=$JC_TMP/b-$cipher M=$JC_TMP/m-$cipher R=$JC_TMP/ref-$cipher
	mkdir -p "$R/soak"
	jc_mount "$B" "$M" --cipher "$cipher" "$@"
	mkdir "$M/soak"
	timeout $((half + 300)) "$SOAK" --seconds "$half" --threads "$threads" --files "$files" \
		--seed "$s" "$M/soak" "$R/soak" ||
		fail "$cipher soak failed; rerun: $SOAK --seconds $half --threads $threads --files $files --seed $s DIR REF (mount args: --cipher $cipher $*)"
	jc_umount "$M"
	if grep -q " error: " "$JC_LOG"; then
		fail "$cipher: the daemon logged errors during the soak: $(grep " error: " "$JC_LOG" | head -n 3)"
	fi
	jc_mount "$B" "$M" --cipher "$cipher"
	timeout 300 "$OPFUZZ" --verify "$M/soak" "$R/soak" ||
		fail "$cipher: tree differs from the soak's reference after remount"
	jc_umount "$M"
	expect_exit 0 "$JCFS" fsck "$B"
	assert_encrypted "$B"
	ok "$cipher ($threads threads, $files files, ${half}s${*:+, $*}): soak, remount, verify, fsck"
}

echo "soak: ${half}s per round, seed $seed"
round chachapoly 8 4 "$seed"
round aes 12 6 $((seed + 1)) --write-through
