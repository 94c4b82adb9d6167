#!/usr/bin/env bash
# The operation exerciser on the mount against a reference dir on plain
# disk: 100,000 operations in all, several threads, both ciphers, each run
# followed by an unmount, a remount and a full comparison of the two trees
# before the next seed continues on the same files. The aes store's second
# half runs with --write-through, and the chachapoly store's with a
# low-space mark of 1 PiB, above any disk, so that files opened for
# writing with no other handle open get direct I/O under the writeback
# cache, while files first opened to read keep their cache (and so do
# their later writers): all three write paths are covered.
# OPFUZZ_SEED picks another base seed (the default keeps CI reproducible);
# OPFUZZ_OPS scales the number of operations.
. "$(dirname "$0")/lib.sh"

[ -x "$OPFUZZ" ] || fail "OPFUZZ does not name the opfuzz binary"
seed=${OPFUZZ_SEED:-20240601}
ops=${OPFUZZ_OPS:-100000}
echo "opfuzz base seed $seed, $ops operations"

# run CIPHER B M REF OPS SEED THREADS [mount args...]
run() {
	local cipher=$1 b=$2 m=$3 ref=$4 n=$5 s=$6 threads=$7
	shift 7
	jc_mount "$b" "$m" --cipher "$cipher" "$@"
	timeout 600 "$OPFUZZ" --seed "$s" --ops "$n" --threads "$threads" --shared \
		--files 8 --max-size 98304 "$m/fuzz" "$ref" ||
		fail "opfuzz on $cipher (seed $s, $threads threads) failed; rerun: $OPFUZZ --seed $s --ops $n --threads $threads --shared --files 8 --max-size 98304 TARGET REF"
	jc_umount "$m"
	jc_mount "$b" "$m" --cipher "$cipher"
	timeout 300 "$OPFUZZ" --verify "$m/fuzz" "$ref" || fail "$cipher: tree differs after remount (seed $s)"
	jc_umount "$m"
}

for cipher in chachapoly aes; do
	B=$JC_TMP/b-$cipher M=$JC_TMP/m-$cipher R=$JC_TMP/ref-$cipher
	mkdir -p "$R" "$M"
	jc_mount "$B" "$M" --cipher "$cipher"
	mkdir "$M/fuzz"
	jc_umount "$M"
	if [ "$cipher" = chachapoly ]; then
		run "$cipher" "$B" "$M" "$R" $((ops * 3 / 10)) "$seed" 3
		run "$cipher" "$B" "$M" "$R" $((ops * 2 / 10)) $((seed + 1)) 2 --low-space 1073741824
		grep -q "below the low-space mark" "$JC_LOG" ||
			fail "the run with a 1 PiB low-space mark never logged going below it"
	else
		run "$cipher" "$B" "$M" "$R" $((ops * 3 / 10)) $((seed + 2)) 3
		run "$cipher" "$B" "$M" "$R" $((ops * 2 / 10)) $((seed + 3)) 2 --write-through
	fi
	assert_encrypted "$B"
	assert_no_plaintext "$B" "opfuzz seed"
	ok "$cipher: opfuzz, remount, verify, second seed, verify"
done
