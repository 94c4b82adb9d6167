#!/usr/bin/env bash
# Keys: where they come from and what happens when they are wrong or absent.
# A wrong key is refused with status 4 naming both key ids, no key with
# status 3, a malformed config with status 2 and FILE:LINE:COL, a non-empty
# directory without a store descriptor with status 5 unless --adopt; a
# refused mount writes nothing; a FIFO given as the config, key file or TPM
# keys file is refused at once, not waited on, an empty file or
# variable name is named as such (status 2), and a guessable key with
# status 20 naming its source. --key-env, the config's key (quoted or
# $VAR) and JS_KEY are used in that order. Once mounted, the key is neither
# in the daemon's environment, nor in its command line, nor in its log; the
# variables a config takes values from are wiped from the daemon and from
# the parent that waits for it.
. "$(dirname "$0")/lib.sh"

KEY1=$(jc_genkey)
KEY2=$(jc_genkey)
B=$JC_TMP/b M=$JC_TMP/m
mkdir -p "$M"
unset JS_KEY

# try_mount CODE [VAR=VALUE...] -- ARGS...: a mount attempt expected to end
# with CODE; it must leave nothing mounted unless CODE is 0.
try_mount() {
	local code=$1 envs=()
	shift
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	expect_exit "$code" env -u JS_KEY "${envs[@]}" "$JCFS" mount --log-file "$JC_LOG" "$@"
	if [ "$code" -ne 0 ] && jc_is_mounted "$M"; then
		fail "a mount refused with status $code left $M mounted"
	fi
}

# readback MNT: the file written when the store was made reads back.
readback() {
	[ "$(cat "$1/hello.txt")" = "hello from key 1" ] || fail "store content does not read back: $(cat "$1/hello.txt" 2>&1)"
}

# The store, made with KEY1.
JS_KEY=$KEY1 jc_mount "$B" "$M"
echo "hello from key 1" >"$M/hello.txt"
mkdir "$M/dir"
jc_umount "$M"
store_id=$(awk '$1 == "key_id" { print $2 }' "$B/.jetcryptfs")
[ -n "$store_id" ] || fail "no key_id in the store descriptor: $(cat "$B/.jetcryptfs")"
jc_snapshot "$B" >"$JC_TMP/before"

# The key id KEY2 would have: the descriptor of a fresh store made with it.
JS_KEY=$KEY2 jc_mount "$JC_TMP/b2" "$JC_TMP/m2"
jc_umount "$JC_TMP/m2"
other_id=$(awk '$1 == "key_id" { print $2 }' "$JC_TMP/b2/.jetcryptfs")
[ -n "$other_id" ] && [ "$other_id" != "$store_id" ] || fail "key ids of two keys: '$store_id' '$other_id'"

# Wrong key.
try_mount 4 JS_KEY="$KEY2" -- "$B" "$M"
expect_output_contains "key does not match this store"
expect_output_contains "$store_id"
expect_output_contains "$other_id"
ok "wrong key refused with status 4: $JC_OUTPUT"

# A descriptor whose key id was changed, over files all under the given
# key: the descriptor is what is wrong (6), for mount and fsck; so it is
# for the key it now names (its MAC fails), while a third key is a wrong
# key (4). A key the descriptor lists as retired (a rotation with no file
# written since) stays a wrong key too.
cp -a "$B" "$JC_TMP/b3"
sed -i "s/^key_id .*/key_id $other_id/" "$JC_TMP/b3/.jetcryptfs"
try_mount 6 JS_KEY="$KEY1" -- "$JC_TMP/b3" "$M"
expect_output_contains "$JC_TMP/b3/.jetcryptfs: store descriptor names key id $other_id, but every encrypted file (1) is under the given key (id $store_id): the descriptor is damaged or was replaced"
expect_exit 6 env JS_KEY="$KEY1" "$JCFS" fsck "$JC_TMP/b3"
expect_output_contains "$JC_TMP/b3/.jetcryptfs: store descriptor names key id $other_id, but every encrypted file is under the given key"
try_mount 6 JS_KEY="$KEY2" -- "$JC_TMP/b3" "$M"
expect_output_contains "store descriptor fails authentication"
try_mount 4 JS_KEY="$(jc_genkey)" -- "$JC_TMP/b3" "$M"
expect_output_contains "key does not match this store"
cp -a "$B" "$JC_TMP/b4"
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n}\n' "$KEY2" "$KEY1" >"$JC_TMP/rotate.conf"
jc_mount "$JC_TMP/b4" "$JC_TMP/m4" -c "$JC_TMP/rotate.conf"
jc_umount "$JC_TMP/m4"
try_mount 4 JS_KEY="$KEY1" -- "$JC_TMP/b4" "$M"
expect_output_contains "key does not match this store (store key id $other_id, given key id $store_id)"
ok "a descriptor naming another key over files under the given one: 6 (mount, fsck); a retired key: 4"

# No key at all.
try_mount 3 -- "$B" "$M"
grep -qi "key" <<<"$JC_OUTPUT" || fail "no-key refusal does not mention the key: $JC_OUTPUT"
ok "missing key refused with status 3: $JC_OUTPUT"
try_mount 3 JS_KEY="$KEY1" -- --key-env JCFS_NO_SUCH_VAR "$B" "$M"
ok "--key-env naming an unset variable refused with status 3"

# A wrong key given through the other sources is refused the same way.
try_mount 4 MYKEY="$KEY2" -- --key-env MYKEY "$B" "$M"
printf 'jetstream {\n  key: "%s"\n}\n' "$KEY2" >"$JC_TMP/wrong.conf"
try_mount 4 -- -c "$JC_TMP/wrong.conf" "$B" "$M"

jc_snapshot "$B" >"$JC_TMP/after"
diff "$JC_TMP/before" "$JC_TMP/after" >/dev/null ||
	fail "refused mounts changed the backing dir: $(diff "$JC_TMP/before" "$JC_TMP/after" | head)"
ok "refused mounts wrote nothing"

# --key-env NAME is used over JS_KEY, and the variable leaves the daemon.
MYKEY=$KEY1 JS_KEY=$KEY2 jc_mount "$B" "$M" --key-env MYKEY
readback "$M"
# /proc/PID/environ shows the process's original environment block: the
# name may stay there, the value must be gone.
tr '\0' '\n' </proc/"$JC_PID"/environ | grep -q '^MYKEY=.' && fail "MYKEY is still set in the daemon's environment"
grep -qaF -- "$KEY1" /proc/"$JC_PID"/environ && fail "the key is still in the daemon's environment block"
jc_umount "$M"
ok "--key-env over JS_KEY"

# Config file with a quoted key, the NATS page's form; JS_KEY loses to it.
printf '# jetcryptfs test\njetstream : { cipher: chachapoly  key : "%s" }\n' "$KEY1" >"$JC_TMP/quoted.conf"
JS_KEY=$KEY2 jc_mount "$B" "$M" -c "$JC_TMP/quoted.conf"
readback "$M"
jc_umount "$M"
ok "config key: \"...\" over JS_KEY"

# Config file with key: $JS_KEY.
printf 'jetstream {\n  cipher: chachapoly\n  key: $JS_KEY\n}\n' >"$JC_TMP/var.conf"
JS_KEY=$KEY1 jc_mount "$B" "$M" -c "$JC_TMP/var.conf"
readback "$M"
jc_umount "$M"
ok "config key: \$JS_KEY"

# --key-env over the config's key.
MYKEY=$KEY1 jc_mount "$B" "$M" -c "$JC_TMP/wrong.conf" --key-env MYKEY
readback "$M"
jc_umount "$M"
ok "--key-env over the config key"

# mount -c FILE alone: both directories from the jetstream block.
printf 'jetstream {\n  key: "%s"\n  backing_dir: "%s"\n  store_dir: "%s"\n}\n' "$KEY1" "$B" "$M" >"$JC_TMP/dirs.conf"
expect_exit 0 "$JCFS" mount -c "$JC_TMP/dirs.conf" --pid-file "$JC_TMP/dirs.pid" --log-file "$JC_LOG"
JC_DAEMON[$M]=$(cat "$JC_TMP/dirs.pid")
jc_is_mounted "$M" || fail "mount -c FILE exited 0 but mounted nothing"
readback "$M"
ok "mount -c FILE takes both directories from the config"

# A second daemon on the same backing directory: refused, the store is
# locked by the first (status 7), and the first keeps working.
mkdir -p "$JC_TMP/m2"
expect_exit 7 env JS_KEY="$KEY1" "$JCFS" mount --log-file "$JC_LOG" "$B" "$JC_TMP/m2"
expect_output_contains "$B"
! jc_is_mounted "$JC_TMP/m2" || fail "second mount of one store mounted"
readback "$M"
jc_umount "$M"
ok "second mount of a mounted store refused: $(head -n 1 <<<"$JC_OUTPUT")"

# Malformed configs: status 2, FILE:LINE:COL, nothing mounted.
bad_config() {
	local name=$1 line=$2
	try_mount 2 JS_KEY="$KEY1" -- -c "$JC_TMP/$name" "$B" "$M"
	grep -qE -- "$JC_TMP/$name:$line:[0-9]+: " <<<"$JC_OUTPUT" ||
		fail "$name: no $name:$line:COL: message: $JC_OUTPUT"
	ok "malformed config $name: $(grep -F "$name:" <<<"$JC_OUTPUT" | head -n 1)"
}
printf 'jetstream {\n  cipher: chachapoly\n  key: "unterminated\n}\n' >"$JC_TMP/unterminated.conf"
bad_config unterminated.conf 3
printf 'jetstream {\n  key: $JCFS_TEST_UNDEFINED_VARIABLE\n}\n' >"$JC_TMP/undefined.conf"
bad_config undefined.conf 2
printf '\njetstream {\n  cipher: rot13\n  key: "%s"\n}\n' "$KEY1" >"$JC_TMP/cipher.conf"
bad_config cipher.conf 3
# A key next to a syntax error (here a block without its '{') is not
# quoted in the message; the log is checked for it at the end.
# Two names for the key (key and its alias encryption_key): which would
# win is written nowhere, so it is an error at the second.
printf 'jetstream {\n  key: "%s"\n  encryption_key: "%s"\n}\n' "$KEY1" "$KEY2" >"$JC_TMP/twokeys.conf"
bad_config twokeys.conf 3
printf 'jetstream  key: "%s" }\n' "$KEY1" >"$JC_TMP/syntax.conf"
bad_config syntax.conf 1
grep -qF -- "${KEY1:0:8}" <<<"$JC_OUTPUT" && fail "a syntax error quotes the key: $JC_OUTPUT"

# A FIFO where a file is read whole (the config, --key-file, a TPM
# keys_file): open() would wait for a writer forever. With none, the
# config and the key file read as empty, at once; a TPM keys file must be
# a regular file. A pipe with a writer is read: -c <(...) and
# --key-file <(...) keep a secret off the disk. -f keeps the mount one
# process, so that timeout ends it (status 124) should a hang come back.
mkfifo "$JC_TMP/fifo"
fifo_refused() {
	local code=$1 what=$2 want=$3
	shift 3
	expect_exit "$code" timeout -k 5 20 env -u JS_KEY "$JCFS" mount -f --log-file "$JC_LOG" "$@" "$B" "$M"
	expect_output_contains "$want"
	! jc_is_mounted "$M" || fail "$what: a FIFO mounted"
	ok "$what FIFO with no writer: status $code at once: $JC_OUTPUT"
}
fifo_refused 3 "config" "no key given" -c "$JC_TMP/fifo"
fifo_refused 1 "--key-file" "$JC_TMP/fifo: the key file is empty" --key-file "$JC_TMP/fifo"
printf 'jetstream {\n  tpm {\n    keys_file: "%s"\n    encryption_password: "pw"\n  }\n}\n' \
	"$JC_TMP/fifo" >"$JC_TMP/tpmfifo.conf"
fifo_refused 18 "TPM keys_file" "$JC_TMP/fifo: not a regular file" -c "$JC_TMP/tpmfifo.conf"
jc_mount "$B" "$M" --key-file <(echo "$KEY1")
jc_umount "$M"
jc_mount "$B" "$M" -c <(printf 'jetstream {\n  key: "%s"\n}\n' "$KEY1")
jc_umount "$M"
ok "a pipe with a writer is read: --key-file <(...) and -c <(...) mount"

# A guessable key is refused (20) naming where it came from, whichever
# source; the refusal is about the key, not the store, which is untouched.
printf 's3cr3t\n' >"$JC_TMP/weak.key"
chmod 600 "$JC_TMP/weak.key"
try_mount 20 -- --key-file "$JC_TMP/weak.key" "$B" "$M"
expect_output_contains "$JC_TMP/weak.key: the key looks guessable (it is shorter than 16 characters)"
printf 'jetstream {\n  key: "password-password-1"\n}\n' >"$JC_TMP/weakkey.conf"
try_mount 20 -- -c "$JC_TMP/weakkey.conf" "$B" "$M"
expect_output_contains "$JC_TMP/weakkey.conf: key: the key looks guessable"
try_mount 20 WEAKVAR=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -- --key-env WEAKVAR "$B" "$M"
expect_output_contains "\$WEAKVAR: the key looks guessable (it has fewer than 8 different characters)"
ok "a guessable key is refused with status 20, naming its source"

# The variables a config takes values from leave the waiting parent's
# environment too, not only the daemon's: `mount` forks, and the parent
# waits for the daemon's verdict. Here it waits as long as the test likes:
# the key file is a FIFO, held open for writing (so that the daemon's read
# waits rather than finding it empty) and written only once the parent's
# environment has been looked at. The config and its include name three
# variables: a secret (prev_key), one that is not (cipher) and one only
# the include names. A variable the config does not name stays put.
BE=$JC_TMP/benv ME=$JC_TMP/menv
mkdir -p "$BE" "$ME"
mkfifo "$JC_TMP/keyfifo"
PREV=$(jc_genkey)
printf 'jetstream {\n  cipher: $JCFS_T_CIPHER\n  include "env_inc.conf"\n}\n' >"$JC_TMP/env.conf"
printf 'prev_key: $JCFS_T_PREV\nstore_dir: $JCFS_T_DIR\n' >"$JC_TMP/env_inc.conf"
exec 7<>"$JC_TMP/keyfifo"
env JCFS_T_PREV="$PREV" JCFS_T_CIPHER=aes JCFS_T_DIR="$ME" JCFS_T_OTHER=stays "$JCFS" mount \
	--log-file "$JC_LOG" --pid-file "$JC_TMP/env.pid" -c "$JC_TMP/env.conf" \
	--key-file "$JC_TMP/keyfifo" "$BE" "$ME" 7>&- &
parent=$!
JC_PIDS+=("$parent")
# The parent scrubs right after the fork: wait up to 10 s for that. Until
# env has exec'd jetcryptfs, /proc/PID/environ is the shell's block, which
# lacks JCFS_T_OTHER as well as the secret: that is not the scrub.
for ((i = 0; i < 200; i++)); do
	tr '\0' '\n' </proc/"$parent"/environ >"$JC_TMP/parent.env" ||
		fail "the parent ($parent) is gone: the key file was not waited for"
	grep -qx 'JCFS_T_OTHER=stays' "$JC_TMP/parent.env" && ! grep -qF -- "$PREV" "$JC_TMP/parent.env" && break
	sleep 0.05
done
grep -qx 'JCFS_T_OTHER=stays' "$JC_TMP/parent.env" ||
	fail "a variable the config does not name left the parent's environment (or it never started)"
grep -qaF -- "$PREV" /proc/"$parent"/environ && fail "the waiting parent still holds the config's \$JCFS_T_PREV (prev_key)"
grep -q '^JCFS_T_PREV=' "$JC_TMP/parent.env" && fail "JCFS_T_PREV is still set in the waiting parent"
grep -q '^JCFS_T_CIPHER=' "$JC_TMP/parent.env" && fail "JCFS_T_CIPHER (cipher: \$JCFS_T_CIPHER) is still in the waiting parent's environment"
grep -q '^JCFS_T_DIR=' "$JC_TMP/parent.env" && fail "JCFS_T_DIR (named by the include) is still in the waiting parent's environment"
! jc_is_mounted "$ME" || fail "mounted before the key was written"
kill -0 "$parent" 2>/dev/null || fail "the parent did not wait"
echo "$KEY1" >&7
exec 7>&-
rc=0
wait "$parent" || rc=$?
jc_mount_check "$ME" "$JC_TMP/env.pid" "$rc" "mount with a config naming variables and a FIFO key file"
echo "written under the config's cipher" >"$ME/c.txt"
[ "$(od -An -tx1 -j5 -N1 "$BE/c.txt" | tr -d ' ')" = 02 ] || fail "cipher: \$JCFS_T_CIPHER (aes) not used"
grep -qaF -- "$PREV" /proc/"$JC_PID"/environ && fail "the daemon still holds the config's \$JCFS_T_PREV"
grep -qaF -- "$KEY1" /proc/"$JC_PID"/environ && fail "the key is in the daemon's environment block"
tr '\0' '\n' </proc/"$JC_PID"/environ | grep -q '^JCFS_T_\(PREV\|CIPHER\|DIR\)=' &&
	fail "a variable the config names is still in the daemon's environment"
jc_umount "$ME"
ok "the variables a config and its include name are wiped from the waiting parent and the daemon"

# An empty name says what is empty (there is no file or variable called
# ""), with status 2 as any usage or config error.
empty_refused() {
	local what=$1
	shift
	try_mount 2 JS_KEY="$KEY1" -- "$@"
	expect_output_contains "$what"
	ok "empty name refused with status 2: $JC_OUTPUT"
}
empty_refused "config file name is empty" -o config= "$B" "$M"
empty_refused "config file name is empty" -c "" "$B" "$M"
empty_refused "key file name is empty" --key-file "" "$B" "$M"
empty_refused "key variable name is empty" --key-env "" "$B" "$M"
printf 'jetstream {\n  key: "%s"\n  backing_dir: "%s"\n  store_dir: ""\n}\n' "$KEY1" "$B" >"$JC_TMP/nodir.conf"
empty_refused "$JC_TMP/nodir.conf:4:14: store_dir is empty" -c "$JC_TMP/nodir.conf"

jc_snapshot "$B" >"$JC_TMP/after"
diff -q "$JC_TMP/before" "$JC_TMP/after" >/dev/null || fail "bad configs changed the backing dir"

# A non-empty directory without a descriptor is not taken silently.
P=$JC_TMP/plain
mkdir -p "$P/sub"
echo "existing plaintext" >"$P/sub/old.txt"
sum=$(sha256sum "$P/sub/old.txt")
try_mount 5 JS_KEY="$KEY1" -- "$P" "$M"
grep -qi adopt <<<"$JC_OUTPUT" || fail "status 5 message does not mention --adopt: $JC_OUTPUT"
[ ! -e "$P/.jetcryptfs" ] || fail "refused adopt wrote a store descriptor"
ok "non-empty dir refused with status 5"
JS_KEY=$KEY1 jc_mount "$P" "$M" --adopt
echo "new" >"$M/new.txt"
jc_umount "$M"
[ -f "$P/.jetcryptfs" ] || fail "--adopt wrote no store descriptor"
[ "$(sha256sum "$P/sub/old.txt")" = "$sum" ] || fail "--adopt rewrote an existing plaintext file"
[ "$(head -c 4 "$P/new.txt")" = JCFS ] || fail "new file in an adopted dir is not encrypted"
ok "--adopt mounts a non-empty dir and leaves its files alone"

# The key leaves no trace in the running daemon.
JS_KEY=$KEY1 jc_mount "$B" "$M"
readback "$M"
tr '\0' '\n' </proc/"$JC_PID"/environ | grep -q '^JS_KEY=.' && fail "JS_KEY is still set in the daemon's environment"
grep -qaF -- "$KEY1" /proc/"$JC_PID"/environ && fail "the key is still in the daemon's environment block"
grep -qaF -- "$KEY1" /proc/"$JC_PID"/cmdline && fail "the key is in the daemon's command line"
jc_umount "$M"
grep -qaF -- "$KEY1" "$JC_LOG" && fail "the key is in the log"
grep -qaF -- "$KEY2" "$JC_LOG" && fail "a wrong key is in the log"
ok "key not in environ, cmdline or log"
