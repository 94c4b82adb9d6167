#!/usr/bin/env bash
# The Debian package: scripts/package.sh builds it (twice, to the same
# bytes); dpkg-deb shows the files, modes, owner and Depends it must have;
# dpkg -i installs it; the installed /usr/bin/jetcryptfs --version names the
# libraries it runs with, man -w finds the gzipped page, mount -t
# fuse.jetcryptfs finds the binary through mount.fuse3 and a file written
# through the mount reads back; the installed bash completion completes;
# dpkg -r and dpkg -P remove every file the package put there. The package
# is never left installed: the cleanup purges it, whatever happened.
# Budget: well under a minute once the package's build directory exists.
#
# mount(8) runs mount.fuse3 without PATH, so its shell finds `jetcryptfs`
# in /usr/local/sbin:/usr/local/bin before /usr/bin. The test runs in a
# private mount namespace with an empty directory over /usr/local, so that
# a jetcryptfs installed there (cmake --install's default prefix) cannot
# stand in for the package's; nothing outside the namespace changes.
if [ -z "${JC_PACKAGE_NS:-}" ]; then
	exec env JC_PACKAGE_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi

source "$(dirname "$0")/lib.sh"

status_of() {
	dpkg-query -W -f='${Status}' jetcryptfs 2>/dev/null || true
}
case $(status_of) in
"" | *not-installed) ;;
*) fail "the jetcryptfs package is on this machine ($(status_of)); this test installs and purges its own: dpkg -P jetcryptfs first" ;;
esac

B=$JC_TMP/backing M=$JC_TMP/mnt

# Whatever happens: unmount what the installed binary serves, then purge.
purge_package() {
	if jc_is_mounted "$M"; then
		umount "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null || umount -l "$M"
	fi
	case $(status_of) in
	"" | *not-installed) ;;
	*) dpkg -P jetcryptfs >>"$JC_TMP/dpkg.log" 2>&1 || echo "FAIL: could not purge the jetcryptfs package" >&2 ;;
	esac
}
JC_CLEANUP_HOOKS+=(purge_package)

# The upstream part of a Debian version: no epoch, no Debian revision.
upstream() {
	local v=${1#*:}
	echo "${v%-*}"
}

# The package that holds the library file PATH, by the name the loader
# gave or the file it names (under /lib or /usr/lib: usr is merged).
owner() {
	local p real
	real=$(realpath "$1")
	for p in "$1" "$real" "${real#/usr}"; do
		dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
	done
	return 1
}

# ---- scripts/package.sh ------------------------------------------------------
# Its own build directory (Release, Debian's hardening flags) beside the
# test's build, so that a second run of the test rebuilds nothing.
PKGBUILD=${BUILDDIR:+$BUILDDIR/deb}
PKGBUILD=${PKGBUILD:-$JC_TMP/build}
package() {
	"$SRCDIR/scripts/package.sh" --build-dir "$PKGBUILD" --out "$JC_TMP/out" 2>"$JC_TMP/package.log" | tail -n 1
}
DEB=$(package) || fail "scripts/package.sh failed: $(tail -n 5 "$JC_TMP/package.log")"
[ -f "$DEB" ] || fail "scripts/package.sh printed '$DEB', not the path of a .deb"
cp "$DEB" "$JC_TMP/first.deb"
DEB2=$(package) || fail "scripts/package.sh failed the second time: $(tail -n 5 "$JC_TMP/package.log")"
[ "$DEB2" = "$DEB" ] || fail "a second run made $DEB2, not $DEB"
cmp -s "$DEB" "$JC_TMP/first.deb" || fail "two runs of scripts/package.sh on one tree made different packages"
ok "scripts/package.sh builds $(basename "$DEB"), the same bytes when run twice"

# ---- what is in it -------------------------------------------------------------
field() {
	dpkg-deb -f "$DEB" "$1"
}
ours=$("$JCFS" --version)
ours=${ours%%$'\n'*}
base=${ours#jetcryptfs }
[ "$(field Package)" = jetcryptfs ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
[[ $(field Version) =~ ^${base//./\\.}(\+git[0-9]+\.g[0-9a-f]{7,}(\.dirty)?)?$ ]] ||
	fail "Version: $(field Version) is not $base or $base+gitN.gHASH"
[ "$(basename "$DEB")" = "jetcryptfs_$(field Version)_$(field Architecture).deb" ] || fail "file name $(basename "$DEB")"
depends=", $(field Depends),"
# Every library the binary itself needs (NEEDED), through the package that
# holds the file the loader picks, must be in Depends; so must fuse3.
bin=$PKGBUILD/jetcryptfs
needed=$(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')
[ -n "$needed" ] || fail "objdump found no NEEDED libraries in $bin"
for lib in $needed; do
	path=$(ldd "$bin" | awk -v l="$lib" '$1 == l { print $3 }')
	[ -n "$path" ] || fail "ldd does not resolve $lib"
	pkg=$(owner "$path") || fail "no package holds $path ($lib)"
	[[ $depends == *", $pkg "* || $depends == *", $pkg,"* ]] || fail "Depends lacks $pkg (for $lib): $depends"
done
[[ $depends == *", fuse3,"* || $depends == *", fuse3 "* ]] || fail "Depends lacks fuse3: $depends"
ok "control: Package, Version $(field Version), Architecture, Depends with $(wc -w <<<"$needed") libraries and fuse3"

dpkg-deb --contents "$DEB" >"$JC_TMP/contents"
awk '$2 != "root/root"' "$JC_TMP/contents" | grep . && fail "files not owned by root/root"
files=$(awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' "$JC_TMP/contents" | sort)
want=$(printf '%s\n' /usr/bin/jetcryptfs /usr/share/man/man1/jetcryptfs.1.gz \
	/lib/systemd/system/jetcryptfs@.service /usr/share/bash-completion/completions/jetcryptfs \
	/usr/share/doc/jetcryptfs/copyright /usr/share/doc/jetcryptfs/changelog.gz \
	/usr/share/doc/jetcryptfs/examples/nats-server-jetcryptfs.conf
	for f in "$SRCDIR"/README.md "$SRCDIR"/docs/*.md; do
		n=/usr/share/doc/jetcryptfs/$(basename "$f")
		# Debian policy 12.3: documentation over 4 KiB is gzipped.
		if [ "$(stat -c %s "$f")" -gt 4096 ]; then echo "$n.gz"; else echo "$n"; fi
	done | sort)
[ "$files" = "$(sort <<<"$want")" ] || fail "the package's files differ: $(diff <(sort <<<"$want") - <<<"$files" || true)"
grep -q '^-rwxr-xr-x .* \./usr/bin/jetcryptfs$' "$JC_TMP/contents" || fail "/usr/bin/jetcryptfs is not mode 0755"
[ "$(awk '$1 ~ /^-/ && $1 != "-rw-r--r--"' "$JC_TMP/contents" | grep -vc '/usr/bin/jetcryptfs$')" = 0 ] ||
	fail "files other than the binary not mode 0644"
dpkg-deb -x "$DEB" "$JC_TMP/x"
X=$JC_TMP/x
grep -q '^ExecStart=/usr/bin/jetcryptfs mount ' "$X/lib/systemd/system/jetcryptfs@.service" ||
	fail "the packaged unit does not run /usr/bin/jetcryptfs: $(grep ExecStart= "$X/lib/systemd/system/jetcryptfs@.service")"
zcat "$X/usr/share/man/man1/jetcryptfs.1.gz" | cmp -s - "$SRCDIR/docs/jetcryptfs.1" || fail "the packaged man page is not docs/jetcryptfs.1"
cmp -s "$X/usr/share/bash-completion/completions/jetcryptfs" "$SRCDIR/contrib/jetcryptfs.bash-completion" ||
	fail "the packaged completion is not contrib/jetcryptfs.bash-completion"
sections=$(readelf -S "$X/usr/bin/jetcryptfs")
! grep -q '\.symtab' <<<"$sections" || fail "the packaged binary is not stripped"
ok "contents: binary, gzipped man page, unit running /usr/bin/jetcryptfs, completion, docs, example, copyright"

# ---- dpkg -i --------------------------------------------------------------------
mkdir "$JC_TMP/empty"
mount --bind "$JC_TMP/empty" /usr/local
dpkg -i "$DEB" >"$JC_TMP/dpkg.log" 2>&1 || fail "dpkg -i failed: $(tail -n 5 "$JC_TMP/dpkg.log")"
[ "$(status_of)" = "install ok installed" ] || fail "after dpkg -i the package is '$(status_of)'"
dpkg -L jetcryptfs >"$JC_TMP/listed"
ok "dpkg -i"

out=$(/usr/bin/jetcryptfs --version) || fail "/usr/bin/jetcryptfs --version failed"
[ "$(head -n 1 <<<"$out")" = "jetcryptfs $base" ] || fail "--version's first line: $(head -n 1 <<<"$out")"
# The libraries as the loader finds them now: the versions of the packages
# that hold them.
runtime() {
	local path pkg
	path=$(ldd /usr/bin/jetcryptfs | awk -v l="$1" '$1 == l { print $3 }')
	pkg=$(owner "$path") || fail "no package holds $path ($1)"
	upstream "$(dpkg-query -W -f='${Version}' "$pkg")"
}
for want in "libfuse $(runtime libfuse3.so.3)" "libsodium $(runtime libsodium.so.23)" \
	"OpenSSL $(runtime libcrypto.so.3) " \
	"tpm2-tss $(pkg-config --modversion tss2-esys) (built against"; do
	grep -qF -- "$want" <<<"$out" || fail "--version lacks '$want': $out"
done
[ "$(wc -l <<<"$out")" = 5 ] || fail "--version prints $(wc -l <<<"$out") lines, not 5: $out"
ok "--version: $(tr '\n' ';' <<<"$out")"

[ "$(env -u MANPATH man -w jetcryptfs)" = /usr/share/man/man1/jetcryptfs.1.gz ] ||
	fail "man -w jetcryptfs: $(env -u MANPATH man -w jetcryptfs 2>&1)"
page=$(env -u MANPATH MANWIDTH=80 man jetcryptfs 2>/dev/null) || fail "man jetcryptfs failed"
grep -q 'jetcryptfs mount' <<<"$page" || fail "man jetcryptfs shows no page: $(head -n 3 <<<"$page")"
ok "man -w jetcryptfs: /usr/share/man/man1/jetcryptfs.1.gz"

# ---- mount -t fuse.jetcryptfs through mount.fuse3 ----------------------------
mkdir -p "$B" "$M"
(umask 077 && jc_genkey >"$JC_TMP/key")
env -u JS_KEY mount -t fuse.jetcryptfs "$B" "$M" \
	-o "key_file=$JC_TMP/key,pid_file=$JC_TMP/pkg.pid,log_file=$JC_LOG" ||
	fail "mount -t fuse.jetcryptfs failed with status $?"
jc_is_mounted "$M" || fail "mount -t fuse.jetcryptfs exited 0 but nothing is mounted"
[ -s "$JC_TMP/pkg.pid" ] || fail "the mount wrote no pid file"
JC_PID=$(cat "$JC_TMP/pkg.pid")
JC_DAEMON[$M]=$JC_PID
JC_MOUNTS+=("$M")
[ "$(readlink "/proc/$JC_PID/exe")" = /usr/bin/jetcryptfs ] ||
	fail "the daemon runs $(readlink "/proc/$JC_PID/exe"), not /usr/bin/jetcryptfs"
awk -v m="$M" '$2 == m { print $3 }' /proc/self/mounts | grep -qx fuse.jetcryptfs || fail "$M is not fuse.jetcryptfs"
echo "packaged secret payload" >"$M/hello"
[ "$(cat "$M/hello")" = "packaged secret payload" ] || fail "the file written through the mount reads back wrong"
[ "$(head -c 4 "$B/hello")" = JCFS ] || fail "the backing file has no JCFS header"
assert_no_plaintext "$B" "packaged secret payload"
umount "$M" || fail "umount $M failed"
jc_wait_pid "$JC_PID" 20 || fail "daemon $JC_PID still running after umount"
unset "JC_DAEMON[$M]"
ok "mount -t fuse.jetcryptfs runs /usr/bin/jetcryptfs; write, read back, umount"

# ---- bash completion ------------------------------------------------------------
# complete LINE: the replies (one a line) of the completion for LINE, the
# cursor at its end, with COMP_WORDS split as bash splits it (at blanks and
# around runs of = and :). With bash-completion, its loader must find the
# installed file by the command's name.
cat >"$JC_TMP/complete.sh" <<'EOF'
mode=$1 line=$2
if [ "$mode" = loader ]; then
	source /usr/share/bash-completion/bash_completion
	_completion_loader jetcryptfs
else
	source /usr/share/bash-completion/completions/jetcryptfs
fi
[ "$(complete -p jetcryptfs)" = "complete -F _jetcryptfs jetcryptfs" ] || { echo "NOT REGISTERED: $(complete -p jetcryptfs 2>&1)"; exit 1; }
COMP_WORDS=()
for tok in $line; do
	while [[ $tok =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
		[ -z "${BASH_REMATCH[1]}" ] || COMP_WORDS+=("${BASH_REMATCH[1]}")
		COMP_WORDS+=("${BASH_REMATCH[2]}")
		tok=${BASH_REMATCH[3]}
	done
	[ -z "$tok" ] || COMP_WORDS+=("$tok")
done
[[ $line != *' ' ]] || COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
_jetcryptfs jetcryptfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
EOF
touch "$JC_TMP/backing.txt"
modes=(plain)
[ ! -f /usr/share/bash-completion/bash_completion ] || modes+=(loader)
for mode in "${modes[@]}"; do
	# expect_completion LINE WANT...: each WANT is one of the replies;
	# "!WORD" must not be one.
	expect_completion() {
		local line=$1 w got
		shift
		got=$(cd "$JC_TMP" && bash "$JC_TMP/complete.sh" "$mode" "$line" 2>&1) || fail "completion ($mode) of '$line': $got"
		for w in "$@"; do
			if [[ $w == !* ]]; then
				! grep -qxF -- "${w#!}" <<<"$got" || fail "completion ($mode) of '$line' offers ${w#!}: $got"
			else
				grep -qxF -- "$w" <<<"$got" || fail "completion ($mode) of '$line' lacks $w: $got"
			fi
		done
	}
	expect_completion "jetcryptfs " mount genkey inspect cat fsck encrypt rekey --version --help
	expect_completion "jetcryptfs fsck --" --json --quiet --strict --config --key-file '!--adopt' '!--cipher'
	expect_completion "jetcryptfs mount --" --adopt --no-guard --flush-interval --log-level --cipher '!--json'
	expect_completion "jetcryptfs mount --cipher " chachapoly aes
	expect_completion "jetcryptfs rekey --cipher a" aes '!chachapoly'
	expect_completion "jetcryptfs mount --log-level " error warning info debug
	expect_completion "jetcryptfs mount -o allow_other,key_f" allow_other,key_file=
	expect_completion "jetcryptfs mount -o allow_other,key_file=$JC_TMP/ke" "$JC_TMP/key"
	expect_completion "jetcryptfs mount -o log_level=de" debug
	expect_completion "jetcryptfs mount -o cipher=" chachapoly aes
	expect_completion "jetcryptfs $B $M -o ro,no" ro,nonempty ro,no_guard ro,noatime '!ro,ro'
	expect_completion "jetcryptfs fsck $JC_TMP/back" "$JC_TMP/backing" "!$JC_TMP/backing.txt"
	expect_completion "jetcryptfs cat $JC_TMP/ke" "$JC_TMP/key"
	expect_completion "jetcryptfs mount -c $JC_TMP/ke" "$JC_TMP/key"
	expect_completion "jetcryptfs genkey -" --help '!--json'
done
ok "bash completion (${modes[*]}): commands, options, --cipher, --log-level, -o words and values, files"

# ---- dpkg -r, dpkg -P: nothing left ----------------------------------------------
dpkg -r jetcryptfs >>"$JC_TMP/dpkg.log" 2>&1 || fail "dpkg -r failed: $(tail -n 5 "$JC_TMP/dpkg.log")"
dpkg -P jetcryptfs >>"$JC_TMP/dpkg.log" 2>&1 || fail "dpkg -P failed: $(tail -n 5 "$JC_TMP/dpkg.log")"
case $(status_of) in
"" | *not-installed) ;;
*) fail "after dpkg -r and -P the package is '$(status_of)'" ;;
esac
left=()
while read -r p; do
	[ -e "$p" ] || [ -L "$p" ] || continue
	# A directory stays if it is another package's or holds other files
	# (/lib may be a link to usr/lib: it is a directory here).
	if [ -d "$p" ] && { dpkg -S "$p" >/dev/null 2>&1 || [ -n "$(ls -A "$p")" ]; }; then
		continue
	fi
	left+=("$p")
done <"$JC_TMP/listed"
[ "${#left[@]}" -eq 0 ] || fail "left behind after dpkg -P: ${left[*]}"
[ "$(grep -c . "$JC_TMP/listed")" -gt 10 ] || fail "dpkg -L listed only $(cat "$JC_TMP/listed")"
[ ! -e /usr/share/doc/jetcryptfs ] || fail "/usr/share/doc/jetcryptfs left behind"
! ls /var/lib/dpkg/info/jetcryptfs.* >/dev/null 2>&1 || fail "dpkg still has $(ls /var/lib/dpkg/info/jetcryptfs.*)"
! env -u MANPATH man -w jetcryptfs >/dev/null 2>&1 || fail "man still finds a jetcryptfs page"
ok "dpkg -r and dpkg -P: none of the $(grep -c . "$JC_TMP/listed") paths dpkg -L listed is left"
