#!/usr/bin/env bash
# System integration: `cmake --install` puts the binary, the man page and the
# systemd unit in place (with a prefix and with DESTDIR); `mount -t
# fuse.jetcryptfs ... -o config=` and an fstab line (`mount -T FILE`) mount
# through mount(8) and mount.fuse3, and umount(8) unmounts; the installed
# unit's own ExecStart line mounts with a credential file and stops on
# SIGTERM as systemd would stop it; no key ever shows in a command line or in
# the daemon's environment; the man page renders without warnings; every
# subcommand's --help exits 0. Budget: well under a minute.
#
# mount(8) removes PATH from the environment of its helpers, so mount.fuse3's
# /bin/sh finds `jetcryptfs` only in the shell's default path
# (/usr/local/sbin:/usr/local/bin:...). The test therefore runs in a private
# mount namespace and bind-mounts a directory holding a link to the installed
# binary over /usr/local/sbin there; nothing outside the namespace changes.
if [ -z "${JC_SYSTEM_NS:-}" ]; then
	exec env JC_SYSTEM_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi

source "$(dirname "$0")/lib.sh"

BUILD=${BUILDDIR:-$(dirname "$JCFS")}
[ -f "$BUILD/cmake_install.cmake" ] || fail "no cmake_install.cmake in $BUILD (set BUILDDIR)"
KEY=$(jc_genkey)
KEY2=$(jc_genkey)
# Patterns for grep -f: a key must never be an argument of any process,
# grep's own included.
printf '%s\n%s\n' "$KEY" "$KEY2" >"$JC_TMP/keys.pat"

# ---- cmake --install ------------------------------------------------------
P=$JC_TMP/prefix
cmake --install "$BUILD" --prefix "$P" >"$JC_TMP/install.log" 2>&1 ||
	fail "cmake --install --prefix failed: $(tail -n 5 "$JC_TMP/install.log")"
for f in bin/jetcryptfs share/man/man1/jetcryptfs.1 lib/systemd/system/jetcryptfs@.service; do
	[ -s "$P/$f" ] || fail "cmake --install did not install $f"
done
[ -x "$P/bin/jetcryptfs" ] || fail "installed binary is not executable"
cmp -s "$P/share/man/man1/jetcryptfs.1" "$SRCDIR/docs/jetcryptfs.1" || fail "installed man page differs from docs/jetcryptfs.1"
UNIT=$P/lib/systemd/system/jetcryptfs@.service
grep -q "^ExecStart=$P/bin/jetcryptfs mount " "$UNIT" || fail "installed unit does not run $P/bin/jetcryptfs: $(grep ExecStart= "$UNIT")"
[ "$(MANPATH=$P/share/man man -w jetcryptfs)" = "$P/share/man/man1/jetcryptfs.1" ] || fail "man does not find the installed page"

D=$JC_TMP/destdir
DESTDIR=$D cmake --install "$BUILD" --prefix /usr/local >"$JC_TMP/install2.log" 2>&1 ||
	fail "DESTDIR cmake --install failed: $(tail -n 5 "$JC_TMP/install2.log")"
for f in usr/local/bin/jetcryptfs usr/local/share/man/man1/jetcryptfs.1 usr/local/lib/systemd/system/jetcryptfs@.service; do
	[ -s "$D/$f" ] || fail "DESTDIR install did not install $f"
done
grep -q '^ExecStart=/usr/local/bin/jetcryptfs mount ' "$D/usr/local/lib/systemd/system/jetcryptfs@.service" ||
	fail "DESTDIR-installed unit does not run /usr/local/bin/jetcryptfs"
ok "cmake --install: binary, man page and unit, with --prefix and with DESTDIR"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$JC_TMP/units"
	cp "$UNIT" "$JC_TMP/units/jetcryptfs@test.service"
	# Documentation=man:jetcryptfs(1) is checked too: the installed page must be found.
	out=$(MANPATH=$P/share/man systemd-analyze verify "$JC_TMP/units/jetcryptfs@test.service" 2>&1) ||
		fail "systemd-analyze verify: $out"
	# verify prints problems of the unit itself as "jetcryptfs@test.service:LINE: ..."
	! grep -i 'jetcryptfs@' <<<"$out" || fail "systemd-analyze verify complains: $out"
	# The nats-server drop-in, on a stand-in nats-server unit.
	printf '[Unit]\nDescription=nats-server stand-in\n[Service]\nExecStart=/bin/true\n' \
		>"$JC_TMP/units/nats-server.service"
	mkdir -p "$JC_TMP/units/nats-server.service.d"
	sed 's/jetcryptfs@js.service/jetcryptfs@test.service/' "$SRCDIR/contrib/nats-server-jetcryptfs.conf" \
		>"$JC_TMP/units/nats-server.service.d/jetcryptfs.conf"
	out=$(cd "$JC_TMP/units" && SYSTEMD_UNIT_PATH="$JC_TMP/units:" MANPATH=$P/share/man \
		systemd-analyze verify nats-server.service jetcryptfs@test.service 2>&1) ||
		fail "systemd-analyze verify of the drop-in: $out"
	! grep -iE 'jetcryptfs|nats-server' <<<"$out" || fail "systemd-analyze verify complains of the drop-in: $out"
	ok "systemd-analyze verify accepts the unit and the nats-server drop-in"
else
	echo "skip: systemd-analyze not installed"
fi

# ---- mount(8) and fstab -----------------------------------------------------
LINKS=$JC_TMP/links
mkdir -p "$LINKS"
ln -s "$P/bin/jetcryptfs" "$LINKS/jetcryptfs"
[ -d /usr/local/sbin ] || fail "/usr/local/sbin missing: the test needs it as a bind-mount target"
mount --bind "$LINKS" /usr/local/sbin

B=$JC_TMP/backing M=$JC_TMP/mnt
mkdir -p "$B" "$M" "$JC_TMP/etc" "$JC_TMP/run"
umask 077
printf 'jetstream {\n  cipher: aes\n  key: "%s"\n}\n' "$KEY" >"$JC_TMP/etc/a.conf"
printf 'jetstream {\n  cipher: chachapoly\n}\n' >"$JC_TMP/etc/b.conf"
printf '%s\n' "$KEY" >"$JC_TMP/etc/b.key"
umask 022

# Fails the test if a key is in any process's command line, or in the
# environment of daemon $1.
check_no_key_visible() {
	local hits
	hits=$(grep -laFf "$JC_TMP/keys.pat" /proc/[0-9]*/cmdline 2>/dev/null || true)
	[ -z "$hits" ] || fail "a key is visible in a command line: $hits"
	ps -eo args >"$JC_TMP/ps.out"
	! grep -qFf "$JC_TMP/keys.pat" "$JC_TMP/ps.out" || fail "a key is visible in ps"
	! grep -qaFf "$JC_TMP/keys.pat" "/proc/$1/environ" || fail "a key is in the environment of daemon $1"
}

# Registers the daemon of mount point $1 (pid file $2) with lib.sh's cleanup,
# sets JC_PID and checks that the daemon runs the installed binary.
track_daemon() {
	[ -s "$2" ] || fail "no pid file $2 for $1"
	JC_PID=$(cat "$2")
	JC_DAEMON[$1]=$JC_PID
	JC_MOUNTS+=("$1")
	[ "$(readlink "/proc/$JC_PID/exe")" = "$P/bin/jetcryptfs" ] ||
		fail "daemon $JC_PID runs $(readlink "/proc/$JC_PID/exe"), not the installed binary"
}

# The kernel readahead window of the mount at $1, in KiB (bdi.h).
readahead_of() {
	cat "/sys/class/bdi/$(mountpoint -d "$1")/read_ahead_kb"
}

# umount(8), then the daemon must exit.
umount_and_wait() {
	local pid=${JC_DAEMON[$1]}
	umount "$1" || fail "umount $1 failed"
	! jc_is_mounted "$1" || fail "$1 still mounted after umount"
	jc_wait_pid "$pid" 20 || fail "daemon $pid did not exit after umount"
	unset "JC_DAEMON[$1]"
}

# 1. mount -t fuse.jetcryptfs with -o config= (cipher aes and the key come
#    from the config, which wins over $JS_KEY; the daemon must still wipe
#    JS_KEY, which mount(8) and mount.fuse3 pass on), plus fstab words
#    mount(8) and mount.fuse3 pass on that libfuse alone would refuse.
JS_KEY=$KEY2 mount -t fuse.jetcryptfs "$B" "$M" \
	-o "config=$JC_TMP/etc/a.conf,pid_file=$JC_TMP/run/a.pid,log_file=$JC_LOG,relatime,nodiratime,x-test=1" ||
	fail "mount -t fuse.jetcryptfs failed with status $?"
jc_is_mounted "$M" || fail "mount -t fuse.jetcryptfs exited 0 but nothing is mounted"
awk -v m="$M" '$2 == m { print $3 }' /proc/self/mounts | grep -qx fuse.jetcryptfs ||
	fail "$M is not of type fuse.jetcryptfs: $(grep " $M " /proc/self/mounts)"
track_daemon "$M" "$JC_TMP/run/a.pid"
[ "$(readahead_of "$M")" = 4096 ] || fail "default readahead is $(readahead_of "$M") KiB, not 4096"
echo "secret payload one" >"$M/one"
[ "$(cat "$M/one")" = "secret payload one" ] || fail "data written through mount -t not read back"
[ "$(head -c 4 "$B/one")" = JCFS ] || fail "backing file has no JCFS header"
[ "$(od -An -tx1 -j5 -N1 "$B/one" | tr -d ' ')" = 02 ] || fail "cipher from config= (aes) not used"
assert_no_plaintext "$B" "secret payload one"
check_no_key_visible "$JC_PID"
umount_and_wait "$M"
ok "mount -t fuse.jetcryptfs -o config= and umount"

# 2. An /etc/fstab line, key from key_file=, through mount -T.
cat >"$JC_TMP/fstab" <<EOF
# a comment, as in /etc/fstab
$B  $M  fuse.jetcryptfs  config=$JC_TMP/etc/b.conf,key_file=$JC_TMP/etc/b.key,pid_file=$JC_TMP/run/b.pid,log_file=$JC_LOG,allow_other,strict,nosuid,nodev,noexec,noauto,nofail,_netdev,x-systemd.required-by=nats-server.service,x-systemd.before=nats-server.service,readahead=1024  0  0
EOF
env -u JS_KEY mount -T "$JC_TMP/fstab" "$M" || fail "mount -T fstab failed with status $?"
jc_is_mounted "$M" || fail "mount -T fstab exited 0 but nothing is mounted"
opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts)
for o in nosuid nodev noexec allow_other default_permissions; do
	grep -qw "$o" <<<"${opts//,/ }" || fail "fstab mount lacks $o: $opts"
done
track_daemon "$M" "$JC_TMP/run/b.pid"
[ "$(readahead_of "$M")" = 1024 ] || fail "readahead=1024 gave $(readahead_of "$M") KiB"
[ "$(cat "$M/one")" = "secret payload one" ] || fail "file from the first mount not readable through the fstab mount"
echo "secret payload two" >"$M/two"
[ "$(od -An -tx1 -j5 -N1 "$B/two" | tr -d ' ')" = 01 ] || fail "cipher from the fstab config (chachapoly) not used"
assert_no_plaintext "$B" "secret payload one" "secret payload two"
assert_encrypted "$B"
check_no_key_visible "$JC_PID"
umount_and_wait "$M"
ok "fstab line via mount -T, key_file=, readahead=, umount"

# 3. The installed unit's ExecStart, as systemd would run it: the key is a
#    credential file, the daemon forks and reports readiness, SIGTERM (the
#    stop) unmounts it.
printf 'jetstream {\n  store_dir: %s\n  backing_dir: %s\n}\n' "$M" "$B" >"$JC_TMP/etc/test.conf"
mkdir -p "$JC_TMP/cred"
printf '%s' "$KEY" >"$JC_TMP/cred/key"
chmod 0400 "$JC_TMP/cred/key"
cmdline=$(sed -n 's/^ExecStart=//p' "$UNIT")
cmdline=${cmdline//\/etc\/jetcryptfs\//$JC_TMP/etc/}
cmdline=${cmdline//\$\{CREDENTIALS_DIRECTORY\}/$JC_TMP/cred}
cmdline=${cmdline//\/run\//$JC_TMP/run/}
cmdline=${cmdline//%i/test}
pidfile=$(sed -n 's/^PIDFile=//p' "$UNIT")
pidfile=${pidfile//\/run\//$JC_TMP/run/}
pidfile=${pidfile//%i/test}
read -r -a argv <<<"$cmdline"
env -u JS_KEY CREDENTIALS_DIRECTORY="$JC_TMP/cred" "${argv[@]}" --log-file "$JC_LOG" ||
	fail "the unit's ExecStart failed with status $?: $cmdline"
jc_is_mounted "$M" || fail "the unit's ExecStart exited 0 but nothing is mounted"
track_daemon "$M" "$pidfile"
[ "$(cat "$M/two")" = "secret payload two" ] || fail "data not readable through the unit's mount"
check_no_key_visible "$JC_PID"
kill -TERM "$JC_PID"
jc_wait_pid "$JC_PID" 20 || fail "daemon $JC_PID did not exit on SIGTERM"
unset "JC_DAEMON[$M]"
! jc_is_mounted "$M" || fail "$M still mounted after SIGTERM"
[ ! -e "$pidfile" ] || fail "pid file $pidfile left behind after a clean stop"
# It mounts strict: a store that still allows plaintext files is refused.
mkdir -p "$JC_TMP/ad" "$JC_TMP/adm"
echo "old plaintext" >"$JC_TMP/ad/old"
JS_KEY=$KEY jc_mount "$JC_TMP/ad" "$JC_TMP/adm" --adopt
jc_umount "$JC_TMP/adm"
printf 'jetstream {\n  store_dir: %s\n  backing_dir: %s\n}\n' "$M" "$JC_TMP/ad" >"$JC_TMP/etc/test.conf"
expect_exit 8 env -u JS_KEY CREDENTIALS_DIRECTORY="$JC_TMP/cred" "${argv[@]}"
expect_output_contains "the store allows plaintext files (it is being adopted), and --adopt was not given"
! jc_is_mounted "$M" || fail "the unit mounted a store that allows plaintext files"
ok "the unit's ExecStart with a credential file; SIGTERM unmounts; an adopted store is refused (8)"

# 4. mount.fuse3 run directly (it keeps PATH), with no config at all: the
#    key file alone, a file mode that earns a warning, then fusermount3 -u.
chmod 0644 "$JC_TMP/etc/b.key"
env -u JS_KEY PATH="$LINKS:$PATH" mount.fuse3 "$B" "$M" -t fuse.jetcryptfs \
	-o "key_file=$JC_TMP/etc/b.key,pid_file=$JC_TMP/run/c.pid,log_file=$JC_LOG" ||
	fail "mount.fuse3 with key_file= only failed with status $?"
track_daemon "$M" "$JC_TMP/run/c.pid"
[ "$(cat "$M/one")" = "secret payload one" ] || fail "data not readable through the mount.fuse3 mount"
grep -q "b.key: the key file is readable by group or others" "$JC_LOG" || fail "no warning about a key file readable by others"
check_no_key_visible "$JC_PID"
jc_umount "$M"
ok "mount.fuse3 with key_file= and no config; fusermount3 -u"

# 5. A binary outside the shell's path: type fuse, "BINARY#BACKING" source.
env -u JS_KEY mount -t fuse "$P/bin/jetcryptfs#$B" "$M" \
	-o "key_file=$JC_TMP/etc/b.key,pid_file=$JC_TMP/run/d.pid,log_file=$JC_LOG" ||
	fail "mount -t fuse BINARY#BACKING failed with status $?"
track_daemon "$M" "$JC_TMP/run/d.pid"
[ "$(cat "$M/two")" = "secret payload two" ] || fail "data not readable through the BINARY#BACKING mount"
umount_and_wait "$M"
ok "mount -t fuse with the binary's path in the source"

# 6. libfuse's max_read=, which libfuse accepts only if init() repeats it
# at INIT: the mount must apply it and stay up, serving reads.
env -u JS_KEY "$P/bin/jetcryptfs" "$B" "$M" \
	-o "key_file=$JC_TMP/etc/b.key,pid_file=$JC_TMP/run/e.pid,log_file=$JC_LOG,max_read=65536" ||
	fail "mount with max_read= failed with status $?"
track_daemon "$M" "$JC_TMP/run/e.pid"
opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts)
grep -qw max_read=65536 <<<"${opts//,/ }" || fail "max_read= not applied: $opts"
head -c $((3 << 20)) /dev/urandom >"$JC_TMP/mr.ref"
cp "$JC_TMP/mr.ref" "$M/mr"
sync "$M/mr"
echo 3 >/proc/sys/vm/drop_caches
cmp "$JC_TMP/mr.ref" "$M/mr" || fail "max_read=65536: the file reads back wrong"
kill -0 "$JC_PID" || fail "max_read=65536: the daemon is gone"
rm "$M/mr"
umount_and_wait "$M"
ok "-o max_read= applied, the mount serves reads"

# 7. -d: the daemon stays in the foreground and writes debug lines to
# stderr, libfuse's request trace among them.
jc_spawn "$P/bin/jetcryptfs" mount -d --key-file "$JC_TMP/etc/b.key" "$B" "$M" 2>"$JC_TMP/debug.err"
for ((i = 0; i < 100; i++)); do
	jc_is_mounted "$M" && break
	sleep 0.1
done
jc_is_mounted "$M" || fail "mount -d did not mount: $(tail -n 3 "$JC_TMP/debug.err")"
ls "$M" >/dev/null
fusermount3 -u "$M"
jc_wait_pid "${JC_PIDS[-1]}" 20 || fail "mount -d still running after the unmount"
for want in "debug: libfuse: unique: [0-9]*, opcode: INIT" "debug: libfuse: unique: [0-9]*, opcode: READDIR" \
	"debug: readahead 4096 KiB"; do
	grep -q "$want" "$JC_TMP/debug.err" || fail "mount -d logged no '$want': $(head -n 5 "$JC_TMP/debug.err")"
done
ok "mount -d: foreground, libfuse's request trace and our debug lines on stderr"

# An option libfuse does not know refuses the mount with status 2, in one
# line naming it (not the options the daemon adds), before the backing
# directory is touched.
mkdir "$JC_TMP/untouched"
expect_exit 2 env -u JS_KEY "$JCFS" "$JC_TMP/untouched" "$M" -o "config=$JC_TMP/etc/a.conf,no_such_option"
expect_output_contains "invalid mount options: unknown option(s): \`-o no_such_option'"
[ "$(wc -l <<<"$JC_OUTPUT")" = 1 ] && ! grep -q fsname <<<"$JC_OUTPUT" || fail "unknown option: $JC_OUTPUT"
[ -z "$(ls -A "$JC_TMP/untouched")" ] || fail "a refused mount wrote $(ls -A "$JC_TMP/untouched")"
! jc_is_mounted "$M" || fail "mounted despite an unknown option"
expect_exit 2 env -u JS_KEY "$JCFS" "$B" "$M" -o "config=$JC_TMP/etc/a.conf,readahead=4k"
expect_output_contains "readahead '4k': not a whole number of KiB"
! jc_is_mounted "$M" || fail "mounted despite a malformed readahead="
expect_exit 2 env -u JS_KEY "$JCFS" "$B" "$M" -o "config=$JC_TMP/etc/a.conf,low_space=-1"
expect_output_contains "low-space '-1': not a whole number of MiB"
! jc_is_mounted "$M" || fail "mounted despite a malformed low_space="
expect_exit 2 env -u JS_KEY "$JCFS" mount -c "$JC_TMP/etc/a.conf" --low-space 2000000000 "$B" "$M"
expect_output_contains "low-space '2000000000': not a whole number of MiB from 0 to 1073741824"
expect_exit 2 env -u JS_KEY "$JCFS" mount -c "$JC_TMP/etc/a.conf" --readahead " 5" "$B" "$M"
expect_output_contains "readahead ' 5': not a whole number of KiB"
! jc_is_mounted "$M" || fail "mounted despite --low-space beyond its range"
ok "unknown mount option, malformed readahead= and low_space=: status 2"

# ---- man page and --help --------------------------------------------------
out=$(MANWIDTH=80 man --warnings -l "$SRCDIR/docs/jetcryptfs.1" 2>&1 >/dev/null) || fail "man -l failed: $out"
[ -z "$out" ] || fail "man -l warns: $out"
out=$(groff -ww -z -man "$SRCDIR/docs/jetcryptfs.1" 2>&1) || fail "groff failed: $out"
[ -z "$out" ] || fail "groff -ww warns: $out"
if command -v mandoc >/dev/null; then
	out=$(mandoc -Tlint -Wwarning "$SRCDIR/docs/jetcryptfs.1" 2>&1) || fail "mandoc -Tlint: $out"
fi
ok "man page renders without warnings"

for cmd in mount genkey inspect cat fsck encrypt rekey; do
	expect_exit 0 "$JCFS" "$cmd" --help
	grep -qi usage <<<"$JC_OUTPUT" || fail "jetcryptfs $cmd --help prints no usage: $JC_OUTPUT"
	grep -qF -- "$cmd" "$SRCDIR/docs/jetcryptfs.1" || fail "man page does not mention $cmd"
done
expect_exit 0 "$JCFS" --help
ok "--help of every subcommand exits 0"

# A command-line mistake is one line naming the command and the problem,
# status 2, not the whole usage text.
usage_error() {
	local want=$1
	shift
	expect_exit 2 "$JCFS" "$@"
	[ "$(wc -l <<<"$JC_OUTPUT")" = 1 ] || fail "jetcryptfs $*: more than one line: $JC_OUTPUT"
	expect_output_contains "$want"
}
usage_error "jetcryptfs mount: needs BACKING_DIR and MOUNTPOINT" mount "$B"
usage_error "jetcryptfs mount: takes BACKING_DIR and MOUNTPOINT, not 3 arguments" mount a b c
usage_error "jetcryptfs mount: unknown option --bogus (see 'jetcryptfs mount --help')" mount --bogus a b
usage_error "jetcryptfs mount: option --readahead needs a value" mount a b --readahead
usage_error "jetcryptfs cat: takes one BACKING_FILE, not 2 arguments" cat a b
usage_error "jetcryptfs fsck: takes one BACKING_DIR, not 2 arguments" fsck a b
usage_error "jetcryptfs inspect: needs a FILE or BACKING_DIR" inspect
usage_error "jetcryptfs inspect: option --cipher does not apply here" inspect --cipher aes a
usage_error "jetcryptfs cat: unknown option -x" cat -x a
usage_error "jetcryptfs genkey: takes no arguments" genkey extra
usage_error "jetcryptfs: unknown command 'frobnicate'" frobnicate
usage_error "jetcryptfs: needs a command"
usage_error "jetcryptfs fsck: needs a BACKING_DIR" fsck
usage_error "jetcryptfs genkey: unknown option --x" genkey --x
usage_error "jetcryptfs fsck: option --pid-file applies to mount only" fsck --pid-file /x a
usage_error "jetcryptfs cat: option -f applies to mount only" cat -f a
for cmd in mount cat fsck inspect encrypt rekey genkey; do
	expect_exit 1 sh -c "'$JCFS' $cmd --help >/dev/full"
	expect_output_contains "standard output: No space left on device"
done
expect_exit 1 sh -c "'$JCFS' genkey >/dev/full"
expect_output_contains "jetcryptfs: error: standard output: No space left on device"
ok "command-line mistakes: one line naming the command and the problem, status 2; a full stdout is status 1"

# Every option a --help names is in the man page: the long options of each
# command and mount's -o words (NAME= forms and the bare ones it lists).
man_text=$(MANWIDTH=1000 man -l "$SRCDIR/docs/jetcryptfs.1" 2>/dev/null | col -b)
missing=()
for cmd in mount genkey inspect cat fsck encrypt rekey; do
	help=$("$JCFS" "$cmd" --help 2>&1)
	opts=$({ grep -oE -- '--[a-z][a-z-]+' <<<"$help" || true; } | sort -u)
	opts+=" $({ grep -oE '\b[a-z_]+=' <<<"$help" || true; } | sort -u)"
	for opt in $opts; do
		grep -qF -- "$opt" <<<"$man_text" || missing+=("$cmd $opt")
	done
done
for word in adopt write_through allow_other; do
	grep -qw -- "$word" <<<"$("$JCFS" mount --help 2>&1)" || fail "mount --help no longer names $word"
	grep -qw -- "$word" <<<"$man_text" || missing+=("mount -o $word")
done
[ "${#missing[@]}" -eq 0 ] || fail "options in --help but not in the man page: ${missing[*]}"
ok "every option of every --help is in the man page"
