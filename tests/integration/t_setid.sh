#!/usr/bin/env bash
# Owners, groups and set-id bits as a local filesystem gives them, checked
# side by side with a plain directory on the test's own filesystem, on an
# allow_other mount whose daemon runs as root and hands every new object to
# its creator. In a set-group-ID directory new objects of another user take
# the directory's group (a new directory the bit too), files, directories,
# FIFOs and symlinks alike; a new file keeps the set-id bits it was created
# with, less S_ISGID with group execute for a creator outside the group.
# A write, truncate or fallocate by an unprivileged caller clears the
# set-id bits a plain disk clears.
. "$(dirname "$0")/lib.sh"

MKOBJ=$JC_TOOLS/mkobj
[ -x "$MKOBJ" ] || fail "mkobj helper not found at $MKOBJ"
as_root() { "$@"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# nobody, and a member of group root (the group of the directories here)
as_member() { setpriv --reuid=nobody --regid=nogroup --groups=0 "$@"; }
as_nobody true 2>/dev/null || fail "cannot run commands as nobody (setpriv)"
chmod 755 "$JC_TMP"            # others may walk to the mount point

B=$JC_TMP/b M=$JC_TMP/m P=$JC_TMP/plain
mkdir "$P"
jc_mount "$B" "$M" -o allow_other

# mk WHO KIND PATH MODE: mkobj as WHO, which must succeed.
mk() {
	local who=$1 out
	shift
	out=$($who "$MKOBJ" "$@") || fail "mkobj $* as $who failed: $out"
	[ "$out" = ok ] || fail "mkobj $* as $who: $out"
}

# Everything made in one directory, as "name mode owner:group" lines.
created() {
	local d=$1
	mkdir "$d/sg" "$d/pub"
	chmod 2777 "$d/sg"
	chmod 777 "$d/pub"
	mk as_nobody file "$d/sg/f" 644
	mk as_nobody file "$d/sg/gx" 2755        # outside the group: S_ISGID goes
	mk as_nobody file "$d/sg/ug" 6755
	mk as_nobody file "$d/sg/gnx" 2745       # no group execute: S_ISGID stays
	mk as_member file "$d/sg/member" 6755    # in the group: both stay
	mk as_nobody dir "$d/sg/d" 755
	mk as_nobody dir "$d/sg/d/sub" 700
	mk as_nobody file "$d/sg/d/sub/f" 600
	mk as_nobody fifo "$d/sg/p" 640
	as_nobody ln -s f "$d/sg/l"
	mk as_member dir "$d/sg/md" 750
	mk as_root file "$d/sg/root" 6755
	mk as_nobody file "$d/pub/u" 6755        # the creator's own group: both stay
	mk as_nobody dir "$d/pub/d" 3777         # mkdir drops S_ISGID when asked
	mk as_nobody fifo "$d/pub/p" 1777
	(cd "$d" && find sg pub -mindepth 1 -printf '%p %M %u:%g\n' | sort)
}

want=$(created "$P")
got=$(created "$M")
[ "$got" = "$want" ] || fail "new objects differ from a plain directory's:
$(diff <(echo "$want") <(echo "$got"))"
# What the plain disk gives, spelled out: the comparison above means
# nothing if the reference is not what a local filesystem does.
for line in "sg/f -rw-r--r-- nobody:root" "sg/gx -rwxr-xr-x nobody:root" "sg/ug -rwsr-xr-x nobody:root" \
	"sg/gnx -rwxr-Sr-x nobody:root" "sg/member -rwsr-sr-x nobody:root" "sg/d drwxr-sr-x nobody:root" \
	"sg/d/sub drwx--S--- nobody:root" "sg/p prw-r----- nobody:root" "sg/l lrwxrwxrwx nobody:root" \
	"pub/u -rwsr-sr-x nobody:nogroup"; do
	grep -qxF "$line" <<<"$got" || fail "the mount lacks \"$line\": $got"
done
[ "$(stat -c '%U:%G %a' "$B/sg/d/sub")" = "nobody:root 2700" ] ||
	fail "the backing directory of sg/d/sub is $(stat -c '%U:%G %a' "$B/sg/d/sub")"
ok "set-group-ID directories: another user's files, directories, FIFOs and symlinks take its group, directories its bit"
ok "new files keep their set-id bits as on a plain disk (S_ISGID less for a creator outside the group)"

# A write, truncate or fallocate by a caller without CAP_FSETID clears
# S_ISUID, and S_ISGID where the group may execute or the caller is not in
# the file's group; root keeps both. The kernel marks writes and truncates
# for the daemon to do it (FUSE_HANDLE_KILLPRIV_V2); fallocate carries no
# mark, and the daemon decides from the caller.
changed() {
	local d=$1 m op who f
	mkdir "$d/k"
	chmod 777 "$d/k"
	for m in 6666 6676 2666 4666 6766; do
		for op in write dwrite trunc falloc otrunc; do
			for who in as_nobody as_member as_root; do
				f=$d/k/$m.$op.${who#as_}
				echo data >"$f"
				chmod "$m" "$f"
				case $op in
				write) $who sh -c "echo more >>'$f'" ;;
				dwrite) $who dd if=/dev/zero of="$f" bs=4096 count=1 oflag=direct conv=notrunc status=none ;;
				trunc) $who truncate -s 100 "$f" ;;
				falloc) $who fallocate -l 65536 "$f" ;;
				otrunc) $who sh -c ": >'$f'" ;;
				esac
				echo "$m.$op.${who#as_} $(stat -c %a "$f")"
			done
		done
	done
}
want=$(changed "$P")
got=$(changed "$M")
[ "$got" = "$want" ] || fail "set-id bits after writes differ from a plain directory's:
$(diff <(echo "$want") <(echo "$got"))"
for line in "6666.falloc.nobody 666" "6666.falloc.member 2666" "6666.falloc.root 6666" "6676.falloc.member 676" \
	"6666.write.nobody 666" "6666.write.member 2666" "2666.trunc.nobody 666" "6666.dwrite.nobody 666"; do
	grep -qxF "$line" <<<"$got" || fail "the mount lacks \"$line\": $got"
done
ok "write, direct write, truncate, O_TRUNC and fallocate clear set-id bits as on a plain disk"

jc_umount "$M"
