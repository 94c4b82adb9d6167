#!/usr/bin/env bash
# Direct backing I/O: the whole pages of a large write reach the backing
# file with O_DIRECT, around its page cache, and large reads come from the
# disk the same way. Checked through real mounts, both ciphers: the
# backing file's cache holds only the partial pages at the ends of the
# kernel's writeback requests (fincore), also after the file is read back,
# and all of it with --cached-backing; what reads back is what was written, from a
# remount that still has the backing cache (buffered reads must see the
# direct writes) and after dropping every cache; large writes at odd
# offsets over blocks that small writes left dirty in the backing cache
# give the same bytes as the same writes to a plain file; a file held open
# for reading gets a writer; a plaintext file of an adopted store is encrypted
# in place; fsck and cat agree; the log stays clean. And on a filesystem
# that refuses 4 KiB direct I/O (XFS with 16 KiB sectors), the refused
# writes and reads fall back to the cache and everything reads back whole.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m P=$JC_TMP/plain
mkdir -p "$P"
head -c $((8 << 20)) /dev/urandom >"$P/rand"

# The backing file's pages in the page cache, and all its pages.
cached_pages() { fincore --noheadings --raw -o PAGES "$1"; }
all_pages() { echo $((($(stat -c %s "$1") + 4095) / 4096)); }
tmpfs=0
[ "$(stat -f -c %T "$JC_TMP")" = tmpfs ] && tmpfs=1   # its O_DIRECT is cached

# assert_not_cached FILE WHAT: at most a twentieth of the backing FILE's
# pages are in the page cache (not checked on tmpfs); CACHED says how many.
assert_not_cached() {
	local c a
	c=$(cached_pages "$1") a=$(all_pages "$1")
	CACHED="$c of $a"
	[ "$tmpfs" = 1 ] || [ "$c" -le $((a / 20)) ] ||
		fail "$2: $c of $a pages of the backing file are cached"
}

# mixed_writes FILE: small writes (buffered, left dirty in the backing
# cache), then large ones at odd offsets over them and past the end, then
# a small one again.
mixed_writes() {
	dd if="$P/rand" of="$1" bs=1000 count=3000 status=none
	dd if="$P/rand" of="$1" bs=1M count=2 skip=7777 seek=12345 \
		iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
	dd if="$P/rand" of="$1" bs=700000 count=3 skip=1 seek=2999999 \
		iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
	dd if="$P/rand" of="$1" bs=3000 count=1 skip=5 seek=1048000 \
		iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
}

assert_log_clean() {
	if grep -E 'error|refused|failed|block [0-9]+:' "$JC_LOG"; then
		fail "$1: the daemon logged errors"
	fi
}

for cipher in chachapoly aes; do
	# 1. Writeback: 8 MiB copied in, fsync'd.
	jc_mount "$B" "$M" --cipher "$cipher"
	cp "$P/rand" "$M/$cipher.wb"
	sync "$M/$cipher.wb"
	assert_not_cached "$B/$cipher.wb" "$cipher: the large writes were not direct"
	# A remount drops the mount's cache, not the backing file's. 4 KiB
	# direct reads through the mount reach the daemon as they are, and
	# it reads those through the backing cache: they must see what the
	# direct writes put on disk. Then large reads, which are direct.
	jc_umount "$M"
	jc_mount "$B" "$M"
	dd if="$M/$cipher.wb" iflag=direct bs=4096 status=none | cmp - "$P/rand" ||
		fail "$cipher: small reads after a remount read back wrong"
	cmp "$P/rand" "$M/$cipher.wb" || fail "$cipher: the file reads back wrong after a remount"
	jc_umount "$M"
	ok "$cipher: 8 MiB through the writeback cache: $CACHED backing pages cached, reads back whole"

	# 2. --cached-backing: every page goes through the cache.
	jc_mount "$B" "$M" --cipher "$cipher" --cached-backing
	cp "$P/rand" "$M/$cipher.cached"
	sync "$M/$cipher.cached"
	f=$B/$cipher.cached
	c=$(cached_pages "$f") a=$(all_pages "$f")
	[ "$c" -ge $((a * 9 / 10)) ] || fail "$cipher --cached-backing: only $c of $a backing pages cached"
	jc_umount "$M"
	ok "$cipher --cached-backing: $c of $a backing pages cached"

	# 3. Write-through: each write reaches the daemon as made, mixed
	# small and large (mixed_writes); the same dd commands on a plain
	# file are the model.
	jc_mount "$B" "$M" --cipher "$cipher" --write-through
	t=$M/$cipher.mixed model=$P/$cipher.mixed
	mixed_writes "$t"
	mixed_writes "$model"
	cmp "$model" "$t" || fail "$cipher: mixed writes read back wrong through the mount"
	jc_umount "$M"
	jc_mount "$B" "$M"
	cmp "$model" "$t" || fail "$cipher: mixed writes read back wrong after a remount"
	jc_umount "$M"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	jc_mount "$B" "$M"
	cmp "$model" "$t" || fail "$cipher: mixed writes read back wrong from the disk"
	cmp "$P/rand" "$M/$cipher.wb" || fail "$cipher: the writeback file reads back wrong from the disk"
	assert_not_cached "$B/$cipher.wb" "$cipher: after reading it, the large reads were not direct"
	jc_umount "$M"
	ok "$cipher: large writes at odd offsets over dirty cached blocks read back as on a plain file"
	ok "$cipher: read from the disk through the mount, $CACHED backing pages cached"

	"$JCFS" cat "$B/$cipher.mixed" | cmp - "$model" || fail "$cipher: cat disagrees with the mount"
	assert_log_clean "$cipher"
done

# 4. A file held open for reading, its direct descriptor opened by large
# reads, gets a writer: its writes go direct and read back whole. (Root's
# backing descriptors are all read-write; reopening a read-only one for a
# writer is unit.content's.)
jc_mount "$B" "$M"
cp "$P/rand" "$P/ro.model"
exec 3<"$M/chachapoly.wb"
head -c $((3 << 20)) <&3 >/dev/null
dd if=/dev/urandom of="$P/patch" bs=1M count=2 status=none
for dst in "$M/chachapoly.wb" "$P/ro.model"; do
	dd if="$P/patch" of="$dst" bs=1M seek=3 conv=notrunc status=none
done
sync "$M/chachapoly.wb"
exec 3<&-
jc_umount "$M"
jc_mount "$B" "$M"
cmp "$P/ro.model" "$M/chachapoly.wb" || fail "a write to a file open read-only elsewhere reads back wrong"
jc_umount "$M"
assert_not_cached "$B/chachapoly.wb" "a writer after a reader: its writes were not direct"
ok "a writer after a reader: writes direct, reads back whole"

expect_exit 0 "$JCFS" fsck "$B"
assert_encrypted "$B"
ok "fsck clean, every file encrypted"

# 5. An adopted store: a large plaintext file encrypted in place at its
# first change (its new state, direct descriptor and all, replaces the
# old), then another file written and the first read again, so that a
# descriptor closed twice -- and then reused -- would show.
A=$JC_TMP/adopted MA=$JC_TMP/ma
mkdir -p "$A"
cp "$P/rand" "$A/plain"
cp "$P/rand" "$P/plain.model"
jc_mount "$A" "$MA" --adopt
head -c $((2 << 20)) "$P/rand" >>"$MA/plain"
head -c $((2 << 20)) "$P/rand" >>"$P/plain.model"
sync "$MA/plain"
cp "$P/rand" "$MA/other"
sync "$MA/other"
cmp "$P/plain.model" "$MA/plain" || fail "adopted: the file encrypted in place reads back wrong"
jc_umount "$MA"
jc_mount "$A" "$MA" --adopt
cmp "$P/plain.model" "$MA/plain" || fail "adopted: the file encrypted in place reads back wrong after a remount"
cmp "$P/rand" "$MA/other" || fail "adopted: the other file reads back wrong"
jc_umount "$MA"
[ "$(head -c 4 "$A/plain")" = JCFS ] || fail "adopted: the file was not encrypted in place"
assert_log_clean "adopted"
ok "adopted: a large plaintext file encrypted in place at its first write, reads back whole"

# The option's -o form, and its refusal by the tools.
jc_mount "$B" "$M" -o cached_backing
cmp "$P/rand" "$M/aes.wb"
jc_umount "$M"
expect_exit 2 "$JCFS" fsck --cached-backing "$B"
expect_output_contains "applies to mount only"
ok "-o cached_backing mounts; fsck --cached-backing is a usage error"

# 6. A backing filesystem that refuses the direct I/O of 4 KiB pages: XFS
# with 16 KiB sectors on a loop device with 16 KiB logical blocks (a
# kernel with block sizes above the page size, in the block layer and in
# XFS; 6.18 here). A file's direct I/O is tried where its offsets happen
# to be 16 KiB-aligned, and its first refusal turns it off for the file:
# the refused part of the write is written again through the cache in the
# same job, the refused read redone from the cache. Everything must read
# back whole, and the backing files' pages end up in the cache (where
# direct I/O is accepted they do not: section 1).
X=$JC_TMP/xfs XB=$JC_TMP/xfs/store XM=$JC_TMP/xm
xfs_loop=
# Runs before lib.sh's own unmounts: the jetcryptfs mount on top first.
xfs_stop() {
	jc_is_mounted "$XM" && { fusermount3 -u "$XM" || fusermount3 -uz "$XM"; }
	mountpoint -q "$X" && { umount "$X" || umount -l "$X"; }
	[ -z "$xfs_loop" ] || losetup -d "$xfs_loop"
}
JC_CLEANUP_HOOKS+=(xfs_stop)
xfs_start() {
	command -v mkfs.xfs >/dev/null || { why="mkfs.xfs not installed"; return 1; }
	truncate -s 400M "$JC_TMP/xfs.img"
	xfs_loop=$(losetup -f --show --sector-size 16384 "$JC_TMP/xfs.img" 2>"$JC_TMP/losetup.err") ||
		{ why="losetup --sector-size 16384: $(cat "$JC_TMP/losetup.err")"; xfs_loop=; return 1; }
	why=$(mkfs.xfs -q -b size=16384 -s size=16384 "$xfs_loop" 2>&1) || return 1
	mkdir -p "$X"
	why=$(mount "$xfs_loop" "$X" 2>&1) || return 1
}
if ! xfs_start; then
	echo "skip: no filesystem that refuses 4 KiB direct I/O here: ${why:-?}"
	exit 0
fi
dd if=/dev/zero of="$X/probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null &&
	fail "XFS with 16 KiB sectors accepted a 4 KiB direct write: nothing here refuses"

# assert_all_cached FILE WHAT: nine tenths of the backing FILE's pages or
# more are in the page cache.
assert_all_cached() {
	local c a
	c=$(cached_pages "$1") a=$(all_pages "$1")
	[ "$c" -ge $((a * 9 / 10)) ] || fail "$2: only $c of $a backing pages cached"
}

for cipher in chachapoly aes; do
	jc_mount "$XB" "$XM" --cipher "$cipher"
	cp "$P/rand" "$XM/$cipher.wb"
	sync "$XM/$cipher.wb"
	assert_all_cached "$XB/$cipher.wb" "$cipher: refused direct writes"
	jc_umount "$XM"
	jc_mount "$XB" "$XM" --cipher "$cipher" --write-through
	mixed_writes "$XM/$cipher.mixed"
	jc_umount "$XM"
done
sync
echo 3 >/proc/sys/vm/drop_caches
jc_mount "$XB" "$XM"
for cipher in chachapoly aes; do
	# Direct reads through the mount, whose errors the kernel cannot
	# hide by reading again page by page, as it does for readahead.
	dd if="$XM/$cipher.wb" iflag=direct bs=1M status=none | cmp - "$P/rand" ||
		fail "$cipher: refused direct I/O: the file reads back wrong"
	cmp "$P/$cipher.mixed" "$XM/$cipher.mixed" ||
		fail "$cipher: refused direct I/O: mixed writes read back wrong"
	assert_all_cached "$XB/$cipher.wb" "$cipher: refused direct reads"
done
# A writer after a reader whose direct reads were refused.
cp "$P/rand" "$P/xfs.model"
dd if="$P/patch" of="$P/xfs.model" bs=1M seek=3 conv=notrunc status=none
exec 3<"$XM/chachapoly.wb"
head -c $((3 << 20)) <&3 >/dev/null
dd if="$P/patch" of="$XM/chachapoly.wb" bs=1M seek=3 conv=notrunc status=none
sync "$XM/chachapoly.wb"
exec 3<&-
jc_umount "$XM"
sync
echo 3 >/proc/sys/vm/drop_caches
jc_mount "$XB" "$XM"
cmp "$P/xfs.model" "$XM/chachapoly.wb" || fail "refused direct I/O: a writer after a reader reads back wrong"
jc_umount "$XM"
expect_exit 0 "$JCFS" fsck "$XB"
assert_encrypted "$XB"
assert_log_clean "refused direct I/O"
ok "a filesystem refusing 4 KiB direct I/O: writes and reads fall back to the cache, read back whole, fsck clean"
