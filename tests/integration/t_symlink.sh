#!/usr/bin/env bash
# symlinks and special files (issue 21, item 1): a symlink planted in the
# backing directory while the store is unmounted must neither carry writes
# out of the store nor feed forged contents in, whether its target is
# absolute or relative; fsck must name it. Symlinks made through the mount
# are encrypted and keep working across rename, hard link, remount, key
# rotation and rekey; encrypt migrates plaintext ones. Device nodes are
# never made nor shown; FIFOs and unix sockets made through the mount work
# and survive a remount, while raw ones planted in a strict store are
# hidden and reported.
. "$(dirname "$0")/lib.sh"

FSOP=$JC_TOOLS/fsop
[ -x "$FSOP" ] || fail "fsop helper not found at $FSOP"
B=$JC_TMP/b M=$JC_TMP/m
mkdir -p "$B" "$M"

# Every symlink under $1 holds an encrypted target (base64url of a header).
assert_links_encrypted() {
	local bad
	bad=$(find "$1" -type l -printf '%l\n' | grep -v '^SkNGUwE' | head -n 3 || true)
	[ -z "$bad" ] || fail "backing symlinks with plaintext targets: $bad"
}

# --- made through the mount ---------------------------------------------
jc_mount "$B" "$M"
awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts | grep -qw nodev || fail "the mount is not nodev"
echo "the data" >"$M/data.txt"
mkdir "$M/dir"
echo "outside the store" >"$JC_TMP/outfile"
ln -s data.txt "$M/rel"
ln -s "$JC_TMP/outfile" "$M/abs"
ln -s dir "$M/dlink"
echo "via a link" >"$M/dlink/f"
long=$(head -c 2999 /dev/zero | tr '\0' a)
ln -s "$long" "$M/long"
[ "$(readlink "$M/rel")" = data.txt ] || fail "readlink rel: $(readlink "$M/rel")"
[ "$(cat "$M/rel")" = "the data" ] || fail "following rel"
[ "$(cat "$M/abs")" = "outside the store" ] || fail "following abs"
[ "$(cat "$M/dir/f")" = "via a link" ] || fail "writing through a directory link"
[ "$(readlink "$M/long")" = "$long" ] || fail "readlink of a 2999-byte target"
[ "$(stat -c %s "$M/rel")" = 8 ] || fail "lstat size of rel: $(stat -c %s "$M/rel"), not 8"
[ "$(stat -c %s "$M/abs")" = $((${#JC_TMP} + 8)) ] || fail "lstat size of abs: $(stat -c %s "$M/abs")"
[ "$(stat -c %s "$M/long")" = 2999 ] || fail "lstat size of long: $(stat -c %s "$M/long")"
if out=$(ln -s "${long}a" "$M/toolong" 2>&1); then fail "a 3000-byte target was taken"; fi
grep -q "File name too long" <<<"$out" || fail "a 3000-byte target: $out (want ENAMETOOLONG)"
mv "$M/rel" "$M/rel2"
ln -P "$M/rel2" "$M/rel3"
[ "$(stat -c %h "$M/rel3")" = 2 ] || fail "hard link of a symlink: link count $(stat -c %h "$M/rel3")"
[ "$(readlink "$M/rel3")" = data.txt ] || fail "readlink after rename and hard link"
assert_links_encrypted "$B"
[ "$(find "$B" -type l -printf '%l\n' | grep -c "data.txt\|outfile\|aaaa")" = 0 ] ||
	fail "a symlink target in the clear in the backing directory"
ok "symlinks through the mount: readlink, following, lstat size, 2999-byte limit (ENAMETOOLONG beyond), rename, hard link; stored encrypted"

mkfifo -m 0640 "$M/fifo"
[ "$(stat -c %F "$M/fifo")" = fifo ] || fail "mkfifo: $(stat -c %F "$M/fifo")"
[ "$(stat -c %a "$M/fifo")" = 640 ] || fail "mkfifo mode: $(stat -c %a "$M/fifo")"
ls -l "$M/fifo" | grep -q '^p' || fail "ls -l does not show a FIFO: $(ls -l "$M/fifo")"
timeout 10 sh -c 'echo "through the pipe" >"$1"' sh "$M/fifo" &
[ "$(timeout 10 cat "$M/fifo")" = "through the pipe" ] || fail "reading the FIFO"
wait
[ "$("$FSOP" unix-socket "$M/sock")" = ok ] || fail "unix socket bind/connect through the mount"
[ "$(stat -c %F "$M/sock")" = socket ] || fail "bound socket: $(stat -c %F "$M/sock")"
ls -l "$M/sock" | grep -q '^s' || fail "ls -l does not show a socket: $(ls -l "$M/sock")"
ln "$M/fifo" "$M/fifo2"
[ "$(stat -c '%F %h' "$M/fifo2")" = "fifo 2" ] || fail "hard link of a FIFO: $(stat -c '%F %h' "$M/fifo2")"
find "$M" -maxdepth 1 -type p | grep -q "/fifo$" || fail "find -type p misses the FIFO"
for f in fifo sock; do
	[ -f "$B/$f" ] && [ "$(head -c 4 "$B/$f")" = JCFS ] || fail "$f is not a marker file in the backing directory"
done
if out=$(mknod "$M/cdev" c 1 5 2>&1); then fail "mknod of a character device succeeded"; fi
grep -q "Operation not permitted" <<<"$out" || fail "mknod c: $out (want EPERM)"
if mknod "$M/bdev" b 7 0 2>/dev/null; then fail "mknod of a block device succeeded"; fi
[ ! -e "$B/cdev" ] && [ ! -e "$B/bdev" ] || fail "a device node reached the backing directory"
jc_umount "$M"
expect_exit 0 "$JCFS" fsck "$B"
ok "mkfifo and a unix socket work (ls -l p and s), stored as marker files; mknod of devices is EPERM; fsck clean"

# --- remount, and the other cipher ----------------------------------------
jc_mount "$B" "$M" --strict --cipher aes
# A fresh mount knows no types yet: a listing must not call a marker a
# file (find trusts what readdir says, and looks up only what it leaves
# unknown), nor a one-byte file a FIFO.
printf x >"$M/onebyte"      # a regular file of a marker's size
[ "$(find "$M" -maxdepth 1 -type p -printf '%f\n' | sort | tr '\n' ' ')" = "fifo fifo2 " ] ||
	fail "find -type p after a remount: $(find "$M" -maxdepth 1 -type p)"
find "$M" -maxdepth 1 -type f -printf '%f\n' | grep -qx onebyte || fail "find -type f misses a one-byte file"
! find "$M" -maxdepth 1 -type f -printf '%f\n' | grep -qx 'fifo\|sock' || fail "find -type f lists a marker"
rm "$M/onebyte"
[ "$(readlink "$M/rel2")" = data.txt ] && [ "$(cat "$M/abs")" = "outside the store" ] ||
	fail "symlinks after a remount"
[ "$(stat -c %F "$M/fifo")" = fifo ] && [ "$(stat -c %F "$M/sock")" = socket ] ||
	fail "FIFO and socket after a remount: $(stat -c %F "$M/fifo" "$M/sock")"
[ "$(stat -c %a "$M/fifo")" = 640 ] || fail "FIFO mode after a remount"
[ "$("$FSOP" unix-connect "$M/sock")" = ECONNREFUSED ] || fail "a stale socket does not refuse connections"
timeout 10 sh -c 'echo again >"$1"' sh "$M/fifo" &
[ "$(timeout 10 cat "$M/fifo")" = again ] || fail "the FIFO after a remount"
wait
ln -s "a target under aes" "$M/aeslink"
[ "$(readlink "$M/aeslink")" = "a target under aes" ] && [ "$(stat -c %s "$M/aeslink")" = 18 ] ||
	fail "an aes symlink"
jc_umount "$M"
ok "after a remount: symlinks, FIFO and socket as they were; aes symlinks"

# --- the attacks, with the store unmounted --------------------------------
V=$JC_TMP/victim
mkdir -p "$V"
echo "FORGED-CONTENT" >"$JC_TMP/forged"
jc_mount "$B" "$M"
mkdir "$M/stream" "$M/stream2"
echo "real meta" >"$M/stream/meta.inf"
echo "real meta" >"$M/stream2/meta.inf"
jc_umount "$M"
ln -s "$V" "$B/s2"                              # write side, absolute
ln -s ../victim "$B/s3"                          # write side, relative
ln -sfn "$JC_TMP/forged" "$B/stream/meta.inf"   # read side, absolute
ln -sfn ../../forged "$B/stream2/meta.inf"       # read side, relative
mknod "$B/zero" c 1 5                            # /dev/zero
mkfifo "$B/rawfifo"
[ "$("$FSOP" unix-socket "$B/rawsock")" = ok ] || fail "cannot make a raw socket"
cp -p "$B/fifo" "$B/forgedfifo"                  # a marker with a bad tag
printf '\xff' | dd of="$B/forgedfifo" bs=1 seek=72 conv=notrunc status=none
t=$(readlink "$B/abs")                           # an encrypted target, one character changed
c=${t:60:1}
[ "$c" = A ] && r=B || r=A
ln -sfn "${t:0:60}$r${t:61}" "$B/abs"

mark=$(jc_log_mark)
jc_mount "$B" "$M" --strict
for s in s2 s3; do
	mkdir -p "$M/$s" 2>/dev/null || true
	echo SECRET >"$M/$s/1.blk" 2>/dev/null || true
done
[ -z "$(ls -A "$V")" ] || fail "a planted symlink let a write out of the store: $(ls -A "$V")"
for s in stream stream2; do
	if out=$(cat "$M/$s/meta.inf" 2>&1); then fail "$s/meta.inf read through a planted symlink: $out"; fi
	grep -q "Input/output error" <<<"$out" || fail "$s/meta.inf: $out (want EIO)"
	grep -q FORGED <<<"$out" && fail "forged content returned"
	if readlink "$M/$s/meta.inf" >/dev/null 2>&1; then fail "readlink of a planted symlink succeeded"; fi
done
if readlink "$M/abs" >/dev/null 2>&1; then fail "a tampered encrypted target was read"; fi
ls "$M" >/dev/null
[ ! -e "$M/zero" ] || fail "a planted device node is visible"
ls -A "$M" | grep -qx zero && fail "a planted device node is listed"
if cat "$M/zero" 2>/dev/null | head -c 1 | grep -q .; then fail "reading a planted device node"; fi
# Creating the name the hidden node holds opens nothing: refused.
if out=$(sh -c 'echo x >"$1"' sh "$M/zero" 2>&1); then fail "created over a hidden device node"; fi
grep -q "Operation not permitted" <<<"$out" || fail "create over a hidden device node: $out (want EPERM)"
[ -c "$B/zero" ] || fail "the hidden device node changed"
for n in rawfifo rawsock; do
	[ ! -e "$M/$n" ] || fail "planted $n visible in a strict store"
	ls -A "$M" | grep -qx "$n" && fail "planted $n listed"
done
[ "$(stat -c %F "$M/forgedfifo")" = "regular file" ] || fail "a forged marker shown as $(stat -c %F "$M/forgedfifo")"
if cat "$M/forgedfifo" >/dev/null 2>&1; then fail "a forged marker opened"; fi
jc_umount "$M"
[ -z "$(ls -A "$V")" ] || fail "plaintext written outside the store"
[ "$(cat "$JC_TMP/forged")" = "FORGED-CONTENT" ] || fail "the forged file changed"
log=$(jc_log_since "$mark")
for s in s2 s3 stream/meta.inf stream2/meta.inf; do
	[ "$(grep -c "$B/$s: plaintext symlink" <<<"$log")" = 1 ] ||
		fail "planted $s not logged once: $(grep -c "$B/$s: plaintext symlink" <<<"$log") times"
done
grep -q "$B/abs: symlink target: authentication failed" <<<"$log" || fail "tampered target not logged: $log"
ok "planted symlinks (absolute and relative) write nothing outside and read as EIO, each logged once; devices and raw FIFO/socket hidden"

expect_exit 1 "$JCFS" fsck "$B"
for s in s2 s3 stream/meta.inf stream2/meta.inf; do
	expect_output_contains "$B/$s: plaintext symlink -> "
done
expect_output_contains "$B/s2: plaintext symlink -> $V: made before symlink encryption, or planted; check it, then run jetcryptfs encrypt"
expect_output_contains "$B/s3: plaintext symlink -> ../victim:"
expect_output_contains "$B/abs: symlink target: authentication failed"
expect_output_contains "$B/zero: character device node 1:5 in the backing directory"
expect_output_contains "$B/rawfifo: FIFO in a strict store's backing directory"
expect_output_contains "$B/rawsock: socket in a strict store's backing directory"
expect_output_contains "$B/forgedfifo: FIFO marker: authentication failed"
expect_exit 1 "$JCFS" fsck --json "$B"
expect_output_contains '"problem": "plaintext symlink -> ../victim:'
ok "fsck names each planted symlink, the tampered target, the device node, the raw FIFO and socket, the forged marker"

# --- migration: encrypt takes plaintext symlinks, in a strict store -------
rm -f "$B/s2" "$B/s3" "$B/zero" "$B/rawfifo" "$B/rawsock" "$B/forgedfifo" "$B/stream2/meta.inf"
ln -sfn "$JC_TMP/outfile" "$B/abs"
ln -sfn ../data.txt "$B/stream/meta.inf"        # as a link made before symlink encryption
touch -h -d '2001-02-03 04:05:06' "$B/stream/meta.inf"
expect_exit 0 "$JCFS" encrypt "$B"
expect_output_contains "$B/stream/meta.inf: plaintext symlink -> ../data.txt encrypted"
expect_output_contains "$B/abs: plaintext symlink -> $JC_TMP/outfile encrypted"
assert_links_encrypted "$B"
expect_exit 0 "$JCFS" fsck "$B"
jc_mount "$B" "$M" --strict
[ "$(cat "$M/stream/meta.inf")" = "the data" ] || fail "a migrated symlink"
[ "$(stat -c %Y "$M/stream/meta.inf")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
	fail "encrypt did not keep a symlink's time"
jc_umount "$M"
ok "encrypt converts plaintext symlinks of a strict store, listing each, keeping times"

# --- adopted store: raw FIFOs shown, devices still hidden -----------------
A=$JC_TMP/adopt
mkdir -p "$A/sub"
echo "plain old file" >"$A/sub/old.txt"
ln -s sub/old.txt "$A/oldlink"
mkfifo "$A/oldfifo"
mknod "$A/olddev" c 1 5
jc_mount "$A" "$M" --adopt
[ "$(stat -c %F "$M/oldfifo")" = fifo ] || fail "a FIFO of an adopted store is not shown"
[ ! -e "$M/olddev" ] || fail "a device node of an adopted store is visible"
if cat "$M/oldlink" >/dev/null 2>&1; then fail "a plaintext symlink of an adopted store was followed"; fi
mkfifo "$M/newfifo"
[ "$(head -c 4 "$A/newfifo")" = JCFS ] || fail "mkfifo in an adopted store made no marker"
jc_umount "$M"
expect_exit 1 "$JCFS" fsck "$A"
expect_output_contains "$A/oldlink: plaintext symlink -> sub/old.txt"
expect_output_contains "$A/olddev: character device node"
grep -q oldfifo <<<"$JC_OUTPUT" && fail "fsck reports a FIFO of an adopted store: $JC_OUTPUT"
rm "$A/olddev"
expect_exit 0 "$JCFS" encrypt "$A"
expect_output_contains "$A/oldlink: plaintext symlink -> sub/old.txt encrypted"
expect_output_contains "$A/oldfifo: FIFO made a marker"
[ "$(head -c 4 "$A/oldfifo")" = JCFS ] || fail "encrypt left a raw FIFO in a store it made strict"
expect_exit 0 "$JCFS" fsck "$A"
jc_mount "$A" "$M"
[ "$(cat "$M/oldlink")" = "plain old file" ] || fail "an adopted symlink after encrypt"
[ "$(stat -c %F "$M/oldfifo")" = fifo ] || fail "an adopted FIFO after encrypt"
jc_umount "$M"
ok "adopted store: raw FIFO shown, device hidden, plaintext symlink EIO; encrypt converts both"

# --- key rotation and rekey -------------------------------------------------
KEY1=$JS_KEY KEY2=$(jc_genkey)
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n}\n' "$KEY2" "$KEY1" >"$JC_TMP/rotate.conf"
unset JS_KEY
jc_mount "$B" "$M" -c "$JC_TMP/rotate.conf"
[ "$(readlink "$M/rel2")" = data.txt ] || fail "a symlink under the previous key"
ln -s data.txt "$M/newkey"
[ "$(readlink "$M/newkey")" = data.txt ] || fail "a symlink under the new key"
[ "$(stat -c %F "$M/sock")" = socket ] || fail "a socket marker under the previous key"
# rekey refuses what has several names, as for files.
rm "$M/rel3" "$M/fifo2"
jc_umount "$M"
"$JCFS" rekey --quiet -c "$JC_TMP/rotate.conf" "$B"
export JS_KEY=$KEY2
expect_exit 0 "$JCFS" fsck "$B"
jc_mount "$B" "$M"
for l in rel2 newkey; do
	[ "$(readlink "$M/$l")" = data.txt ] || fail "$l after rekey"
done
[ "$(readlink "$M/long")" = "$long" ] || fail "long after rekey"
[ "$(stat -c %F "$M/fifo")" = fifo ] && [ "$(stat -c %F "$M/sock")" = socket ] || fail "FIFO/socket after rekey"
[ "$(stat -c %a "$M/fifo")" = 640 ] || fail "FIFO mode after rekey"
jc_umount "$M"
JS_KEY=$KEY1 expect_exit 4 "$JCFS" fsck "$B"
ok "prev_key reads old symlinks and markers; rekey re-encrypts them; the new key alone reads them all"

# A lost descriptor is re-created from the key ids the store holds --
# symlink targets and xattr values among them: a symlink left alone under
# the old key keeps the mount from going ahead without that key.
L=$JC_TMP/lost
mkdir -p "$L"
JS_KEY=$KEY1 jc_mount "$L" "$M"
ln -s "a target under the first key" "$M/oldlink"
mkdir "$M/d"
setfattr -n user.note -v "a value under the first key" "$M/d"
jc_umount "$M"
JS_KEY=$KEY2 jc_mount "$L" "$M" -c "$JC_TMP/rotate.conf"
echo "under the second key" >"$M/new.txt"
jc_umount "$M"
rm "$L/.jetcryptfs"
JS_KEY=$KEY2 expect_exit 4 "$JCFS" mount --log-file "$JC_LOG" "$L" "$M"
expect_output_contains "is under key id"
expect_output_contains "add that key as prev_key"
jc_mount "$L" "$M" -c "$JC_TMP/rotate.conf"
[ "$(readlink "$M/oldlink")" = "a target under the first key" ] || fail "the old symlink after the descriptor's loss"
jc_umount "$M"
ok "a lost descriptor: the key of a symlink and an xattr value left under the old key is not forgotten"
