#!/usr/bin/env bash
# POSIX behaviours that nats-server and ordinary programs rely on, each
# checked on the mount: O_EXCL, rename over files and of directories,
# RENAME_NOREPLACE and RENAME_EXCHANGE, hard links sharing content, symlinks,
# FIFOs, chmod/chown/utimes, truncate up and down, statfs, xattrs, holes,
# O_APPEND, an O_WRONLY file read through another descriptor, reading an
# unlinked open file, large files written back in parallel, O_NOFOLLOW
# opens (gzip), that all of it survives a remount, and a read-only
# backing filesystem.
. "$(dirname "$0")/lib.sh"

FSOP=$JC_TOOLS/fsop
[ -x "$FSOP" ] || fail "fsop helper not found at $FSOP"
B=$JC_TMP/b M=$JC_TMP/m
jc_mount "$B" "$M"
cd "$M"

# expect_fsop WANT ARGS...: fsop prints "ok" or an errno name.
expect_fsop() {
	local want=$1 got
	shift
	got=$("$FSOP" "$@") || fail "fsop $* failed: $got"
	[ "$got" = "$want" ] || fail "fsop $*: got $got, want $want"
}
content() { cat "$1" 2>&1; }
expect_content() {
	[ "$(content "$1")" = "$2" ] || fail "$1 holds \"$(content "$1")\", want \"$2\""
}

# O_EXCL
expect_fsop ok excl excl.txt

# O_NOFOLLOW on files that are no symlinks (gzip opens so): open, create;
# on a symlink the kernel's ELOOP.
expect_fsop ok nofollow excl.txt r
expect_fsop ok nofollow excl.txt w
expect_fsop ok nofollow nofollow.txt c
[ "$(stat -c %s "$B/nofollow.txt")" = 0 ] || fail "O_NOFOLLOW create: backing file not empty"
seq 1000 >gz.txt
gzip -k gz.txt || fail "gzip on the mount failed"
[ "$(gunzip -c gz.txt.gz | md5sum)" = "$(seq 1000 | md5sum)" ] || fail "gzip's output reads back wrong"
ln -s gz.txt gz.link
expect_fsop ELOOP nofollow gz.link r
rm gz.txt gz.txt.gz gz.link nofollow.txt
ok "O_NOFOLLOW opens and creates of files; ELOOP on a symlink; gzip"
expect_fsop EEXIST excl excl.txt
ok "O_CREAT|O_EXCL on an existing file fails with EEXIST"

# rename over an existing file
echo old >target.txt
echo new >source.txt
mv -f source.txt target.txt
expect_content target.txt new
[ ! -e source.txt ] || fail "source of rename still exists"
ok "rename over an existing file"

# rename of a directory with contents (nats: streams/X -> streams/.X)
mkdir -p dir/sub/deeper
echo a >dir/a; echo b >dir/sub/b; echo c >dir/sub/deeper/c
mv dir dir2
[ ! -e dir ] || fail "renamed directory still exists"
expect_content dir2/a a
expect_content dir2/sub/b b
expect_content dir2/sub/deeper/c c
echo more >>dir2/sub/b
expect_content dir2/sub/b "b
more"
ok "rename of a directory with contents"

# rename over an empty directory; not over a non-empty one
mkdir emptydir
mv -T dir2 emptydir
expect_content emptydir/a a
mkdir -p full/x
expect_fsop ENOTEMPTY rename emptydir full
ok "rename of a directory over an empty one; ENOTEMPTY over a full one"

# RENAME_NOREPLACE and RENAME_EXCHANGE
echo one >one; echo two >two
expect_fsop EEXIST rename one two noreplace
expect_content one one
expect_content two two
expect_fsop ok rename one three noreplace
expect_content three one
expect_fsop ok rename three two exchange
expect_content three two
expect_content two one
expect_fsop ok rename three emptydir exchange
[ -d three ] && [ -f emptydir ] || fail "exchange of a file and a directory"
expect_content three/a a
expect_content emptydir two
ok "RENAME_NOREPLACE and RENAME_EXCHANGE"

# hard links share content, both ways, and one inode
printf 'first\n' >h1
ln h1 h2
printf 'second\n' >>h1
expect_content h2 "first
second"
printf 'third\n' >>h2
expect_content h1 "first
second
third"
[ "$(stat -c %h h1)" = 2 ] || fail "link count of h1 is $(stat -c %h h1)"
[ "$(stat -c %i h1)" = "$(stat -c %i h2)" ] || fail "hard links have different inode numbers"
# A rewrite in place through one name (O_TRUNC) shows through the other.
printf 'rewritten\n' >h2
expect_content h1 rewritten
rm h1
expect_content h2 rewritten
[ "$(stat -c %h h2)" = 1 ] || fail "link count after unlink is $(stat -c %h h2)"
ok "hard links"

# symlinks
echo pointed >pointee
ln -s pointee sym
[ "$(readlink sym)" = pointee ] || fail "readlink gave $(readlink sym)"
expect_content sym pointed
ln -s /nonexistent/target dangling
[ "$(readlink dangling)" = /nonexistent/target ] || fail "dangling symlink target"
[ "$(stat -c %F sym)" = "symbolic link" ] || fail "symlink type $(stat -c %F sym)"
ok "symlink and readlink"

# FIFO
mkfifo fifo
[ "$(stat -c %F fifo)" = fifo ] || fail "fifo has type $(stat -c %F fifo)"
(echo through-the-fifo >fifo) &
JC_PIDS+=("$!")
got=$(timeout 10 cat fifo) || fail "reading the fifo failed or hung"
[ "$got" = through-the-fifo ] || fail "fifo passed \"$got\""
ok "mkfifo"

# chmod, chown, touch -d
echo m >meta
chmod 640 meta
[ "$(stat -c %a meta)" = 640 ] || fail "chmod: mode $(stat -c %a meta)"
chown 1234:2345 meta
[ "$(stat -c %u:%g meta)" = 1234:2345 ] || fail "chown: $(stat -c %u:%g meta)"
touch -d "2001-02-03 04:05:06.789 UTC" meta
[ "$(stat -c %Y meta)" = 981173106 ] || fail "touch -d: mtime $(stat -c %Y meta)"
mkdir mdir
chmod 700 mdir
touch -d "2002-01-01 00:00:00 UTC" mdir
[ "$(stat -c %a:%Y mdir)" = 700:1009843200 ] || fail "directory mode/mtime $(stat -c %a:%Y mdir)"
ok "chmod, chown, touch -d"

# truncate up and down
head -c 10000 /dev/urandom >trunc.ref
cp trunc.ref trunc
truncate -s 5000 trunc
[ "$(stat -c %s trunc)" = 5000 ] || fail "truncate down: size $(stat -c %s trunc)"
cmp -n 5000 trunc trunc.ref || fail "truncate down changed the kept bytes"
truncate -s 20000 trunc
[ "$(stat -c %s trunc)" = 20000 ] || fail "truncate up: size $(stat -c %s trunc)"
cmp -n 5000 trunc trunc.ref || fail "truncate up changed the kept bytes"
cmp -s <(tail -c 15000 trunc) <(head -c 15000 /dev/zero) || fail "truncate up: extension is not zeros"
truncate -s 4096 trunc
truncate -s 4097 trunc
cmp -s <(head -c 4096 trunc) <(head -c 4096 trunc.ref) || fail "truncate at a block edge"
[ "$(tail -c 1 trunc | od -An -tx1 | tr -d ' ')" = 00 ] || fail "byte after a block-edge truncate is not zero"
truncate -s 0 trunc
[ "$(stat -c %s trunc)" = 0 ] || fail "truncate to 0"
ok "truncate up and down"

# statfs passed through
df -P "$M" >/dev/null || fail "df on the mount failed"
mnt_bytes=$(($(stat -f -c '%b * %S' "$M")))
bk_bytes=$(($(stat -f -c '%b * %S' "$B")))
[ "$mnt_bytes" -gt 0 ] || fail "statfs on the mount reports size 0"
[ "$((mnt_bytes / 1048576))" = "$((bk_bytes / 1048576))" ] ||
	fail "statfs size on the mount $mnt_bytes, on the backing fs $bk_bytes"
ok "df / statfs"

# xattrs, where the backing filesystem has user xattrs
touch "$JC_TMP/xattr-probe"
if setfattr -n user.probe -v 1 "$JC_TMP/xattr-probe" 2>/dev/null; then
	echo x >xa
	setfattr -n user.jcfs -v hello xa || fail "setfattr on the mount"
	[ "$(getfattr --only-values -n user.jcfs xa)" = hello ] || fail "getfattr gave $(getfattr -n user.jcfs xa 2>&1)"
	getfattr -d xa | grep -q '^user.jcfs=' || fail "listxattr lacks user.jcfs"
	setfattr -x user.jcfs xa || fail "removexattr"
	getfattr -n user.jcfs xa >/dev/null 2>&1 && fail "xattr still there after removal"
	ok "user xattrs"
else
	echo "skip: backing filesystem has no user xattrs"
fi

# sparse files: holes read as zeros
printf X | dd of=sparse bs=1 seek=1000000 status=none
[ "$(stat -c %s sparse)" = 1000001 ] || fail "sparse file size $(stat -c %s sparse)"
cmp -n 1000000 sparse /dev/zero || fail "hole does not read as zeros"
[ "$(tail -c 1 sparse)" = X ] || fail "byte after the hole"
printf Y | dd of=sparse bs=1 seek=500000 conv=notrunc status=none
cmp -n 500000 sparse /dev/zero || fail "hole before a write in the middle"
[ "$(dd if=sparse bs=1 skip=500000 count=1 status=none)" = Y ] || fail "byte written into the hole"
ok "sparse file"

# O_APPEND
printf 'line1\n' >app
printf 'line2\n' >>app
expect_content app "line1
line2"
expect_fsop ok append app "line3"
ok "O_APPEND appends"

# a file written through O_WRONLY, read through a second descriptor
expect_fsop ok wronly-read wo.txt "written write-only"
expect_content wo.txt "written write-only"
ok "O_WRONLY then read by another fd"

# an unlinked file stays readable and writable through an open descriptor
head -c 9000 /dev/urandom >gone.ref
cp gone.ref gone
exec 3<>gone
rm gone
[ ! -e gone ] || fail "unlinked file still visible"
cmp <(cat <&3) gone.ref || fail "unlinked open file reads differently"
exec 3<&-
ok "unlinked open file"

# large files: the kernel writes their pages back as several 1 MiB
# requests in flight at once, and here four writers also fill disjoint
# quarters of one file at the same time. Compared here and, read back
# through the daemon, after the remount below.
head -c $((32 << 20)) /dev/urandom >"$JC_TMP/big.ref"
cp "$JC_TMP/big.ref" big
pids=()
for q in 0 1 2 3; do
	dd if="$JC_TMP/big.ref" of=quarters bs=1M skip=$((q * 8)) seek=$((q * 8)) count=8 \
		conv=notrunc status=none &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a writer of quarters failed"
done
cmp big "$JC_TMP/big.ref" || fail "32 MiB file reads back differently"
cmp quarters "$JC_TMP/big.ref" || fail "file written in parallel quarters reads back differently"
ok "large files, written back in parallel requests"

# errors come through as themselves
expect_fsop ENOENT rename no-such-file x
rmdir full 2>/dev/null && fail "rmdir of a non-empty directory succeeded"
mkdir full 2>/dev/null && fail "mkdir over an existing directory succeeded"
ok "ENOENT, ENOTEMPTY, EEXIST"

# everything above persists across a remount
cd /
jc_umount "$M"
jc_mount "$B" "$M"
cd "$M"
expect_content target.txt new
expect_content emptydir two
expect_content h2 rewritten
[ "$(readlink sym)" = pointee ] || fail "symlink lost on remount"
[ "$(stat -c %F fifo)" = fifo ] || fail "fifo lost on remount"
[ "$(stat -c %a:%u:%g:%Y meta)" = 640:1234:2345:981173106 ] || fail "metadata lost on remount: $(stat -c %a:%u:%g:%Y meta)"
[ "$(stat -c %s sparse)" = 1000001 ] || fail "sparse size lost on remount"
cmp -n 500000 sparse /dev/zero || fail "hole lost on remount"
cmp big "$JC_TMP/big.ref" || fail "32 MiB file differs after remount"
cmp quarters "$JC_TMP/big.ref" || fail "file written in parallel quarters differs after remount"
expect_content app "line1
line2
line3"
cd /
jc_umount "$M"
assert_encrypted "$B"
assert_no_plaintext "$B" "written write-only" "rewritten" "line1" "line3" "pointed"
ok "state survives a remount; backing is ciphertext"

# truncate(2) to the size a file has still marks it changed, as ext4 does;
# with --write-through at once, and on disk in any case (the writeback
# cache keeps the kernel's own mtime until the inode is dropped).
for how in --write-through ""; do
	jc_mount "$B" "$M" $how
	printf abcd >"$M/same"
	touch -d @1000000000 "$M/same"
	perl -e 'truncate($ARGV[0], 4) or die "truncate: $!\n"' "$M/same"
	if [ -n "$how" ]; then
		[ "$(stat -c %Y "$M/same")" != 1000000000 ] || fail "truncate to the same size: mtime unchanged on the mount"
	fi
	jc_umount "$M"
	[ "$(stat -c %Y "$B/same")" != 1000000000 ] || fail "truncate to the same size${how:+ ($how)}: mtime unchanged on disk"
done
ok "truncate(2) to the same size updates mtime (on the mount with --write-through, on disk always)"

# A read-only backing filesystem (a snapshot, a backup mounted read-only):
# a mount with -o ro reads it; one without reads it too, and its writes
# fail with EROFS.
R=$JC_TMP/ro MR=$JC_TMP/mr
mkdir -p "$R"
mount --bind "$B" "$R"
mount -o remount,ro,bind "$R"
jc_mount "$R" "$MR" -o ro
cmp "$MR/big" "$JC_TMP/big.ref" || fail "read-only backing, -o ro: a file reads back wrong"
expect_content "$MR/target.txt" new
jc_umount "$MR"
jc_mount "$R" "$MR"
cmp "$MR/big" "$JC_TMP/big.ref" || fail "read-only backing: a file reads back wrong"
if (echo x >>"$MR/big") 2>"$JC_TMP/ro.err"; then
	fail "read-only backing: a write succeeded"
fi
grep -q "Read-only file system" "$JC_TMP/ro.err" || fail "read-only backing: the write failed with: $(cat "$JC_TMP/ro.err")"
jc_umount "$MR"
umount "$R"
ok "a read-only backing filesystem: read with and without -o ro; writes fail with EROFS"
