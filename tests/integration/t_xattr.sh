#!/usr/bin/env bash
# Extended attributes: user.* values are encrypted on the backing file and
# bound to the file (its xattr id, user.jetcryptfs.id) and to their name.
# Through the mount: values of every size up to the limit (an empty one,
# 60 KiB, the largest, one byte more is E2BIG), the size query, ERANGE, a
# directory and an empty file (no header), internal names hidden and
# refused, security.* and trusted.* passed through in the clear. On the
# backing side: no plaintext in any value; a value moved to another file
# or another name reads as EIO, logged once. Values survive rename, hard
# links, truncation, the first write of an empty file and a remount; key
# rotation with prev_key, and rekey, which re-encrypts them. fsck names a
# tampered value and a plaintext one in a strict store, which encrypt then
# encrypts. In an adopted store plaintext values read as they are, the
# mount's own encryption of a plaintext file keeps them, and encrypt keeps
# and encrypts them. A backing filesystem that runs out of xattr space
# says ENOSPC through the mount.
. "$(dirname "$0")/lib.sh"

FSOP=$JC_TOOLS/fsop
[ -x "$FSOP" ] || fail "fsop helper not found at $FSOP"

# expect_fsop WANT ARGS...: fsop prints WANT.
expect_fsop() {
	local want=$1 got
	shift
	got=$("$FSOP" "$@") || fail "fsop $* failed: $got"
	[ "$got" = "$want" ] || fail "fsop $*: got $got, want $want"
}

# xval FILE NAME: the value as getfattr prints it, or the error.
xval() {
	getfattr --absolute-names --only-values -n "$2" "$1" 2>&1
}
# bhex FILE NAME: the stored value on the backing side, 0x...
bhex() {
	getfattr --absolute-names -e hex -n "$2" "$1" 2>/dev/null | sed -n "s/^$2=//p"
}
expect_value() {
	local got
	got=$(xval "$1" "$2") || fail "reading $2 of $1: $got"
	[ "$got" = "$3" ] || fail "$2 of $1 reads \"$got\", want \"$3\""
}
expect_eio() {
	local got
	got=$(xval "$1" "$2") && fail "$2 of $1 read as \"$got\", want an I/O error"
	grep -q "Input/output error" <<<"$got" || fail "$2 of $1: $got, want an I/O error"
}

# The main store on a tmpfs: ext4 (without ea_inode) keeps at most a
# block's worth of xattrs per inode, tmpfs takes values of 64 KiB.
T=$JC_TMP/tmpfs B=$JC_TMP/tmpfs/b M=$JC_TMP/m
mkdir -p "$T"
mount -t tmpfs -o size=256m tmpfs "$T"
mkdir -p "$B"
touch "$T/probe"
setfattr -n user.probe -v "$(head -c 60000 /dev/zero | tr '\0' p)" "$T/probe" 2>/dev/null ||
	fail "tmpfs here takes no 60 KiB user xattrs (kernel before 6.6?)"
rm "$T/probe"

SECRET=TOP-SECRET-xattr-7c1d
jc_mount "$B" "$M"
echo data >"$M/f"
setfattr -n user.secret -v "$SECRET" "$M/f"
setfattr -n user.empty -v "" "$M/f"
expect_fsop ok xattr-set "$M/f" user.big 61440
expect_fsop ok xattr-set "$M/f" user.max 65480
expect_fsop E2BIG xattr-set "$M/f" user.over 65481
expect_value "$M/f" user.secret "$SECRET"
expect_value "$M/f" user.empty ""
expect_fsop 61440 xattr-get "$M/f" user.big 0
expect_fsop 61440 xattr-get "$M/f" user.big 65536
expect_fsop 65480 xattr-get "$M/f" user.max 65480
expect_fsop 0 xattr-get "$M/f" user.empty 0
expect_fsop ERANGE xattr-get "$M/f" user.big 61439
expect_fsop ENODATA xattr-get "$M/f" user.none 0
mkdir "$M/d"
setfattr -n user.dir -v dir-value "$M/d"
: >"$M/empty"
setfattr -n user.e -v empty-file-value "$M/empty"
[ "$(stat -c %s "$B/empty")" = 0 ] || fail "an xattr gave the empty file a header"
expect_value "$M/d" user.dir dir-value
expect_value "$M/empty" user.e empty-file-value
ok "values: empty, 60 KiB, 65480 bytes (one more is E2BIG), size query, ERANGE; a directory, an empty file"

names=$(getfattr --absolute-names -d -m - "$M/f")
for n in user.secret user.empty user.big user.max; do
	grep -q "^$n=" <<<"$names" || fail "listxattr lacks $n: $names"
done
! grep -q jetcryptfs <<<"$names" || fail "listxattr shows an internal name: $names"
expect_fsop ENODATA xattr-get "$M/f" user.jetcryptfs.id 0
expect_exit 1 setfattr -n user.jetcryptfs.id -v x "$M/f"
expect_output_contains "Operation not permitted"
expect_exit 1 setfattr -n user.jetcryptfs.other -v x "$M/d"
expect_exit 1 setfattr -x user.jetcryptfs.id "$M/f"
[ -n "$(bhex "$B/f" user.jetcryptfs.id)" ] || fail "the xattr id was removed through the mount"
ln -s f "$M/sl"
expect_exit 1 setfattr -h -n user.x -v 1 "$M/sl"
ok "internal names hidden and refused; user.* refused on a symlink (by the kernel)"

setfattr -n security.jcfs -v sec-plain "$M/f"
setfattr -n trusted.jcfs -v trusted-plain "$M/f"
expect_value "$B/f" security.jcfs sec-plain
expect_value "$B/f" trusted.jcfs trusted-plain
expect_value "$M/f" security.jcfs sec-plain
ok "security.* and trusted.* pass through as they are"

# No plaintext value on the backing side, in any encoding getfattr has.
dump=$(getfattr --absolute-names -d -m - -e text "$B/f" "$B/d" "$B/empty"; getfattr --absolute-names -d -m - -e hex "$B/f" "$B/d" "$B/empty")
for s in "$SECRET" dir-value empty-file-value abcdefghijklmnopqrstuvwxyz \
	"$(printf %s "$SECRET" | xxd -p)" "$(printf abcdefghijklmnopqrstuvwxyz | xxd -p)"; do
	! grep -qF -- "$s" <<<"$dump" || fail "plaintext \"$s\" in a backing xattr: $(grep -F -- "$s" <<<"$dump" | cut -c1-200)"
done
assert_no_plaintext "$B" "$SECRET" dir-value empty-file-value abcdefghijklmnopqrstuvwxyz
for n in user.secret user.empty user.big user.max; do
	case $(bhex "$B/f" "$n") in 0x4a435856*) ;; *) fail "backing $n does not start with JCXV" ;; esac
done
ok "backing values are ciphertext (JCXV ...), no plaintext in getfattr -d -m - of the backing files"

# Values moved on the backing side: to another file, to another name.
echo other >"$M/g"
setfattr -n user.secret -v other-value "$M/g"
mark=$(jc_log_mark)
setfattr -n user.secret -v "$(bhex "$B/f" user.secret)" "$B/g"
setfattr -n user.moved -v "$(bhex "$B/f" user.secret)" "$B/f"
expect_eio "$M/g" user.secret
expect_eio "$M/g" user.secret
expect_eio "$M/f" user.moved
expect_value "$M/f" user.secret "$SECRET"
n=$(jc_log_since "$mark" | grep -c "$B/g: xattr user.secret: authentication failed" || true)
[ "$n" = 1 ] || fail "a bad value read twice is logged $n times: $(jc_log_since "$mark")"
jc_log_since "$mark" | grep -q "$B/f: xattr user.moved: authentication failed" ||
	fail "a value moved to another name is not logged: $(jc_log_since "$mark")"
ok "a value moved to another file or name reads as EIO, logged once with file and name"

# fsck names them; removing them through the mount needs no key.
jc_umount "$M"
expect_exit 1 "$JCFS" fsck "$B"
expect_output_contains "$B/g: xattr user.secret: authentication failed"
expect_output_contains "$B/f: xattr user.moved: authentication failed"
jc_mount "$B" "$M"
setfattr -x user.secret "$M/g"
setfattr -x user.moved "$M/f"
ok "fsck names bad values; setfattr -x removes them"

# What a file's identity survives.
mv "$M/f" "$M/f2"
ln "$M/f2" "$M/f3"
expect_value "$M/f3" user.secret "$SECRET"
truncate -s 0 "$M/f2"
expect_value "$M/f2" user.secret "$SECRET"
echo after-truncate >"$M/f2"
expect_value "$M/f3" user.secret "$SECRET"
expect_fsop 61440 xattr-get "$M/f2" user.big 65536
echo first-bytes >"$M/empty"
expect_value "$M/empty" user.e empty-file-value
mv "$M/d" "$M/d2"
expect_value "$M/d2" user.dir dir-value
jc_umount "$M"
jc_mount "$B" "$M"
expect_value "$M/f2" user.secret "$SECRET"
expect_value "$M/f2" user.empty ""
expect_fsop 65480 xattr-get "$M/f2" user.max 65536
expect_value "$M/d2" user.dir dir-value
expect_value "$M/empty" user.e empty-file-value
rm "$M/f3"      # rekey converts no file with two links
ok "values survive rename, hard link, truncate to 0, an empty file's first write, remount"

# A plaintext value, as a store made before values were encrypted holds:
# EIO in this strict store, named by fsck, encrypted by encrypt.
setfattr -n user.legacy -v legacy-plain "$B/f2"
mark=$(jc_log_mark)
expect_eio "$M/f2" user.legacy
jc_log_since "$mark" | grep -q "$B/f2: xattr user.legacy: not encrypted, in a strict store" ||
	fail "a plaintext value in a strict store is not logged: $(jc_log_since "$mark")"
jc_umount "$M"
expect_exit 1 "$JCFS" fsck "$B"
expect_output_contains "$B/f2: xattr user.legacy: not encrypted, in a strict store"
expect_exit 0 "$JCFS" encrypt "$B"
expect_output_contains "encrypted 1 user.* xattr values"
case $(bhex "$B/f2" user.legacy) in 0x4a435856*) ;; *) fail "encrypt left user.legacy plaintext" ;; esac
expect_exit 0 "$JCFS" fsck "$B"
jc_mount "$B" "$M"
expect_value "$M/f2" user.legacy legacy-plain
ok "a plaintext value in a strict store: EIO, named by fsck, encrypted by encrypt"

# A tampered value: one bit of its tag.
v=$(bhex "$B/f2" user.secret)
last=${v: -1}
flip=$(printf '%x' $((0x$last ^ 1)))
setfattr -n user.secret -v "${v%?}$flip" "$B/f2"
expect_eio "$M/f2" user.secret
jc_umount "$M"
expect_exit 1 "$JCFS" fsck "$B"
expect_output_contains "$B/f2: xattr user.secret: authentication failed"
setfattr -n user.secret -v "$v" "$B/f2"
expect_exit 0 "$JCFS" fsck "$B"
ok "a flipped bit: EIO, fsck names it; put back, clean again"

# Key rotation: prev_key reads the old values, new ones go under the new
# key, rekey re-encrypts the old ones, and the new key alone reads all.
KEY1=$JS_KEY KEY2=$(jc_genkey)
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n}\n' "$KEY2" "$KEY1" >"$JC_TMP/rotate.conf"
printf 'jetstream {\n  key: "%s"\n}\n' "$KEY2" >"$JC_TMP/new.conf"
chmod 600 "$JC_TMP/rotate.conf" "$JC_TMP/new.conf"
jc_mount "$B" "$M" -c "$JC_TMP/rotate.conf"
expect_value "$M/f2" user.secret "$SECRET"
expect_value "$M/d2" user.dir dir-value
setfattr -n user.new -v under-key-2 "$M/f2"
old_id=$(bhex "$B/f2" user.secret | cut -c19-34) new_id=$(bhex "$B/f2" user.new | cut -c19-34)
[ "$old_id" != "$new_id" ] || fail "the new value is under the old key id $old_id"
jc_umount "$M"
expect_exit 0 "$JCFS" rekey -c "$JC_TMP/rotate.conf" "$B"
expect_output_contains "re-encrypted"
for n in user.secret user.empty user.big user.max user.legacy; do
	[ "$(bhex "$B/f2" "$n" | cut -c19-34)" = "$new_id" ] || fail "rekey left $n under key id $(bhex "$B/f2" "$n" | cut -c19-34)"
done
[ "$(bhex "$B/d2" user.dir | cut -c19-34)" = "$new_id" ] || fail "rekey left the directory's value under the old key"
expect_exit 0 "$JCFS" fsck -c "$JC_TMP/new.conf" "$B"
jc_mount "$B" "$M" -c "$JC_TMP/new.conf"
expect_value "$M/f2" user.secret "$SECRET"
expect_value "$M/f2" user.new under-key-2
expect_value "$M/f2" user.empty ""
expect_fsop 61440 xattr-get "$M/f2" user.big 65536
expect_value "$M/d2" user.dir dir-value
expect_value "$M/empty" user.e empty-file-value
jc_umount "$M"
ok "key rotation: prev_key reads old values, rekey re-encrypts them, the new key alone reads all"

# An adopted store: plaintext values read as they are; the mount's own
# encryption of a plaintext file at its first write keeps them; encrypt
# keeps and encrypts them, on files and directories.
A=$JC_TMP/tmpfs/adopt MA=$JC_TMP/ma
mkdir -p "$A/sub"
echo plain-one >"$A/p1"
echo plain-two >"$A/p2"
setfattr -n user.a -v adopted-a "$A/p1"
setfattr -n user.b -v "" "$A/p1"
setfattr -n security.jcfs -v sec-a "$A/p1"
setfattr -n user.c -v adopted-c "$A/p2"
setfattr -n user.s -v adopted-dir "$A/sub"
jc_mount "$A" "$MA" --adopt
expect_value "$MA/p1" user.a adopted-a
echo appended >>"$MA/p2"
expect_value "$MA/p2" user.c adopted-c
[ "$(head -c 4 "$A/p2")" = JCFS ] || fail "the first write did not encrypt p2"
jc_umount "$MA"
expect_exit 0 "$JCFS" fsck "$A"
expect_output_contains "plaintext user.* xattr values (adopted store)"
expect_exit 0 "$JCFS" encrypt "$A"
[ "$(head -c 4 "$A/p1")" = JCFS ] || fail "encrypt did not encrypt p1"
for f in p1:user.a p1:user.b p2:user.c sub:user.s; do
	case $(bhex "$A/${f%%:*}" "${f#*:}") in 0x4a435856*) ;; *) fail "encrypt left ${f#*:} of ${f%%:*} plaintext" ;; esac
done
expect_value "$A/p1" security.jcfs sec-a
expect_exit 0 "$JCFS" fsck "$A"
jc_mount "$A" "$MA"
expect_value "$MA/p1" user.a adopted-a
expect_value "$MA/p1" user.b ""
expect_value "$MA/p2" user.c adopted-c
expect_value "$MA/sub" user.s adopted-dir
expect_value "$MA/p1" security.jcfs sec-a
[ "$(cat "$MA/p1")" = plain-one ] || fail "p1 reads $(cat "$MA/p1")"
jc_umount "$MA"
ok "adopted store: plaintext values read, kept by the mount's conversion, kept and encrypted by encrypt"

# A backing filesystem out of xattr space: ext4 without ea_inode keeps an
# inode's xattrs in the inode and one block.
E=$JC_TMP/e ME=$JC_TMP/me
mkdir -p "$E"
case $(stat -f -c %T "$E") in
ext2/ext3)
	jc_mount "$E" "$ME"
	echo x >"$ME/full"
	expect_fsop ENOSPC xattr-set "$ME/full" user.big 61440
	i=0
	while [ "$("$FSOP" xattr-set "$ME/full" "user.n$i" 500)" = ok ]; do
		i=$((i + 1))
		[ $i -lt 1000 ] || fail "1000 values of 500 bytes fit on one ext4 inode"
	done
	expect_fsop ENOSPC xattr-set "$ME/full" "user.n$i" 500
	expect_fsop 500 xattr-get "$ME/full" user.n0 4096
	jc_umount "$ME"
	ok "ext4 out of xattr space: ENOSPC through the mount after $i values; the others still read"
	;;
*)
	echo "skip: $E is not on ext4; the ENOSPC check needs one"
	;;
esac
