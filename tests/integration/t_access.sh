#!/usr/bin/env bash
# Access: without allow_other only the mounting user can enter the mount
# (another user, root included, cannot); with allow_other the mount has
# default_permissions, so the kernel enforces file modes for every user;
# files and directories land in the backing directory with the modes the
# application asked for, less its umask, and belong to their creator; the
# store descriptor is 0600, also when re-created.
. "$(dirname "$0")/lib.sh"

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
as_nobody true 2>/dev/null || fail "cannot run commands as nobody (setpriv)"
chmod 755 "$JC_TMP"            # others may walk to the mount points

B=$JC_TMP/b M=$JC_TMP/m

# ---- without allow_other ----
jc_mount "$B" "$M"
echo root-only >"$M/f"
chmod 644 "$M/f"
[ "$(stat -c %a "$B")" = 755 ] || fail "backing root is not 0755"
expect_exit 2 as_nobody ls "$M"
expect_output_contains "Permission denied"
expect_exit 1 as_nobody cat "$M/f"
expect_output_contains "Permission denied"
grep -q "allow_other\|default_permissions" < <(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts) &&
	fail "a plain mount has allow_other or default_permissions"
jc_umount "$M"
ok "without allow_other: another user cannot enter, even where modes would allow it"

# A mount made by another user: root cannot enter it either.
if as_nobody test -x "$JCFS"; then
	NB=$JC_TMP/nb NM=$JC_TMP/nm NR=$JC_TMP/nrun
	mkdir -p "$NB" "$NM" "$NR"
	chown nobody:nogroup "$NB" "$NM" "$NR"
	# An explicit --readahead it may not set earns a warning on the
	# terminal, not a failure.
	as_nobody "$JCFS" mount --pid-file "$NR/pid" --readahead 2048 "$NB" "$NM" 2>"$JC_TMP/nobody.err" ||
		fail "mount as nobody failed: $(cat "$JC_TMP/nobody.err")"
	JC_MOUNTS+=("$NM")
	grep -q "read_ahead_kb: cannot set readahead: Permission denied" "$JC_TMP/nobody.err" ||
		fail "no warning that nobody cannot set readahead: $(cat "$JC_TMP/nobody.err")"
	npid=$(cat "$NR/pid")
	JC_PIDS+=("$npid")
	as_nobody sh -c "echo mine >'$NM/f'" || fail "the mounting user cannot write its mount"
	expect_exit 1 cat "$NM/f"
	expect_output_contains "Permission denied"
	as_nobody fusermount3 -u "$NM"
	jc_wait_pid "$npid" 20 || fail "the nobody daemon did not exit"
	ok "a mount of nobody without allow_other: root cannot enter it"
fi

# ---- with allow_other ----
jc_mount "$B" "$M" -o allow_other
opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts)
grep -q default_permissions <<<"$opts" || fail "allow_other without default_permissions: $opts"
grep -q allow_other <<<"$opts" || fail "mount options lack allow_other: $opts"
mkdir -m 700 "$M/private"
mkdir -m 1777 "$M/shared"
echo secret >"$M/secret" && chmod 600 "$M/secret"
echo public >"$M/public" && chmod 644 "$M/public"
[ "$(as_nobody cat "$M/public")" = public ] || fail "nobody cannot read a 0644 file"
expect_exit 1 as_nobody cat "$M/secret"
expect_output_contains "Permission denied"
expect_exit 2 as_nobody sh -c "echo x >>'$M/public'"
expect_output_contains "Permission denied"
expect_exit 2 as_nobody ls "$M/private"
expect_output_contains "Permission denied"
expect_exit 1 as_nobody touch "$M/newfile"
expect_output_contains "Permission denied"
expect_exit 1 as_nobody chmod 666 "$M/public"
expect_output_contains "Operation not permitted"
as_nobody sh -c "umask 022; echo hers >'$M/shared/hers'; mkdir '$M/shared/hd'"
[ "$(stat -c '%U %a' "$B/shared/hers")" = "nobody 644" ] ||
	fail "a file nobody created is $(stat -c '%U %a' "$B/shared/hers") in the backing directory"
[ "$(stat -c '%U %a' "$B/shared/hd")" = "nobody 755" ] ||
	fail "a directory nobody created is $(stat -c '%U %a' "$B/shared/hd") in the backing directory"
[ "$(as_nobody cat "$M/shared/hers")" = hers ] || fail "nobody cannot read back its own file"
ok "allow_other: default_permissions on; modes enforced for another user; its files are its own"

# POSIX ACLs: access is checked against the modes alone, so the mount
# refuses ACLs (an ACL it stored would not be enforced: a deny entry
# would deny nothing) and hides those the backing files carry.
expect_exit 1 setfacl -m u:nobody:--- "$M/public"
expect_output_contains "Operation not supported"
[ "$(as_nobody cat "$M/public")" = public ] || fail "nobody cannot read a 0644 file after a refused ACL"
setfacl -m u:nobody:r "$B/secret"
setfattr -n user.kept -v yes "$M/secret"
names=$(getfattr -d -m - --absolute-names "$M/secret" 2>&1)
! grep -q posix_acl <<<"$names" || fail "the mount shows a backing file's ACL: $names"
grep -q 'user.kept="yes"' <<<"$names" || fail "the mount hides other xattrs too: $names"
expect_exit 1 getfattr -n system.posix_acl_access "$M/secret"
expect_output_contains "Operation not supported"
expect_exit 1 as_nobody cat "$M/secret"
expect_output_contains "Permission denied"
ok "POSIX ACLs: refused (EOPNOTSUPP), those of backing files hidden; modes decide"

# ---- creation modes ----
for u in 022 027 077 002; do
	(
		umask $u
		echo x >"$M/f.$u"
		mkdir "$M/d.$u"
		mkfifo "$M/p.$u"
	)
	want_f=$(printf '%o' $((0666 & ~8#$u))) want_d=$(printf '%o' $((0777 & ~8#$u)))
	for n in f p; do
		got=$(stat -c %a "$B/$n.$u")
		[ "$got" = "$want_f" ] || fail "umask $u: $n.$u is $got in the backing directory, want $want_f"
		[ "$(stat -c %a "$M/$n.$u")" = "$want_f" ] || fail "umask $u: $n.$u shows as $(stat -c %a "$M/$n.$u")"
	done
	got=$(stat -c %a "$B/d.$u")
	[ "$got" = "$want_d" ] || fail "umask $u: d.$u is $got in the backing directory, want $want_d"
done
# A chmod passes through, special bits included.
chmod 4751 "$M/f.022"
[ "$(stat -c %a "$B/f.022")" = 4751 ] || fail "chmod 4751 gives $(stat -c %a "$B/f.022") in the backing directory"
jc_umount "$M"
ok "backing files, directories and FIFOs get the mode asked for less the umask; chmod passes through"

# ---- the store descriptor ----
[ "$(stat -c %a "$B/.jetcryptfs")" = 600 ] || fail "descriptor is $(stat -c %a "$B/.jetcryptfs"), not 0600"
rm "$B/.jetcryptfs"
old_umask=$(umask)
umask 0
jc_mount "$B" "$M"
umask "$old_umask"
[ "$(stat -c %a "$B/.jetcryptfs")" = 600 ] || fail "re-created descriptor is $(stat -c %a "$B/.jetcryptfs"), not 0600"
[ "$(stat -c %a "$JC_LOG")" = 600 ] || fail "the log file is $(stat -c %a "$JC_LOG"), not 0600"
jc_umount "$M"
ok "descriptor 0600 (also when re-created under umask 0), log file 0600"
