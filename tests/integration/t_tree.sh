#!/usr/bin/env bash
# A real directory tree through the mount, for both ciphers: copy a slice of
# /usr/share/doc (plus /usr/include/linux and files sized around the block
# edges) in with cp -a, compare contents with diff -r and names, types, sizes,
# modes and mtimes with a listing, unmount, remount and compare again; then
# check the backing dir holds only ciphertext (the JCFS header on every file,
# none of the copied text findable) and that the store descriptor stays
# hidden. Finally remount each store with the other cipher: files keep the
# cipher they were written with and stay readable.
. "$(dirname "$0")/lib.sh"

SRC=$JC_TMP/src
mkdir -p "$SRC/doc"

# About 20 MB of /usr/share/doc: enough files of every kind, still fast.
total=0
for d in /usr/share/doc/*/; do
	[ "$total" -lt 20000 ] || break
	cp -a "$d" "$SRC/doc/"
	total=$((total + $(du -sk "$d" | cut -f1)))
done
[ -d /usr/include/linux ] && cp -a /usr/include/linux "$SRC/include-linux"

# Sizes around the 4096-byte block edges, zeros, holes and odd names.
mkdir -p "$SRC/edges/deep/er/still"
for n in 0 1 4095 4096 4097 8191 8192 8193 12289 65536 1000001; do
	head -c "$n" /dev/urandom >"$SRC/edges/rand-$n"
done
head -c 12288 /dev/zero >"$SRC/edges/zeros-12288"
truncate -s 200000 "$SRC/edges/sparse"
printf 'jetcryptfs tree marker %s\n' "$RANDOM$RANDOM" >"$SRC/edges/deep/er/still/marker.txt"
printf 'spaces\n' >"$SRC/edges/name with spaces"
printf 'utf8\n' >"$SRC/edges/ünïcødé-名前"
ln -s ../edges/rand-1 "$SRC/edges/deep/link"
chmod 600 "$SRC/edges/rand-1"
chmod 755 "$SRC/edges/rand-4096"

nfiles=$(find "$SRC" -type f | wc -l)
[ "$nfiles" -ge 300 ] || fail "source tree has only $nfiles files"
echo "source tree: $nfiles files, $(du -sh "$SRC" | cut -f1)"

# Distinctive plaintext to look for underneath: long lines of some copied
# text files, and the marker.
mapfile -t needles < <(
	find "$SRC" -type f \( -name copyright -o -name '*.h' -o -name marker.txt \) -size +200c |
		sort | awk 'NR % 40 == 1' | head -n 12 |
		while read -r f; do grep -a -m1 -E '^.{40,}$' "$f" | cut -c1-60 || true; done |
		grep -v '^$' | sort -u)
[ "${#needles[@]}" -ge 5 ] || fail "found only ${#needles[@]} plaintext needles"

listing() {
	(cd "$1" && {
		find . -mindepth 1 ! -type d -printf '%P %y %s %m %T@ %l\n'
		find . -mindepth 1 -type d -printf '%P %y %m %T@\n'
	} | LC_ALL=C sort)
}
listing "$SRC" >"$JC_TMP/src.list"

compare_tree() {
	local what=$1 mnt=$2
	diff -r --no-dereference "$SRC" "$mnt/tree" >"$JC_TMP/diff.out" 2>&1 ||
		fail "$what: diff -r found differences: $(head -n 10 "$JC_TMP/diff.out")"
	listing "$mnt/tree" >"$JC_TMP/mnt.list"
	diff "$JC_TMP/src.list" "$JC_TMP/mnt.list" >"$JC_TMP/list.diff" ||
		fail "$what: stat listing differs (name type size mode mtime): $(head -n 10 "$JC_TMP/list.diff")"
	ok "$what: contents and stat identical"
}

for cipher in chachapoly aes; do
	B=$JC_TMP/b-$cipher M=$JC_TMP/m-$cipher
	jc_mount "$B" "$M" --cipher "$cipher"
	cp -a "$SRC" "$M/tree"
	compare_tree "$cipher, first mount" "$M"
	ls -a "$M" | grep -qxF .jetcryptfs && fail "$cipher: .jetcryptfs is visible in the mount"
	[ -e "$M/.jetcryptfs" ] && fail "$cipher: .jetcryptfs can be opened through the mount"
	jc_umount "$M"

	[ -f "$B/.jetcryptfs" ] || fail "$cipher: no store descriptor in the backing dir"
	[ "$(find "$B/tree" -type f | wc -l)" -eq "$nfiles" ] || fail "$cipher: backing file count differs"
	assert_encrypted "$B"
	assert_no_plaintext "$B" "${needles[@]}"
	ok "$cipher: backing dir holds only ciphertext"

	jc_mount "$B" "$M" --cipher "$cipher"
	compare_tree "$cipher, after remount" "$M"
	jc_umount "$M"
done

# The cipher is recorded per file: a store reopened with the other cipher
# reads its old files and writes new ones with the new cipher.
jc_mount "$JC_TMP/b-chachapoly" "$JC_TMP/m-x" --cipher aes
compare_tree "chachapoly store mounted with --cipher aes" "$JC_TMP/m-x"
cp "$SRC/edges/rand-8193" "$JC_TMP/m-x/new-aes"
cmp "$SRC/edges/rand-8193" "$JC_TMP/m-x/new-aes" || fail "new file in a mixed store differs"
jc_umount "$JC_TMP/m-x"
jc_mount "$JC_TMP/b-chachapoly" "$JC_TMP/m-x" --cipher chachapoly
cmp "$SRC/edges/rand-8193" "$JC_TMP/m-x/new-aes" || fail "aes file unreadable after remount with chachapoly"
compare_tree "mixed-cipher store" "$JC_TMP/m-x"
jc_umount "$JC_TMP/m-x"
# Header byte 5 is the cipher id (crypto/format.h): 1 chachapoly, 2 aes.
cipher_id() { od -An -tu1 -j5 -N1 "$1" | tr -d ' '; }
[ "$(cipher_id "$JC_TMP/b-chachapoly/tree/edges/rand-8193")" = 1 ] || fail "chachapoly file has cipher id $(cipher_id "$JC_TMP/b-chachapoly/tree/edges/rand-8193")"
[ "$(cipher_id "$JC_TMP/b-chachapoly/new-aes")" = 2 ] || fail "file written with --cipher aes has cipher id $(cipher_id "$JC_TMP/b-chachapoly/new-aes")"
[ "$(cipher_id "$JC_TMP/b-aes/tree/edges/rand-8193")" = 2 ] || fail "aes store file has cipher id $(cipher_id "$JC_TMP/b-aes/tree/edges/rand-8193")"
ok "both ciphers, recorded per file"
