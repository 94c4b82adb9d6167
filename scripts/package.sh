#!/usr/bin/env bash
# Builds the Debian package of jetcryptfs and prints its path on the last
# line. A Release build with Debian's hardening flags (dpkg-buildflags) goes
# into its own build directory, `cmake --install` stages it under /usr, and
# the Debian parts are added around it as debhelper would: the binary
# stripped, the man page and the docs over 4 KiB gzipped (Debian policy
# 12.3), a copyright file and a changelog, Depends computed by
# dpkg-shlibdeps from the real binary plus fuse3 (mount.fuse3 and
# fusermount3), md5sums, and maintainer scripts that tell a running systemd
# of the unit. dpkg-deb makes the .deb, owned by root.
#
# The version is the project's (CMake's, as `jetcryptfs --version` prints
# it) plus, in a git tree, "+gitN.gHASH" (N commits, HASH the commit;
# ".dirty" when tracked files differ from it), unless the commit is tagged
# with that version: "+" sorts after the release, and N keeps the snapshots
# of one branch in order. Outside git it is the plain version.
#
# Installs the Debian packages it needs with apt-get, only those missing.
# Safe to run twice: the build is incremental, the staging tree is made
# anew and the .deb replaced.
set -euo pipefail

usage() {
	cat <<EOF
usage: scripts/package.sh [--build-dir DIR] [--out DIR] [--lintian]

  --build-dir DIR   build and stage in DIR (default: build-deb in the source tree);
                    it is configured for the package (Release, no tests, Debian's
                    flags), so give it a directory of its own
  --out DIR         write the .deb to DIR (default: the build directory)
  --lintian         check the .deb with lintian (installed if missing) and show
                    what it says; its errors fail the script
EOF
}

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-deb
out=
lintian=0
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) [ $# -ge 2 ] || { echo "package: --build-dir needs a directory" >&2; exit 2; }
		build=$(realpath -m -- "$2"); shift ;;
	--out) [ $# -ge 2 ] || { echo "package: --out needs a directory" >&2; exit 2; }
		out=$(realpath -m -- "$2"); shift ;;
	--lintian) lintian=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "package: unknown argument $1 (see scripts/package.sh --help)" >&2; exit 2 ;;
	esac
	shift
done
out=${out:-$build}
cd "$src"

# ---- what the build needs -------------------------------------------------
needed=(build-essential cmake pkg-config dpkg-dev libfuse3-dev libsodium-dev libssl-dev libtss2-dev)
[ "$lintian" = 0 ] || needed+=(lintian)
missing=()
for p in "${needed[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "package: installing ${missing[*]}" >&2
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# ---- the build --------------------------------------------------------------
# Commit time as the build's date: the changelog's date and the files'
# times in the .deb (dpkg-deb clamps them to it) do not change between two
# builds of one commit.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
echo "package: building in $build" >&2
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJCFS_TESTS=OFF \
	-DJCFS_SANITIZE=OFF -DJCFS_TSAN=OFF -DCMAKE_INSTALL_PREFIX=/usr \
	-DJCFS_SYSTEMD_UNITDIR=/lib/systemd/system \
	-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$build" -j "$(nproc)" >&2

# ---- version and architecture -----------------------------------------------
first=$("$build/jetcryptfs" --version)
first=${first%%$'\n'*}
[[ $first =~ ^jetcryptfs\ ([0-9][0-9A-Za-z.+~]*)$ ]] ||
	{ echo "package: $build/jetcryptfs --version printed '$first', not 'jetcryptfs X.Y.Z'" >&2; exit 1; }
base=${BASH_REMATCH[1]}
version=$base
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	dirty=
	[ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] || dirty=.dirty
	tag=$(git -C "$src" describe --tags --exact-match HEAD 2>/dev/null || true)
	if [ -n "$dirty" ] || { [ "$tag" != "v$base" ] && [ "$tag" != "$base" ]; }; then
		version+="+git$(git -C "$src" rev-list --count HEAD).g$(git -C "$src" rev-parse --short=7 HEAD)$dirty"
	fi
	from="git commit $(git -C "$src" rev-parse --short=12 HEAD)${dirty:+ with local changes}"
else
	from="a source tree outside git"
fi
arch=$(dpkg --print-architecture)
maintainer="${DEBFULLNAME:-jetcryptfs maintainers} <${DEBEMAIL:-maintainers@jetcryptfs.invalid}>"

# ---- the staging tree ---------------------------------------------------------
# debhelper's layout: dpkg-shlibdeps and dpkg-gencontrol expect the files
# in debian/PACKAGE below the directory they run in.
work=$build/deb
root=$work/debian/jetcryptfs
doc=$root/usr/share/doc/jetcryptfs
rm -rf "$work"
mkdir -p "$root/DEBIAN"
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
for f in usr/bin/jetcryptfs usr/share/man/man1/jetcryptfs.1 lib/systemd/system/jetcryptfs@.service \
	usr/share/bash-completion/completions/jetcryptfs usr/share/doc/jetcryptfs/README.md \
	usr/share/doc/jetcryptfs/examples/nats-server-jetcryptfs.conf; do
	[ -f "$root/$f" ] || { echo "package: cmake --install did not install /$f" >&2; exit 1; }
done
grep -q '^ExecStart=/usr/bin/jetcryptfs ' "$root/lib/systemd/system/jetcryptfs@.service" ||
	{ echo "package: the staged unit does not run /usr/bin/jetcryptfs" >&2; exit 1; }
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/jetcryptfs"

first_year=$(git -C "$src" log --reverse --format=%cd --date=format:%Y 2>/dev/null | head -n 1 || true)
years=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
[ -z "$first_year" ] || [ "$first_year" = "$years" ] || years=$first_year-$years
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: jetcryptfs
Comment: The jetcryptfs sources do not state a license yet. Until they do,
 this package grants no rights beyond those the law gives by default.

Files: *
Copyright: $years the jetcryptfs authors
License: not-stated
 No license has been chosen for jetcryptfs yet.
EOF
mkdir -p "$work/debian"
cat >"$work/debian/changelog" <<EOF
jetcryptfs ($version) unstable; urgency=medium

  * Built by scripts/package.sh from $from.

 -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")
EOF
# A native package (no Debian revision): its changelog is changelog.gz.
gzip -9n -c "$work/debian/changelog" >"$doc/changelog.gz"
gzip -9n "$root/usr/share/man/man1/jetcryptfs.1"
find "$doc" -type f -size +4k ! -name '*.gz' ! -name copyright -exec gzip -9n {} +

cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# A running systemd learns of jetcryptfs@.service at once.
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# A running systemd forgets jetcryptfs@.service at once.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
EOF
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/bin/jetcryptfs" "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

# ---- control: Depends from the binary itself --------------------------------
cat >"$work/debian/control" <<EOF
Source: jetcryptfs
Section: utils
Priority: optional
Maintainer: $maintainer

Package: jetcryptfs
Architecture: any
Depends: \${shlibs:Depends}, fuse3
Description: encrypted FUSE filesystem for NATS JetStream stores
 jetcryptfs keeps a directory encrypted on disk and shows it decrypted at a
 mount point, so that an unmodified nats-server can keep its JetStream
 store_dir there: every file is stored as authenticated ciphertext,
 XChaCha20-Poly1305 or AES-256-GCM per 4 KiB block, and tampering reads as
 an I/O error, never as wrong data.
 .
 Keys come from a file, the environment, the NATS-syntax configuration or a
 TPM. The package has the command (mount, fsck, encrypt, rekey and the other
 tools), its man page, the systemd unit jetcryptfs@.service that mounts a
 store before nats-server starts, and bash completion; mount -t
 fuse.jetcryptfs and fstab lines work through mount.fuse3.
EOF
(cd "$work" && dpkg-shlibdeps -Tdebian/jetcryptfs.substvars "debian/jetcryptfs/usr/bin/jetcryptfs" &&
	dpkg-gencontrol -pjetcryptfs -ldebian/changelog -cdebian/control -Tdebian/jetcryptfs.substvars \
		-Pdebian/jetcryptfs -DArchitecture="$arch")
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0r md5sum) \
	>"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

mkdir -p "$out"
deb=$out/jetcryptfs_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2

if [ "$lintian" = 1 ]; then
	echo "package: lintian $deb" >&2
	lintian --info --display-info "$deb" >&2 || { echo "package: lintian reports errors" >&2; exit 1; }
fi
echo "$deb"
