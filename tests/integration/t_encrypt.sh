#!/usr/bin/env bash
# encrypt: converting an adopted store in place. Plaintext files are put
# straight into the backing dir (a part of /usr/share/doc plus files with
# their own owner, mode, times and sizes), the store is adopted through a
# mount, and encrypt is SIGKILLed part-way three times (a test-only delay
# makes the runs slow enough). Between kills the mount shows every file
# intact and hides the leftover temp file; the final run removes it,
# encrypts what is left, and the store turns strict: every file has a
# header, contents, owner, mode and times are the originals, the mount
# needs no --adopt, and a plaintext file slipped in later reads as EIO.
# Also: refused while mounted (7), a never-mounted directory is adopted
# and encrypted, SIGINT stops cleanly (130) and a rerun finishes, a file
# with two hard links is named and keeps the store adopted.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m ORIG=$JC_TMP/orig
mkdir -p "$B" "$M"

# The plaintext tree: a part of /usr/share/doc (with its symlinks) ...
docs=(/usr/share/doc/*)
for d in "${docs[@]:0:100}"; do
	cp -a "$d" "$B/" 2>/dev/null || true
done
# ... and files whose metadata and sizes matter.
mkdir -p "$B/own/deep/er"
head -c 3000000 /dev/urandom >"$B/own/big.bin"          # several chunks
head -c 4096 /dev/urandom >"$B/own/deep/block"
: >"$B/own/empty"
echo "secret plaintext marker 7f3a" >"$B/own/deep/er/marker.txt"
echo "owned by nobody" >"$B/own/nobody.txt"
chown 65534:65534 "$B/own/nobody.txt"
chmod 0640 "$B/own/nobody.txt"
echo "old times" >"$B/own/times.txt"
chmod 0400 "$B/own/times.txt"
ln -s deep/block "$B/own/link"
cp -a "$B" "$ORIG"
# Set after the copy (which reads the file): nothing may touch them now.
for t in "$B" "$ORIG"; do
	touch -m -d '2001-02-03 04:05:06.123456789' "$t/own/times.txt"
	touch -a -d '2002-03-04 05:06:07.987654321' "$t/own/times.txt"
done
times_before=$(stat -c '%x %y' "$B/own/times.txt")
nfiles=$(find "$B" -type f -size +0 | wc -l)
[ "$nfiles" -gt 200 ] || fail "only $nfiles files to encrypt"

# meta DIR: what must survive, per non-directory (times of symlinks too).
meta() {
	(cd "$1" && find . ! -type d ! -name times.txt -printf '%p %y %m %U %G %s %T@\n' | sort)
}
meta "$ORIG" >"$JC_TMP/meta.orig"

count_encrypted() {
	find "$B" -type f -size +0 ! -path "$B/.jetcryptfs" ! -name '.jetcryptfs-tmp-*' ! -name times.txt -print0 |
		xargs -0r head -qc 4 | grep -ao JCFS | wc -l
}

jc_mount "$B" "$M" --adopt
echo "written through the mount" >"$M/own/new.txt"
expect_exit 7 "$JCFS" encrypt "$B"
expect_output_contains "already mounted on $M; unmount it first"
jc_umount "$M"
ok "adopted $nfiles plaintext files; encrypt refused while mounted (7)"

# Killed part-way, three times.
tmp_seen=0
for wait in 0.6 1.0 1.4; do
	JETCRYPTFS_TEST_DELAY_MS=20 "$JCFS" encrypt --quiet "$B" 2>>"$JC_TMP/enc.err" &
	pid=$!
	sleep "$wait"
	kill -KILL "$pid" 2>/dev/null || fail "encrypt finished before it could be killed"
	wait "$pid" 2>/dev/null || true
	n=$(find "$B" -name '.jetcryptfs-tmp-*' | wc -l)
	tmp_seen=$((tmp_seen + n))
done
done_mid=$(count_encrypted)
[ "$done_mid" -gt 1 ] && [ "$done_mid" -lt "$nfiles" ] || fail "after the kills $done_mid of $nfiles+1 files are encrypted"
[ "$tmp_seen" -gt 0 ] || fail "no kill landed inside a file (no temp file left)"
grep -q '^plaintext allowed$' "$B/.jetcryptfs" || fail "the store turned strict part-way"
ok "3 kills: $done_mid files encrypted, the rest plaintext, $tmp_seen temp files left behind"

# Mid-way the mount shows every file intact and no temp file. The adopted
# symlinks are plaintext until encrypt has done the files: like planted
# ones, they read as EIO.
jc_mount "$B" "$M" --adopt
(cd "$ORIG" && find . -type f ! -name times.txt -print0) | while IFS= read -r -d '' f; do
	cmp -s "$ORIG/$f" "$M/$f" || fail "mid-way the mount differs from the original: $f"
done
[ "$(find "$ORIG" -type l | wc -l)" -gt 0 ] || fail "no symlinks among the originals"
readlink -v "$M/own/link" >/dev/null 2>"$JC_TMP/err" && fail "a plaintext symlink was read mid-way"
grep -q "Input/output error" "$JC_TMP/err" || fail "plaintext symlink mid-way: $(cat "$JC_TMP/err")"
[ -z "$(find "$M" -name '.jetcryptfs-tmp-*')" ] || fail "the mount shows a temp file"
jc_umount "$M"
ok "mid-way: every file reads as its original through the mount, plaintext symlinks as EIO, temp files hidden"

# The final run. The last kill may have landed between two files, with no
# temp file left for this run to remove.
tmp_left=$(find "$B" -name '.jetcryptfs-tmp-*' | wc -l)
expect_exit 0 "$JCFS" encrypt "$B"
[ "$tmp_left" -eq 0 ] || expect_output_contains "removed $tmp_left temp files"
expect_output_contains "the store is now strict"
expect_output_contains "mount it without --adopt from now on"
[ "$(stat -c '%x %y' "$B/own/times.txt")" = "$times_before" ] ||
	fail "times not kept: $(stat -c '%x %y' "$B/own/times.txt") vs $times_before"
[ -z "$(find "$B" -name '.jetcryptfs-tmp-*')" ] || fail "temp files left after a complete run"
assert_encrypted "$B"
assert_no_plaintext "$B" "secret plaintext marker 7f3a"
grep -q '^plaintext refused$' "$B/.jetcryptfs" || fail "descriptor not strict: $(cat "$B/.jetcryptfs")"
[ "$(stat -c '%a %U' "$B/own/times.txt" "$B/own/nobody.txt" | tr '\n' ' ')" = "400 root 640 nobody " ] ||
	fail "mode/owner not kept: $(stat -c '%a %U' "$B/own/times.txt" "$B/own/nobody.txt")"
ok "final run: every file encrypted, no temp file, store strict, owner/mode/atime/mtime kept"

jc_mount "$B" "$M"              # no --adopt
diff -r --no-dereference -x new.txt "$ORIG" "$M" >"$JC_TMP/diff" 2>&1 ||
	fail "after encrypt the mount differs from the originals: $(head -n 5 "$JC_TMP/diff")"
[ "$(cat "$M/own/new.txt")" = "written through the mount" ] || fail "new.txt"
meta "$M" | grep -v ' ./own/new.txt ' >"$JC_TMP/meta.now"
grep -v '^./own/new.txt ' "$JC_TMP/meta.now" | diff "$JC_TMP/meta.orig" - >"$JC_TMP/diff" ||
	fail "metadata differs through the mount: $(head -n 5 "$JC_TMP/diff")"
# Strict now: a plaintext file slipped into the backing dir is an I/O error.
echo "forged plaintext" >"$B/own/forged.txt"
cat "$M/own/forged.txt" >/dev/null 2>"$JC_TMP/err" && fail "a plaintext file reads in a strict store"
grep -q "Input/output error" "$JC_TMP/err" || fail "forged file: $(cat "$JC_TMP/err")"
jc_umount "$M"
ok "mount without --adopt: contents and metadata equal the originals; forged plaintext reads as EIO"

expect_exit 1 "$JCFS" encrypt "$B"
expect_output_contains "$B/own/forged.txt: plaintext file in a strict store"
rm "$B/own/forged.txt"
expect_exit 0 "$JCFS" encrypt "$B"
expect_output_contains "encrypted 0 of 0"
expect_exit 0 "$JCFS" fsck "$B"
ok "a later plaintext file is refused, not encrypted (1); a rerun has nothing to do; fsck clean"

# A directory that was never mounted: encrypt adopts it. SIGINT first.
P=$JC_TMP/p
mkdir -p "$P/a/b"
for i in $(seq 1 120); do seq "$i" 2000 >"$P/a/f$i"; done
head -c 500000 /dev/urandom >"$P/a/b/blob"
cp -a "$P" "$JC_TMP/p.orig"
JETCRYPTFS_TEST_DELAY_MS=20 "$JCFS" encrypt "$P" 2>"$JC_TMP/int.err" &
pid=$!
sleep 0.8
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || fail "encrypt stopped by SIGINT exited $rc: $(cat "$JC_TMP/int.err")"
grep -q "interrupted" "$JC_TMP/int.err" || fail "no interruption message: $(cat "$JC_TMP/int.err")"
[ -z "$(find "$P" -name '.jetcryptfs-tmp-*')" ] || fail "SIGINT left a temp file"
grep -q '^plaintext allowed$' "$P/.jetcryptfs" || fail "interrupted run made the store strict"
expect_exit 0 "$JCFS" encrypt --quiet "$P"
assert_encrypted "$P"
jc_mount "$P" "$JC_TMP/pm"
diff -r "$JC_TMP/p.orig" "$JC_TMP/pm" >"$JC_TMP/diff" || fail "never-mounted dir after encrypt: $(head -n 5 "$JC_TMP/diff")"
jc_umount "$JC_TMP/pm"
ok "never-mounted dir: SIGINT stops cleanly (130, no temp file), a rerun finishes, contents equal"

# Hard links are not split.
H=$JC_TMP/h
mkdir -p "$H"
echo one >"$H/x"
ln "$H/x" "$H/y"
echo two >"$H/z"
expect_exit 1 "$JCFS" encrypt "$H"
expect_output_contains "$H/x: has 2 hard links; not converted"
expect_output_contains "encrypted 1 of 3 plaintext files"
grep -q '^plaintext allowed$' "$H/.jetcryptfs" || fail "store with an unconverted file turned strict"
[ "$(stat -c %h "$H/x")" -eq 2 ] && [ "$(head -c 4 "$H/z")" = JCFS ] || fail "hard links split or z not encrypted"
expect_exit 0 "$JCFS" fsck "$H"
expect_output_contains "except the 2 with more than one hard link"
rm "$H/y"
expect_exit 0 "$JCFS" encrypt "$H"
expect_output_contains "encrypted 1 of 1 plaintext files"
expect_output_contains "the store is now strict"
ok "a file with two hard links is named and left, counted, and noted by fsck; one name left, it converts"
