#!/usr/bin/env bash
# TPM key source timings: how long `jetcryptfs mount -c CONF` takes when it
# seals a new key (first mount: key generated, sealed, checked by an unseal,
# keys file written) and when it unseals an existing keys file (every later
# mount), each from start until the mount is ready, as medians of RUNS runs;
# with the same mount with a plain key as the baseline. By default it starts
# a swtpm of its own on loopback; TCTI=device:/dev/tpmrm0 measures a real
# TPM instead (transient objects only; nothing is stored in the TPM).
#
#   scripts/bench-tpm.sh                  # build/jetcryptfs, swtpm, 7 runs
#   RUNS=15 JCFS=/path/to/jetcryptfs scripts/bench-tpm.sh
#
# Output, one line each (times in ms), for scripts/bench.sh to pick up:
#   tpm seal+mount    median 41.2 ms  min 38.0  max 55.1  (7 runs, swtpm)
#   tpm unseal+mount  median 18.3 ms  ...
#   plain-key mount   median 6.1 ms   ...
# Needs root (FUSE mounts), swtpm and tpm2-tools (scripts/setup.sh).
set -euo pipefail

# rmtree DIR: rm -rf, after taking off the immutable attribute that each
# mount sets on its bare mount point (jetcryptfs(1), --no-guard).
rmtree() {
	find "$1" -xdev -type d -print0 2>/dev/null | xargs -0r chattr -i 2>/dev/null || true
	rm -rf "$1"
}

cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
JCFS=${JCFS:-${BUILD_DIR:-build}/jetcryptfs}
[ -x "$JCFS" ] || { echo "bench-tpm: $JCFS not found; run scripts/build.sh or set JCFS" >&2; exit 1; }
JCFS=$(realpath "$JCFS")
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-tpm: RUNS must be a positive integer" >&2; exit 2; }
export TSS2_LOG=all+none
unset JS_KEY

T=$(mktemp -d /tmp/jcfs-bench-tpm.XXXXXX)
M=$T/m
SWTPM_PID=
PORT=
MOUNT_PID=

# The swtpm daemon is not our child: once dead it may linger as a zombie.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

umount_wait() {
	local i
	for ((i = 0; i < 50; i++)); do
		fusermount3 -u "$M" 2>/dev/null && break
		sleep 0.1
	done
	if [ -n "$MOUNT_PID" ]; then
		for ((i = 0; i < 100; i++)); do
			alive "$MOUNT_PID" || break
			sleep 0.05
		done
	fi
	MOUNT_PID=
}

cleanup() {
	set +e
	if awk -v m="$M" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
		umount_wait
	fi
	if [ -n "$SWTPM_PID" ] && alive "$SWTPM_PID"; then
		# An orderly shutdown first, else swtpm counts a failed authorization.
		tpm2_shutdown -T "swtpm:host=127.0.0.1,port=$PORT" -c >/dev/null 2>&1
		kill -TERM "$SWTPM_PID" 2>/dev/null
	fi
	rmtree "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${TCTI:-}" ]; then
	tpm_name=$TCTI
else
	for tool in swtpm tpm2_shutdown tpm2_getrandom; do
		command -v "$tool" >/dev/null || { echo "bench-tpm: $tool not installed (scripts/setup.sh)" >&2; exit 1; }
	done
	mkdir -p "$T/tpm"
	for ((i = 0; i < 100; i++)); do
		PORT=$((30000 + (RANDOM % 1000) * 2))
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null && continue
		swtpm socket --tpm2 --tpmstate dir="$T/tpm" \
			--server type=tcp,port=$PORT,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear --pid file="$T/swtpm.pid" \
			--daemon 2>/dev/null && break
		PORT=
	done
	[ -n "$PORT" ] || { echo "bench-tpm: cannot start swtpm" >&2; exit 1; }
	SWTPM_PID=$(cat "$T/swtpm.pid")
	TCTI="swtpm:host=127.0.0.1,port=$PORT"
	tpm_name=swtpm
	for ((i = 0; i < 50; i++)); do
		tpm2_getrandom -T "$TCTI" 4 >/dev/null 2>&1 && break
		sleep 0.1
	done
fi

export BENCH_TPM_PWD="bench password $RANDOM$RANDOM"
mkdir -p "$M"

# conf NAME: a config for backing dir $T/NAME.b and keys file $T/NAME.keys.
conf() {
	cat >"$T/$1.conf" <<EOF
jetstream {
  store_dir: "$M"
  backing_dir: "$T/$1.b"
  tpm {
    keys_file: "$T/$1.keys"
    encryption_password: \$BENCH_TPM_PWD
    pcr: 23
    tcti: "$TCTI"
  }
}
EOF
	mkdir -p "$T/$1.b"
}

# timed_mount ARGS...: mounts; US = microseconds until it was ready.
timed_mount() {
	local t0 t1 out rc=0
	t0=$(date +%s%N)
	out=$("$JCFS" mount --pid-file "$T/pid" --log-file "$T/log" "$@" 2>&1) || rc=$?
	t1=$(date +%s%N)
	if [ "$rc" -ne 0 ]; then
		echo "bench-tpm: mount $* failed with status $rc: $out" >&2
		exit 1
	fi
	MOUNT_PID=$(cat "$T/pid")
	US=$(((t1 - t0) / 1000))
}

# report LABEL MICROSECONDS...: median, min and max in ms.
report() {
	local label=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v l="$label" -v t="$tpm_name" '
		{ v[NR] = $1 }
		END {
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%-17s median %.1f ms  min %.1f  max %.1f  (%d runs, %s)\n", l, m / 1000, v[1] / 1000, v[NR] / 1000, NR, t
		}'
}

seal=() unseal=() plain=() US=0
for ((r = 0; r < RUNS; r++)); do
	conf "s$r"
	timed_mount -c "$T/s$r.conf"
	seal+=("$US")
	[ -f "$T/s$r.keys" ] || { echo "bench-tpm: first mount wrote no keys file" >&2; exit 1; }
	echo x >"$M/x"
	umount_wait
done
for ((r = 0; r < RUNS; r++)); do
	timed_mount -c "$T/s0.conf"
	unseal+=("$US")
	[ "$(cat "$M/x")" = x ] || { echo "bench-tpm: data does not read back after unseal" >&2; exit 1; }
	umount_wait
done
key=$(head -c 32 /dev/urandom | base64)
mkdir -p "$T/plain.b"
for ((r = 0; r < RUNS; r++)); do
	JS_KEY=$key timed_mount "$T/plain.b" "$M"
	plain+=("$US")
	umount_wait
done

report "tpm seal+mount" "${seal[@]}"
report "tpm unseal+mount" "${unseal[@]}"
tpm_name="no TPM" report "plain-key mount" "${plain[@]}"
