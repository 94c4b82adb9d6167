#!/usr/bin/env bash
# The performance benchmark of docs/PERFORMANCE.md: jetcryptfs side by side
# with what it competes with, on this machine, in one run. It installs the
# comparison points (Debian's nats-server, gocryptfs, fio; libfuse's
# passthrough_ll built from the libfuse3-dev examples), builds jetcryptfs and
# its bench tools, then runs every workload for every setup, alternating the
# setups within each round (and reversing their order every other round), and
# prints one markdown table of medians and a table of the targets with their
# ratios, plus the machine. Run as root (FUSE mounts, drop_caches).
#
#   scripts/bench.sh            # full run: 3 rounds, 512 MiB files (~12 min)
#   scripts/bench.sh --quick    # 2 rounds, smaller sizes (about 2 min)
#   scripts/bench.sh --rounds 5 --only publish,fio
#
# Options: --quick, --rounds N, --only LIST (publish, fio, append, crypto,
# memory, mount (a full-entropy key, then a few mounts with a passphrase,
# which Argon2id stretches), tpm), --setups LIST (a subset of the setups below),
# --no-install (use what is there), --keep (keep the work dir). BUILD_DIR picks the jetcryptfs build dir (default build);
# BENCH_DIR the parent of the work dir (default /var/tmp: a real disk).
# BASELINE=/path/to/jetcryptfs adds that build's two setups (before/after
# numbers side by side); JCFS_BIN replaces the build's jetcryptfs.
#
# Setups: plain (the backing disk itself), jc-chacha and jc-aes (jetcryptfs,
# default options), nats-chacha and nats-aes (nats-server's own encryption,
# cipher and key in its jetstream block, on the plain disk), gocryptfs
# (defaults) and passthrough_ll (libfuse's example, -o writeback: the same
# kernel cache jetcryptfs uses, and no crypto at all). The JetStream load
# comes from tests/bench/jspub.c, a C client speaking the NATS protocol (256
# messages in flight); the node client of the tests peaks at ~8k msg/s here,
# which is below a plain disk's rate, so it cannot measure this.
set -euo pipefail

# rmtree DIR: rm -rf, after taking off the immutable attribute that each
# mount sets on its bare mount point (jetcryptfs(1), --no-guard).
rmtree() {
	find "$1" -xdev -type d -print0 2>/dev/null | xargs -0r chattr -i 2>/dev/null || true
	rm -rf "$1"
}

# The whole script is one brace group, read before any of it runs: a full
# run takes a quarter of an hour, and bash reads a plain script as it goes,
# so editing this file (or checking out another version) mid-run would
# make it execute fragments of the new text.
{
cd "$(dirname "$0")/.."
quick=0 rounds='' only='' setups='' install=1 keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--rounds) rounds=$2; shift ;;
	--only) only=$2; shift ;;
	--setups) setups=$2; shift ;;
	--no-install) install=0 ;;
	--keep) keep=1 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "bench: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (FUSE mounts, drop_caches)" >&2; exit 1; }

if [ "$quick" = 1 ]; then
	: "${rounds:=2}"
	PUB_N128=50000 PUB_N1K=25000 SEQ_SIZE=256M APP_SIZE=16M UNAL_SIZE=8M CRYPTO_SECS=1 MOUNT_RUNS=5
	PASS_MOUNT_RUNS=2
	MEM_N=50000
else
	: "${rounds:=3}"
	PUB_N128=200000 PUB_N1K=100000 SEQ_SIZE=512M APP_SIZE=64M UNAL_SIZE=32M CRYPTO_SECS=3 MOUNT_RUNS=15
	PASS_MOUNT_RUNS=3
	MEM_N=200000
fi
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --rounds needs a positive integer" >&2; exit 2; }
INFLIGHT=256
wants() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
log() { echo "bench: $*" >&2; }

# ---- install and build ------------------------------------------------------

if [ "$install" = 1 ]; then
	log "installing build dependencies and comparison points"
	scripts/setup.sh >&2
	need=()
	for p in nats-server gocryptfs fio jq curl libfuse3-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
	done
	if [ "${#need[@]}" -gt 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
	fi
fi
for t in nats-server gocryptfs fio jq fusermount3 openssl; do
	command -v "$t" >/dev/null || { echo "bench: $t is not installed (run without --no-install)" >&2; exit 1; }
done

BUILD=$(BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh | tail -n 1)
BUILD=$(realpath "$BUILD")
JCFS=${JCFS_BIN:-$BUILD/jetcryptfs}
JSPUB=$BUILD/tests/jspub
CRYPTOBENCH=$BUILD/tests/cryptobench
for f in "$JCFS" "$JSPUB" "$CRYPTOBENCH"; do
	[ -x "$f" ] || { echo "bench: $f was not built" >&2; exit 1; }
done

# passthrough_ll from the examples libfuse3-dev ships (plain or gzipped).
PT=$BUILD/passthrough_ll
pt_src=
for f in /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c{,.gz}; do
	[ -f "$f" ] && { pt_src=$f; break; }
done
[ -n "$pt_src" ] || { echo "bench: passthrough_ll.c not found under /usr/share/doc/libfuse3-dev/examples" >&2; exit 1; }
if [ ! -x "$PT" ] || [ "$pt_src" -nt "$PT" ]; then
	log "building passthrough_ll from $pt_src"
	case "$pt_src" in
	*.gz) zcat "$pt_src" >"$BUILD/passthrough_ll.c" ;;
	*) cp "$pt_src" "$BUILD/passthrough_ll.c" ;;
	esac
	for h in /usr/share/doc/libfuse3-dev/examples/passthrough_helpers.h{,.gz}; do
		[ -f "$h" ] || continue
		case "$h" in *.gz) zcat "$h" >"$BUILD/passthrough_helpers.h" ;; *) cp "$h" "$BUILD/" ;; esac
	done
	# shellcheck disable=SC2046
	cc -O2 -Wall -I"$BUILD" $(pkg-config --cflags fuse3) "$BUILD/passthrough_ll.c" \
		$(pkg-config --libs fuse3) -lpthread -o "$PT"
fi

# ---- work dir, cleanup ------------------------------------------------------

mkdir -p "${BENCH_DIR:-/var/tmp}"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/jcfs-bench.XXXXXX")
R=$W/results
mkdir -p "$R"
MOUNTS=()            # everything we mounted
PIDS=()              # daemons and servers we started
NATS_PID=

cleanup() {
	local m p
	set +e
	[ -z "$NATS_PID" ] || { kill -TERM "$NATS_PID" 2>/dev/null; wait "$NATS_PID" 2>/dev/null; }
	[ -z "${HOLD_PID:-}" ] || kill "$HOLD_PID" 2>/dev/null
	for m in "${MOUNTS[@]}"; do
		if awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
		fi
	done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	if [ "$keep" = 1 ]; then log "kept $W"; else rmtree "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Waits for $1 to be mounted, by the daemon $2 (background job).
wait_mounted() {
	local i
	for ((i = 0; i < 200; i++)); do
		is_mounted "$1" && return 0
		kill -0 "$2" 2>/dev/null || { echo "bench: daemon for $1 died" >&2; return 1; }
		sleep 0.05
	done
	echo "bench: $1 not mounted after 10 s" >&2
	return 1
}

export JS_KEY
JS_KEY=$("$JCFS" genkey)
NATS_KEY=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
GC_PASS=$W/gocryptfs.pass
head -c 24 /dev/urandom | base64 >"$GC_PASS"

# setup_up NAME: prepares setup NAME; sets DIR (where the workload writes)
# and DPID (its FUSE daemon, or empty).
setup_up() {
	local name=$1 base=$W/s-$1 pidf
	rmtree "$base"
	mkdir -p "$base"
	DPID=
	case "$name" in
	plain|nats-chacha|nats-aes)
		DIR=$base/dir
		mkdir -p "$DIR"
		;;
	jc-chacha|jc-aes|base-chacha|base-aes)
		DIR=$base/mnt
		mkdir -p "$base/enc" "$DIR"
		pidf=$base/pid
		MOUNTS+=("$DIR")
		bin=$JCFS
		[[ $name == base-* ]] && bin=$BASELINE
		"$bin" mount --cipher "${name#*-}" --pid-file "$pidf" --log-file "$W/jcfs.log" \
			"$base/enc" "$DIR" 2> >(grep -v '^jetcryptfs: mounted' >&2)
		DPID=$(cat "$pidf")
		PIDS+=("$DPID")
		;;
	gocryptfs)
		DIR=$base/mnt
		mkdir -p "$base/enc" "$DIR"
		gocryptfs -init -q -scryptn 10 -passfile "$GC_PASS" "$base/enc" >/dev/null
		MOUNTS+=("$DIR")
		gocryptfs -fg -q -passfile "$GC_PASS" "$base/enc" "$DIR" &
		DPID=$!
		PIDS+=("$DPID")
		wait_mounted "$DIR" "$DPID"
		;;
	passthrough_ll)
		DIR=$base/mnt
		mkdir -p "$base/src" "$DIR"
		MOUNTS+=("$DIR")
		"$PT" -f -o "source=$base/src,writeback" "$DIR" &
		DPID=$!
		PIDS+=("$DPID")
		wait_mounted "$DIR" "$DPID"
		;;
	*) echo "bench: unknown setup $name" >&2; exit 1 ;;
	esac
}

setup_down() {
	local name=$1 base=$W/s-$1 i
	case "$name" in
	jc-*|base-*|gocryptfs|passthrough_ll)
		for ((i = 0; i < 50; i++)); do
			fusermount3 -u "$DIR" 2>/dev/null && break
			sleep 0.2
		done
		for ((i = 0; i < 100; i++)); do
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.1
		done
		;;
	esac
	rmtree "$base"
}

# record WORKLOAD SETUP VALUE: a run that failed (no number) is reported
# and left out of the medians.
record() {
	if ! [[ "$3" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		log "$1 $2: FAILED (no result); left out"
		echo "$1 $2" >>"$R/failures"
		return 0
	fi
	echo "$3" >>"$R/$1.$2"
	echo "$round $3" >>"$R/$1.$2.byround"
	log "$1 $2: $3"
}

# The setups of a round, in alternating order.
ordered() {
	local round=$1
	shift
	if [ $((round % 2)) -eq 0 ]; then
		printf '%s\n' "$@" | tac
	else
		printf '%s\n' "$@"
	fi
}

# ---- JetStream --------------------------------------------------------------

free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 40000))
		if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	echo "bench: no free port" >&2
	return 1
}

# nats_start SETUP STORE
nats_start() {
	local setup=$1 store=$2 conf=$W/nats.conf i
	NATS_PORT=$(free_port)
	{
		echo "listen: 127.0.0.1:$NATS_PORT"
		echo "jetstream {"
		echo "  store_dir: \"$store\""
		case "$setup" in
		nats-chacha) echo "  cipher: chachapoly"; echo "  key: \"$NATS_KEY\"" ;;
		nats-aes) echo "  cipher: aes"; echo "  key: \"$NATS_KEY\"" ;;
		esac
		echo "}"
	} >"$conf"
	nats-server -c "$conf" -l "$W/nats.log" &
	NATS_PID=$!
	for ((i = 0; i < 300; i++)); do
		"$JSPUB" ping --port "$NATS_PORT" >/dev/null 2>&1 && return 0
		kill -0 "$NATS_PID" 2>/dev/null || { echo "bench: nats-server died: $(tail -n 5 "$W/nats.log")" >&2; return 1; }
		sleep 0.1
	done
	echo "bench: nats-server not ready after 30 s" >&2
	return 1
}

nats_stop() {
	kill -TERM "$NATS_PID"
	wait "$NATS_PID" 2>/dev/null || true
	NATS_PID=
}

rate_of() { sed -n 's/.*rate=\([0-9.]*\).*/\1/p'; }

# bench_publish SETUP SIZE COUNT: publish, restart the server with cold
# caches, read everything back.
bench_publish() {
	local setup=$1 size=$2 n=$3 out
	setup_up "$setup"
	nats_start "$setup" "$DIR"
	out=$("$JSPUB" publish --port "$NATS_PORT" --create file --count "$n" --size "$size" --inflight "$INFLIGHT") || out=
	record "publish$size" "$setup" "$(rate_of <<<"$out")"
	nats_stop
	drop_caches
	nats_start "$setup" "$DIR"
	out=$("$JSPUB" consume --port "$NATS_PORT" --count "$n" --size "$size") || out=
	record "consume$size" "$setup" "$(rate_of <<<"$out")"
	nats_stop
	setup_down "$setup"
}

# ---- fio --------------------------------------------------------------------

# fio_bw DIR NAME ARGS...: bandwidth in MB/s of one fio job.
fio_bw() {
	local dir=$1 name=$2 key
	shift 2
	case " $* " in *" --rw=read "*) key="read" ;; *) key="write" ;; esac
	fio --name="$name" --directory="$dir" --filename="$name" --ioengine=psync --fallocate=none \
		--output-format=json "$@" 2>"$W/fio.err" |
		jq -r ".jobs[0].$key.bw_bytes / 1e6 | . * 10 | round / 10"
}

bench_seq() {
	local setup=$1
	setup_up "$setup"
	record seqwrite "$setup" "$(fio_bw "$DIR" seq --rw=write --bs=1M --size="$SEQ_SIZE" --end_fsync=1)"
	drop_caches
	record seqread "$setup" "$(fio_bw "$DIR" seq --rw=read --bs=1M --size="$SEQ_SIZE")"
	setup_down "$setup"
}

bench_append() {
	local setup=$1
	setup_up "$setup"
	record append4k "$setup" "$(fio_bw "$DIR" app --rw=write --bs=4k --size="$APP_SIZE" --fdatasync=16 --end_fsync=1)"
	record appendunal "$setup" "$(fio_bw "$DIR" unal --rw=write --bsrange=128-4k --bs_unaligned=1 \
		--size="$UNAL_SIZE" --end_fsync=1)"
	setup_down "$setup"
}

# ---- memory: 1000 open files during the publish benchmark ----------------------

bench_memory() {
	local setup=jc-chacha hwm i
	setup_up "$setup"
	mkdir -p "$DIR/held"
	# A holder with 1000 files open, each with a partial last block (so
	# each has its cached tail), for as long as the publish runs.
	(
		ulimit -n 4096
		for i in $(seq 1000); do
			exec {fd}<>"$DIR/held/f$i"
			printf 'held file %d\n' "$i" >&"$fd"
		done
		exec sleep 3600
	) &
	HOLD_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ "$(find "/proc/$HOLD_PID/fd" -mindepth 1 2>/dev/null | wc -l)" -ge 1000 ] && break
		sleep 0.1
	done
	nats_start "$setup" "$DIR"
	"$JSPUB" publish --port "$NATS_PORT" --create file --count "$MEM_N" --size 128 --inflight "$INFLIGHT" >/dev/null ||
		log "memory: the publish run failed; the peak is of what it did"
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status")
	nats_stop
	kill "$HOLD_PID" 2>/dev/null || true
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
	record rss jc-chacha "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
	setup_down "$setup"
}

# ---- mount time -------------------------------------------------------------

# mount_runs SETUP N: N timed mounts of the store made below, with the
# JS_KEY of the caller.
mount_runs() {
	local setup=$1 n=$2 base=$W/s-mount t0 t1 i pid
	rmtree "$base"
	mkdir -p "$base/enc" "$base/mnt"
	MOUNTS+=("$base/mnt")
	# A store with some files in it, as a restart would find it.
	"$JCFS" mount --pid-file "$base/pid" "$base/enc" "$base/mnt" 2>"$W/mount.err" ||
		{ cat "$W/mount.err" >&2; exit 1; }
	for i in $(seq 100); do echo "file $i" >"$base/mnt/f$i"; done
	fusermount3 -u "$base/mnt"
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		"$JCFS" mount --pid-file "$base/pid" "$base/enc" "$base/mnt" 2>"$W/mount.err" ||
			{ cat "$W/mount.err" >&2; exit 1; }
		t1=$(date +%s%N)
		[ "$(cat "$base/mnt/f7")" = "file 7" ] || { echo "bench: mount reads wrong data" >&2; exit 1; }
		record mount "$setup" "$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')"
		pid=$(cat "$base/pid" 2>/dev/null || true)
		fusermount3 -u "$base/mnt"
		while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
	done
	rmtree "$base"
}

# The full-entropy key of every setup, then a passphrase, which a mount
# stretches with Argon2id (t=3, 256 MiB): a few runs, each costs that.
bench_mount() {
	mount_runs jc-chacha "$MOUNT_RUNS"
	JS_KEY="bench passphrase $(head -c 12 /dev/urandom | base64)" mount_runs jc-pass "$PASS_MOUNT_RUNS"
}

# ---- crypto alone -----------------------------------------------------------

bench_crypto() {
	local out f
	out=$("$CRYPTOBENCH" "$CRYPTO_SECS")
	record crypto-enc jc-chacha "$(awk '$1 == "chachapoly" && $2 == "enc" { print $3 }' <<<"$out")"
	record crypto-dec jc-chacha "$(awk '$1 == "chachapoly" && $2 == "dec" { print $3 }' <<<"$out")"
	record crypto-enc jc-aes "$(awk '$1 == "aes" && $2 == "enc" { print $3 }' <<<"$out")"
	record crypto-dec jc-aes "$(awk '$1 == "aes" && $2 == "dec" { print $3 }' <<<"$out")"
	# OpenSSL's own per-4-KiB-record cost for the IETF AEADs (cryptobench.c).
	record crypto-enc ref-chacha "$(awk '$1 == "ref-chachapoly" && $2 == "enc" { print $3 }' <<<"$out")"
	record crypto-enc ref-aes "$(awk '$1 == "ref-aes" && $2 == "enc" { print $3 }' <<<"$out")"
	# openssl speed: user CPU time, like cryptobench; the +F line is bytes/s.
	for c in chacha20-poly1305:openssl-chacha aes-256-gcm:openssl-aes; do
		f=$(openssl speed -evp "${c%%:*}" -bytes 4096 -seconds "$CRYPTO_SECS" -mr 2>/dev/null |
			awk -F: '/^\+F:/ { printf "%.1f", $4 / 1e6 }')
		record crypto-enc "${c#*:}" "$f"
	done
}

# ---- the runs -----------------------------------------------------------------

NATS_SETUPS=(plain jc-chacha jc-aes nats-chacha nats-aes gocryptfs passthrough_ll)
FS_SETUPS=(plain jc-chacha jc-aes gocryptfs passthrough_ll)
# BASELINE=/path/to/another/jetcryptfs adds its two setups to every round:
# before/after numbers for a change, measured side by side.
if [ -n "${BASELINE:-}" ]; then
	[ -x "$BASELINE" ] || { echo "bench: BASELINE=$BASELINE is not an executable" >&2; exit 1; }
	BASELINE=$(realpath "$BASELINE")
	NATS_SETUPS+=(base-chacha base-aes)
	FS_SETUPS+=(base-chacha base-aes)
fi
if [ -n "$setups" ]; then
	pick() { local s; for s in "$@"; do [[ ",$setups," == *",$s,"* ]] && echo "$s"; done; return 0; }
	mapfile -t NATS_SETUPS < <(pick "${NATS_SETUPS[@]}")
	mapfile -t FS_SETUPS < <(pick "${FS_SETUPS[@]}")
fi
start=$(date +%s)
for ((round = 1; round <= rounds; round++)); do
	log "round $round of $rounds"
	if wants crypto; then bench_crypto; fi
	if wants publish; then
		for s in $(ordered "$round" "${NATS_SETUPS[@]}"); do
			bench_publish "$s" 128 "$PUB_N128"
			bench_publish "$s" 1024 "$PUB_N1K"
		done
	fi
	if wants fio; then
		for s in $(ordered "$round" "${FS_SETUPS[@]}"); do bench_seq "$s"; done
	fi
	if wants append; then
		for s in $(ordered "$round" "${FS_SETUPS[@]}"); do bench_append "$s"; done
	fi
	if wants memory; then bench_memory; fi
	if wants mount; then bench_mount; fi
done
elapsed=$(($(date +%s) - start))

# ---- the report -------------------------------------------------------------

median() {
	[ -s "$R/$1" ] || { echo "-"; return; }
	sort -g "$R/$1" | awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m }'
}
cell() {
	local m
	m=$(median "$1.$2")
	[ "$m" = "-" ] && { echo "–"; return; }
	awk -v m="$m" -v u="$3" 'BEGIN { if (u == "msg/s") printf "%d", m + 0.5; else printf "%.1f", m }'
}
ratio() {
	local a b
	a=$(median "$1.$2")
	b=$(median "$1.$3")
	if [ "$a" = "-" ] || [ "$b" = "-" ]; then echo "–"; return; fi
	awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "–" }'
}
# spread WORKLOAD A B: the lowest and the highest of the ratios A/B of
# single rounds, over the rounds where both ran: how far one run's median
# can be trusted.
spread() {
	local fa="$R/$1.$2.byround" fb="$R/$1.$3.byround"
	if ! [ -s "$fa" ] || ! [ -s "$fb" ]; then echo "–"; return; fi
	awk 'NR == FNR { a[$1] = $2; next }
	     ($1 in a) && $2 > 0 { r = a[$1] / $2; if (!n || r < lo) lo = r; if (!n || r > hi) hi = r; n++ }
	     END { if (n) printf "%.2f–%.2f", lo, hi; else print "–" }' "$fa" "$fb"
}
# verdict VALUE OP GOAL
verdict() {
	[ "$1" = "–" ] && { echo "not run"; return; }
	awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN { ok = op == ">=" ? v >= g : v <= g; print ok ? "met" : "**missed**" }'
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "## jetcryptfs benchmark — $(date -u +%Y-%m-%d)"
echo
echo "Machine: $cpu, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")."
echo "Backing disk: $(df -h --output=source,fstype "$W" | tail -n 1 | awk '{ print $1 " (" $2 ")" }'). nats-server $(nats-server --version | awk '{ print $NF }'), gocryptfs $(gocryptfs -version 2>/dev/null | awk '{ sub(";", "", $2); print $2; exit }'), fio $(fio --version | sed 's/^fio-//'), $(openssl version | awk '{ print "OpenSSL " $2 }'), libfuse $(pkg-config --modversion fuse3)."
echo "Mode: $([ "$quick" = 1 ] && echo quick || echo full), $rounds round(s), medians; $elapsed s. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
COLS=(plain jc-chacha jc-aes nats-chacha nats-aes gocryptfs passthrough_ll)
head="| workload | unit | plain | jc chachapoly | jc aes | NATS chachapoly | NATS aes | gocryptfs | passthrough_ll |"
rule="|---|---|---:|---:|---:|---:|---:|---:|---:|"
if [ -n "${BASELINE:-}" ]; then
	COLS+=(base-chacha base-aes)
	head+=" baseline chachapoly | baseline aes |"
	rule+="---:|---:|"
fi
echo "$head"
echo "$rule"
row() {
	local w=$1 label=$2 unit=$3 line s
	line="| $label | $unit |"
	for s in "${COLS[@]}"; do
		line+=" $(cell "$w" "$s" "$unit") |"
	done
	[ -n "$(ls "$R/$w".* 2>/dev/null)" ] && echo "$line"
	return 0
}
row publish128 "JetStream publish, 128 B, R1, file, $INFLIGHT in flight" "msg/s"
row publish1024 "JetStream publish, 1 KiB" "msg/s"
row consume128 "JetStream consume all, 128 B (restart, cold cache)" "msg/s"
row consume1024 "JetStream consume all, 1 KiB" "msg/s"
row seqwrite "fio sequential write, 1 MiB requests, $SEQ_SIZE, fsync at end" "MB/s"
row seqread "fio sequential read, 1 MiB requests, cold cache" "MB/s"
row append4k "fio 4 KiB appends, fdatasync every 16, $APP_SIZE" "MB/s"
row appendunal "fio 128 B–4 KiB unaligned appends, $UNAL_SIZE" "MB/s"
if [ -n "$(ls "$R"/crypto-* 2>/dev/null)" ]; then
	echo "| crypto alone, 4 KiB blocks, one core, encrypt | MB/s | | $(cell crypto-enc jc-chacha x) | $(cell crypto-enc jc-aes x) | openssl chacha20-poly1305: $(cell crypto-enc openssl-chacha x) | openssl aes-256-gcm: $(cell crypto-enc openssl-aes x) | | |"
	echo "| crypto alone, decrypt (tag checked) | MB/s | | $(cell crypto-dec jc-chacha x) | $(cell crypto-dec jc-aes x) | | | | |"
	echo "| OpenSSL EVP per 4 KiB record (IETF nonce, 40 B AAD, tag), encrypt | MB/s | | | | chacha20-poly1305: $(cell crypto-enc ref-chacha x) | aes-256-gcm: $(cell crypto-enc ref-aes x) | | |"
fi
[ -s "$R/rss.jc-chacha" ] && echo "| daemon peak RSS (VmHWM), 1000 open files, publish 128 B | MiB | | $(cell rss jc-chacha x) | | | | | |"
[ -s "$R/mount.jc-chacha" ] && echo "| mount time to ready (env key, 100-file store) | ms | | $(cell mount jc-chacha x) | | | | | |"
[ -s "$R/mount.jc-pass" ] && echo "| mount time to ready, passphrase key (Argon2id t=3, 256 MiB; the full-entropy key above: $(cell mount jc-chacha x) ms) | ms | | $(cell mount jc-pass x) | | | | | |"

echo
echo "| target | chachapoly | aes | goal | | single rounds, chachapoly / aes |"
echo "|---|---:|---:|---|---|---|"
target() {
	local label=$1 w=$2 base=$3 op=$4 goal=$5 a b
	a=$(ratio "$w" jc-chacha "$base")
	b=$(ratio "$w" jc-aes "$base")
	[ "$a" = "–" ] && [ "$b" = "–" ] && return 0
	echo "| $label | ${a}× | ${b}× | $([ "$op" = ">=" ] && echo "≥" || echo "≤") ${goal}× | $(verdict "$a" "$op" "$goal") / $(verdict "$b" "$op" "$goal") | $(spread "$w" jc-chacha "$base") / $(spread "$w" jc-aes "$base") |"
}
# NATS's own encryption is compared cipher for cipher.
target_nats() {
	local label=$1 w=$2 a b
	a=$(ratio "$w" jc-chacha nats-chacha)
	b=$(ratio "$w" jc-aes nats-aes)
	[ "$a" = "–" ] && [ "$b" = "–" ] && return 0
	echo "| $label | ${a}× | ${b}× | ≥ 1.0× | $(verdict "$a" ">=" 1.0) / $(verdict "$b" ">=" 1.0) | $(spread "$w" jc-chacha nats-chacha) / $(spread "$w" jc-aes nats-aes) |"
}
target "publish 128 B vs plain" publish128 plain ">=" 0.90
target "publish 1 KiB vs plain" publish1024 plain ">=" 0.90
target_nats "publish 128 B vs NATS encryption (same cipher)" publish128
target_nats "publish 1 KiB vs NATS encryption (same cipher)" publish1024
target "consume 128 B vs plain" consume128 plain ">=" 0.90
target "consume 1 KiB vs plain" consume1024 plain ">=" 0.90
target "seq write vs gocryptfs" seqwrite gocryptfs ">=" 1.5
target "seq read vs gocryptfs" seqread gocryptfs ">=" 1.5
target "seq write vs passthrough_ll" seqwrite passthrough_ll ">=" 0.7
target "seq read vs passthrough_ll" seqread passthrough_ll ">=" 0.7
target "4 KiB appends + fdatasync vs gocryptfs" append4k gocryptfs ">=" 2.0
target "unaligned appends vs gocryptfs" appendunal gocryptfs ">=" 2.0
if [ -s "$R/crypto-enc.jc-chacha" ]; then
	a=$(ratio crypto-enc jc-chacha openssl-chacha)
	b=$(ratio crypto-enc jc-aes openssl-aes)
	echo "| crypto encrypt vs openssl speed -evp (XChaCha20 vs ChaCha20-Poly1305; AES-256-GCM) | ${a}× | ${b}× | ≥ 0.80× | $(verdict "$a" ">=" 0.8) / $(verdict "$b" ">=" 0.8) | $(spread crypto-enc jc-chacha openssl-chacha) / $(spread crypto-enc jc-aes openssl-aes) |"
	a=$(ratio crypto-enc jc-chacha ref-chacha)
	b=$(ratio crypto-enc jc-aes ref-aes)
	echo "| crypto encrypt vs OpenSSL EVP per 4 KiB record (same AEADs, no format) | ${a}× | ${b}× | ≥ 0.80× | $(verdict "$a" ">=" 0.8) / $(verdict "$b" ">=" 0.8) | $(spread crypto-enc jc-chacha ref-chacha) / $(spread crypto-enc jc-aes ref-aes) |"
fi
if [ -s "$R/rss.jc-chacha" ]; then
	m=$(median rss.jc-chacha)
	echo "| daemon peak RSS, 1000 open files | ${m} MiB | | ≤ 64 MiB | $(verdict "$m" "<=" 64) |"
fi
if [ -s "$R/mount.jc-chacha" ]; then
	m=$(median mount.jc-chacha)
	echo "| mount time (env key) | ${m} ms | | ≤ 50 ms | $(verdict "$m" "<=" 50) |"
fi

if [ -s "$R/failures" ]; then
	echo
	echo "Runs that failed and are left out of the medians: $(sort "$R/failures" | uniq -c | awk '{ printf "%s%s %s x%d", NR > 1 ? ", " : "", $2, $3, $1 }')."
fi

if [ -n "${BASELINE:-}" ]; then
	echo
	echo "This build against BASELINE ($BASELINE), same cipher, side by side:"
	echo
	echo "| workload | chachapoly | aes | single rounds, chachapoly / aes |"
	echo "|---|---:|---:|---|"
	for w in publish128 publish1024 consume128 consume1024 seqwrite seqread append4k appendunal; do
		a=$(ratio "$w" jc-chacha base-chacha)
		b=$(ratio "$w" jc-aes base-aes)
		[ "$a" = "–" ] && [ "$b" = "–" ] && continue
		echo "| $w | ${a}× | ${b}× | $(spread "$w" jc-chacha base-chacha) / $(spread "$w" jc-aes base-aes) |"
	done
fi

if wants tpm && [ -f scripts/bench-tpm.sh ]; then
	echo
	echo "TPM key source (scripts/bench-tpm.sh):"
	echo
	echo '```'
	JCFS=$JCFS RUNS=$([ "$quick" = 1 ] && echo 3 || echo 7) bash scripts/bench-tpm.sh 2>&1 || echo "(bench-tpm.sh failed)"
	echo '```'
fi
exit
}
