#!/usr/bin/env bash
# Installs every Debian package that building jetcryptfs and running its whole
# test suite need, makes sure FUSE is usable, and installs the Node packages of
# the NATS tests when they are present. Idempotent: a second run only checks.
# Runs as root (CI and developer machines are root); uses sudo otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

packages=(
	build-essential cmake pkg-config
	libfuse3-dev fuse3 libsodium-dev libssl-dev libtss2-dev check
	nats-server
	swtpm swtpm-tools tpm2-tools libtss2-tcti-swtpm0 libtss2-tcti-device0
	xxd attr acl psmisc procps
	xfsprogs                        # t_direct: a filesystem that refuses 4 KiB direct I/O
	curl iproute2
	man-db systemd                  # t_system: man -l, groff; systemd-analyze verify
	clang libclang-rt-14-dev        # tests/fuzz: libFuzzer + sanitizer runtimes
	valgrind                        # t_hygiene: leak check of a mount/unmount cycle
	dpkg-dev bash-completion        # t_package: dpkg-shlibdeps, dpkg-gencontrol; the completion loader
)

# Node: keep an existing node >= 18 (it may come from another repository,
# with its own npm); Debian's nodejs/npm would conflict with or downgrade it.
node_major() {
	node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}
if ! command -v node >/dev/null 2>&1; then
	packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done

# apt-get update before any install: the package lists on a fresh machine
# may be absent or stale. Retried once because mirrors hiccup. Nothing to
# install, nothing to update: a second run only checks.
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: apt-get update"
	$SUDO apt-get update -qq || { sleep 5; $SUDO apt-get update -qq; }
	echo "setup: installing ${missing[*]}"
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "setup: all Debian packages present"
fi

# Checked after the install: Debian 12's own nodejs is 18.
if command -v node >/dev/null 2>&1 && [ "$(node_major)" -lt 18 ]; then
	echo "setup: warning: node $(node --version) is older than 18; the NATS tests may fail" >&2
fi

# FUSE: the module may be built in or loadable; only /dev/fuse matters.
if [ ! -e /dev/fuse ]; then
	$SUDO modprobe fuse 2>/dev/null || true
fi
if [ ! -c /dev/fuse ]; then
	echo "setup: error: /dev/fuse does not exist; jetcryptfs needs FUSE" >&2
	echo "setup: load the fuse module (modprobe fuse) or, in a container," >&2
	echo "setup: pass the device in (--device /dev/fuse --cap-add SYS_ADMIN)" >&2
	exit 1
fi

# Node packages of the NATS client tests, when that suite is present.
if [ -f tests/nats/package.json ]; then
	if command -v npm >/dev/null 2>&1; then
		stamp=tests/nats/node_modules/.package-lock.json
		if [ -f "$stamp" ] && [ "$stamp" -nt tests/nats/package.json ] &&
		   { [ ! -f tests/nats/package-lock.json ] || [ "$stamp" -nt tests/nats/package-lock.json ]; }; then
			echo "setup: tests/nats/node_modules is up to date"
		elif [ -f tests/nats/package-lock.json ]; then
			echo "setup: npm ci in tests/nats"
			(cd tests/nats && npm ci --no-audit --no-fund --loglevel=error)
		else
			echo "setup: npm install in tests/nats"
			(cd tests/nats && npm install --no-audit --no-fund --loglevel=error)
		fi
	else
		echo "setup: error: tests/nats/package.json exists but npm is missing" >&2
		exit 1
	fi
fi

echo "setup: done"
