#!/usr/bin/env bash
# The offline tools on real stores made through the mount, one per cipher:
# inspect names each file's cipher and key id (and its --json parses);
# cat of every backing file equals the mounted view, also while mounted;
# fsck is clean (0) until one flipped byte, then names the file and block
# (1), and refuses a wrong key (4) or no key (3); cat stops at the bad
# block after exactly the good bytes before it. rekey from prev_key moves
# every file and the descriptor to the new key (and cipher), after which the
# new key alone mounts and the old one alone is refused (4); before rekey
# has finished, the new key alone is refused too (4: the old key is
# recorded as retired), by mount, fsck and rekey; rekey and encrypt refuse
# a mounted store (7).
. "$(dirname "$0")/lib.sh"

unset JS_KEY
OLD=$(jc_genkey)
NEW=$(jc_genkey)
export JS_KEY=$OLD

# node parses the --json outputs (it is there for the NATS tests).
json() {
	node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")); process.stdout.write(String(eval(process.argv[1])) + "\n")' "$1"
}

# fill MNT: a few files of telling sizes (0, 1, a block, blocks and a bit).
fill() {
	mkdir -p "$1/dir/sub"
	: >"$1/empty"
	printf x >"$1/one"
	head -c 4096 /dev/urandom >"$1/block"
	head -c 10000 /dev/urandom >"$1/dir/ten"
	head -c 300000 /dev/urandom >"$1/dir/sub/big"
	seq 1 20000 >"$1/dir/seq.txt"
}
FILES="empty one block dir/ten dir/sub/big dir/seq.txt"

declare -A CIPHER=([c]=chachapoly [a]=aes)
for s in c a; do
	jc_mount "$JC_TMP/b$s" "$JC_TMP/m$s" --cipher "${CIPHER[$s]}"
	fill "$JC_TMP/m$s"
done

# cat while mounted equals the mounted view.
for s in c a; do
	for f in $FILES; do
		"$JCFS" cat "$JC_TMP/b$s/$f" | cmp -s - "$JC_TMP/m$s/$f" ||
			fail "cat of b$s/$f differs from the mounted view"
	done
done
ok "cat equals the mounted view for every file, both ciphers, while mounted"

# encrypt and rekey refuse a mounted store; fsck and inspect do not.
expect_exit 7 "$JCFS" encrypt "$JC_TMP/bc"
expect_output_contains "already mounted on $JC_TMP/mc; unmount it first"
expect_exit 7 "$JCFS" rekey "$JC_TMP/ba"
expect_exit 0 "$JCFS" fsck "$JC_TMP/bc"
ok "encrypt/rekey refused while mounted (7); fsck runs"
for s in a c; do
	for f in $FILES; do cat "$JC_TMP/m$s/$f"; done | sha256sum >"$JC_TMP/sum.$s"
	cp "$JC_TMP/m$s/dir/sub/big" "$JC_TMP/big.orig"        # the c copy stays
	jc_umount "$JC_TMP/m$s"
done

# inspect: no key needed.
for s in c a; do
	expect_exit 0 env -u JS_KEY "$JCFS" inspect "$JC_TMP/b$s"
	key_id=$(awk '$1 == "key_id" { print $2 }' "$JC_TMP/b$s/.jetcryptfs")
	for f in one block dir/ten dir/sub/big dir/seq.txt; do
		line=$(grep -F "$JC_TMP/b$s/$f: " <<<"$JC_OUTPUT") || fail "inspect lists no $f: $JC_OUTPUT"
		grep -qF "cipher ${CIPHER[$s]}, key id $key_id" <<<"$line" || fail "inspect line for $f: $line"
	done
	grep -qF "$JC_TMP/b$s/dir/ten: encrypted, format 1, cipher ${CIPHER[$s]}" <<<"$JC_OUTPUT" || fail "$JC_OUTPUT"
	grep -qF "10000 bytes in 3 blocks" <<<"$JC_OUTPUT" || fail "inspect size of dir/ten: $JC_OUTPUT"
	grep -qF "$JC_TMP/b$s/empty: empty" <<<"$JC_OUTPUT" || fail "inspect of the empty file: $JC_OUTPUT"
	"$JCFS" inspect --json "$JC_TMP/b$s/dir/ten" >"$JC_TMP/i.json"
	[ "$(json 'j[0].cipher + " " + j[0].size + " " + j[0].blocks + " " + j[0].key_id' <"$JC_TMP/i.json")" = \
		"${CIPHER[$s]} 10000 3 $key_id" ] || fail "inspect --json: $(cat "$JC_TMP/i.json")"
done
ok "inspect names cipher, key id, size and blocks for both ciphers (text and JSON)"

# cat offline equals what the mount showed.
for s in c a; do
	for f in $FILES; do "$JCFS" cat "$JC_TMP/b$s/$f"; done | sha256sum | cmp -s - "$JC_TMP/sum.$s" ||
		fail "offline cat of b$s differs from the mounted view"
done
ok "offline cat equals the mounted view"

# fsck: clean, then one flipped byte in block 2 of dir/sub/big (chachapoly,
# stored blocks of 4136 bytes after the 32-byte header).
for s in c a; do
	expect_exit 0 "$JCFS" fsck "$JC_TMP/b$s"
	expect_output_contains "clean"
	"$JCFS" fsck --json "$JC_TMP/b$s" >"$JC_TMP/f.json"
	[ "$(json 'j.clean + " " + j.encrypted + " " + j.problems.length' <"$JC_TMP/f.json")" = "true 5 0" ] ||
		fail "fsck --json: $(cat "$JC_TMP/f.json")"
done
ok "fsck clean: 0"

BAD=$JC_TMP/bc/dir/sub/big
off=$((32 + 2 * 4136 + 100))
byte=$(xxd -s "$off" -l 1 -p "$BAD")
printf "\\x$(printf %02x $((0x$byte ^ 0x01)))" | dd of="$BAD" bs=1 seek="$off" conv=notrunc status=none
expect_exit 1 "$JCFS" fsck "$JC_TMP/bc"
expect_output_contains "$BAD: block 2: authentication failed"
[ "$(grep -c ': block ' <<<"$JC_OUTPUT")" -eq 1 ] || fail "fsck reported more than one bad block: $JC_OUTPUT"
"$JCFS" fsck --json "$JC_TMP/bc" >"$JC_TMP/f.json" || true
[ "$(json 'j.clean + " " + j.status + " " + j.problems[0].file + " " + j.problems[0].block' <"$JC_TMP/f.json")" = \
	"false 1 $BAD 2" ] || fail "fsck --json of the damaged store: $(cat "$JC_TMP/f.json")"
ok "fsck names the flipped byte's file and block, exit 1"

rc=0
"$JCFS" cat "$BAD" >"$JC_TMP/partial" 2>"$JC_TMP/cat.err" || rc=$?
[ "$rc" -eq 1 ] || fail "cat of a damaged file exited $rc"
[ "$(cat "$JC_TMP/cat.err")" = "jetcryptfs: error: $BAD: block 2: authentication failed; output stopped there, after 8192 good bytes" ] ||
	fail "cat error (one line): $(cat "$JC_TMP/cat.err")"
[ "$(stat -c %s "$JC_TMP/partial")" -eq 8192 ] || fail "cat wrote $(stat -c %s "$JC_TMP/partial") bytes, not the 8192 good ones"
cmp -s "$JC_TMP/partial" <(head -c 8192 "$JC_TMP/big.orig") || fail "the good bytes before the bad block differ"
ok "cat stops at the bad block after exactly the good bytes: $(tr '\n' ' ' <"$JC_TMP/cat.err")"

expect_exit 4 env JS_KEY="$NEW" "$JCFS" fsck "$JC_TMP/ba"
expect_output_contains "key does not match this store"
expect_exit 3 env -u JS_KEY "$JCFS" fsck "$JC_TMP/ba"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" cat "$JC_TMP/ba/one"
ok "fsck/cat: wrong key 4, no key 3"

# A file whose magic was damaged, or whose header was cut short, is never
# shown as its ciphertext: cat refuses a file with no header in a strict
# store and outside any store, and cat, inspect, fsck and the mount all
# name a header cut short as such.
D=$JC_TMP/bc/dir
cp "$D/ten" "$D/ten.magic"
printf X | dd of="$D/ten.magic" bs=1 conv=notrunc status=none
head -c 20 "$D/ten" >"$D/ten.short"
cp "$D/ten.magic" "$JC_TMP/loose"
rc=0
"$JCFS" cat "$D/ten.magic" >"$JC_TMP/out" 2>"$JC_TMP/cat.err" || rc=$?
[ "$rc" -eq 1 ] && [ ! -s "$JC_TMP/out" ] ||
	fail "cat of a file with a damaged magic in a strict store: exit $rc, $(stat -c %s "$JC_TMP/out") bytes out"
[ "$(cat "$JC_TMP/cat.err")" = "jetcryptfs: error: $D/ten.magic: not encrypted (no jetcryptfs header), and its store does not allow plaintext files" ] ||
	fail "cat of a file with a damaged magic: $(cat "$JC_TMP/cat.err")"
# An adopted store's plaintext file is copied, with a warning; a wrong key
# is a wrong key (4). Its descriptor, copied into a directory of the
# strict store, does not make that store's files plaintext: the store's
# own descriptor, at its root, decides.
mkdir "$JC_TMP/bp"
echo "plain text" >"$JC_TMP/bp/p.txt"
jc_mount "$JC_TMP/bp" "$JC_TMP/mp" --adopt
jc_umount "$JC_TMP/mp"
[ "$("$JCFS" cat "$JC_TMP/bp/p.txt" 2>"$JC_TMP/cat.err")" = "plain text" ] &&
	grep -q "p.txt: not encrypted (plaintext file); copying it as it is" "$JC_TMP/cat.err" ||
	fail "cat of an adopted store's plaintext file: $(cat "$JC_TMP/cat.err")"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" cat "$JC_TMP/bp/p.txt"
expect_output_contains "p.txt: not encrypted (no jetcryptfs header), and its store descriptor is under another key"
cp "$JC_TMP/bp/.jetcryptfs" "$D/.jetcryptfs"
expect_exit 1 "$JCFS" cat "$D/ten.magic"
expect_output_contains "its store does not allow plaintext files"
rm "$D/.jetcryptfs"
expect_exit 1 "$JCFS" cat "$JC_TMP/loose"
expect_output_contains "$JC_TMP/loose: not encrypted (no jetcryptfs header), and not inside a store"
expect_exit 1 "$JCFS" cat "$D/ten.short"
expect_output_contains "$D/ten.short: truncated header"
expect_exit 1 "$JCFS" inspect "$D/ten.short"
expect_output_contains "$D/ten.short: truncated header (JCFS magic, 20 of 32 bytes)"
expect_exit 1 "$JCFS" fsck "$JC_TMP/bc"
expect_output_contains "$D/ten.short: truncated header"
expect_output_contains "$D/ten.magic: not encrypted (plaintext file in a strict store)"
jc_mount "$JC_TMP/bc" "$JC_TMP/mc"
for f in ten.short ten.magic; do
	cat "$JC_TMP/mc/dir/$f" >/dev/null 2>"$JC_TMP/read.err" && fail "$f read through the mount"
	grep -q "Input/output error" "$JC_TMP/read.err" || fail "$f through the mount: $(cat "$JC_TMP/read.err")"
done
grep -q "dir/ten.short: truncated header" "$JC_LOG" || fail "the log does not name the truncated header: $(tail -n 3 "$JC_LOG")"
jc_umount "$JC_TMP/mc"
# Cut one byte into block 1: cat writes block 0, then names block 1.
cp "$D/ten" "$D/ten.cut"
truncate -s $((32 + 4136 + 1)) "$D/ten.cut"
rc=0
"$JCFS" cat "$D/ten.cut" >"$JC_TMP/out" 2>"$JC_TMP/cat.err" || rc=$?
[ "$rc" -eq 1 ] && cmp -s "$JC_TMP/out" <("$JCFS" cat "$D/ten" | head -c 4096) ||
	fail "cat of a file cut inside block 1: exit $rc, $(stat -c %s "$JC_TMP/out") bytes"
[ "$(cat "$JC_TMP/cat.err")" = "jetcryptfs: error: $D/ten.cut: block 1: truncated (the file ends inside it); output stopped there, after 4096 good bytes" ] ||
	fail "cat of a file cut inside block 1: $(cat "$JC_TMP/cat.err")"
rm -f "$D/ten.magic" "$D/ten.short" "$D/ten.cut" "$JC_TMP/loose"
ok "no header or a header cut short: cat refuses it in a strict store and outside one; all name a truncated header; a file cut inside a block: cat writes the blocks before it"

# rekey: store ba (aes, OLD) to NEW with chachapoly, through prev_key.
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n  cipher: chachapoly\n}\n' "$NEW" "$OLD" >"$JC_TMP/rekey.conf"
old_id=$(awk '$1 == "key_id" { print $2 }' "$JC_TMP/ba/.jetcryptfs")
jc_mount "$JC_TMP/ba" "$JC_TMP/ma" -c "$JC_TMP/rekey.conf"
echo "written under the new key" >"$JC_TMP/ma/new.txt"
jc_umount "$JC_TMP/ma"
[ "$(awk '$1 == "retired" { print $2 }' "$JC_TMP/ba/.jetcryptfs")" = "$old_id" ] ||
	fail "the rotation did not record key id $old_id as retired: $(cat "$JC_TMP/ba/.jetcryptfs")"
cp "$JC_TMP/ba/.jetcryptfs" "$JC_TMP/desc.rotated"
RETIRED_MSG="$JC_TMP/ba: files under key id $old_id remain (rotated out, not yet rekeyed): add it as prev_key, or run jetcryptfs rekey with it"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" mount --log-file "$JC_LOG" "$JC_TMP/ba" "$JC_TMP/ma"
expect_output_contains "$RETIRED_MSG"
[ "$(grep -cF "rotated out" <<<"$JC_OUTPUT")" -eq 1 ] || fail "not one line: $JC_OUTPUT"
jc_is_mounted "$JC_TMP/ma" && fail "the new key alone mounted a store with files under the retired key"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" fsck "$JC_TMP/ba"
expect_output_contains "$RETIRED_MSG"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" rekey "$JC_TMP/ba"
expect_output_contains "$RETIRED_MSG"
cmp -s "$JC_TMP/ba/.jetcryptfs" "$JC_TMP/desc.rotated" || fail "a refused command changed the descriptor"
# A lost descriptor is re-created from the headers, retired key included.
# Refused without the old key, naming a file under it (the headers say
# only that some file is under a key not given).
rm "$JC_TMP/ba/.jetcryptfs"
expect_exit 4 env JS_KEY="$NEW" "$JCFS" mount --log-file "$JC_LOG" "$JC_TMP/ba" "$JC_TMP/ma"
expect_output_contains "$JC_TMP/ba: "
expect_output_contains " is under key id $old_id, not a given key ("
expect_output_contains "add that key as prev_key, or run jetcryptfs rekey with it; if no key was rotated, its header is damaged"
f=$(sed -n "s|.*$JC_TMP/ba: \(.*\) is under key id.*|\1|p" <<<"$JC_OUTPUT")
[ -f "$JC_TMP/ba/$f" ] && [ "$(xxd -s 8 -l 8 -p "$JC_TMP/ba/$f")" = "$old_id" ] ||
	fail "the refusal names no file under key id $old_id: $JC_OUTPUT"
[ ! -e "$JC_TMP/ba/.jetcryptfs" ] || fail "a refused mount wrote a descriptor"
jc_mount "$JC_TMP/ba" "$JC_TMP/ma" -c "$JC_TMP/rekey.conf"
jc_umount "$JC_TMP/ma"
cmp -s "$JC_TMP/ba/.jetcryptfs" "$JC_TMP/desc.rotated" ||
	fail "the descriptor re-created from the headers differs: $(cat "$JC_TMP/ba/.jetcryptfs")"
ok "rotated, not yet rekeyed: the new key alone is refused (4, one line) by mount, fsck and rekey; a lost descriptor is re-created with the retired key"
expect_exit 0 env -u JS_KEY "$JCFS" fsck -c "$JC_TMP/rekey.conf" "$JC_TMP/ba"
expect_output_contains "note: key id $old_id is retired: a mount needs it too (prev_key) until jetcryptfs rekey"
env -u JS_KEY "$JCFS" fsck -c "$JC_TMP/rekey.conf" --json "$JC_TMP/ba" >"$JC_TMP/f.json"
[ "$(json 'j.descriptor.retired.join(",")' <"$JC_TMP/f.json")" = "$old_id" ] ||
	fail "fsck --json does not list the retired key id $old_id: $(cat "$JC_TMP/f.json")"
ok "fsck with both keys: clean, and names the retired key id (text and --json)"
expect_exit 0 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey.conf" "$JC_TMP/ba"
new_id=$(awk '$1 == "key_id" { print $2 }' "$JC_TMP/ba/.jetcryptfs")
[ "$(head -n 1 "$JC_TMP/ba/.jetcryptfs")" = "jetcryptfs store 1" ] && ! grep -q '^retired' "$JC_TMP/ba/.jetcryptfs" ||
	fail "rekey did not clear the retired key: $(cat "$JC_TMP/ba/.jetcryptfs")"
env -u JS_KEY "$JCFS" fsck -c "$JC_TMP/rekey.conf" --json "$JC_TMP/ba" >"$JC_TMP/f.json"
[ "$(json 'j.descriptor.retired.length' <"$JC_TMP/f.json")" = 0 ] ||
	fail "fsck --json still lists retired keys after rekey: $(cat "$JC_TMP/f.json")"
"$JCFS" inspect "$JC_TMP/ba" >"$JC_TMP/inspect.txt"
grep ': encrypted' "$JC_TMP/inspect.txt" | grep -vF "cipher chachapoly, key id $new_id" &&
	fail "files left under the old key or cipher after rekey"
[ "$(grep -c ': encrypted' "$JC_TMP/inspect.txt")" -eq 6 ] || fail "inspect after rekey: $(cat "$JC_TMP/inspect.txt")"
expect_exit 0 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey.conf" "$JC_TMP/ba"
expect_output_contains "re-encrypted 0 of 0 files"
ok "rekey converts every file to the new key and cipher; a second run has nothing to do"

expect_exit 0 env JS_KEY="$NEW" "$JCFS" fsck "$JC_TMP/ba"
JS_KEY=$NEW jc_mount "$JC_TMP/ba" "$JC_TMP/ma"
for f in $FILES; do cat "$JC_TMP/ma/$f"; done | sha256sum | cmp -s - "$JC_TMP/sum.a" || fail "content changed by rekey"
[ "$(cat "$JC_TMP/ma/new.txt")" = "written under the new key" ] || fail "new.txt after rekey"
stat -c '%n %s' "$JC_TMP"/ma/dir/ten | grep -q ' 10000$' || fail "size after rekey"
jc_umount "$JC_TMP/ma"
expect_exit 4 env JS_KEY="$OLD" "$JCFS" mount --log-file "$JC_LOG" "$JC_TMP/ba" "$JC_TMP/ma"
expect_output_contains "key does not match this store"
jc_is_mounted "$JC_TMP/ma" && fail "the old key mounted"
ok "after rekey the new key alone mounts and the old key alone is refused (4)"

# rekey cannot convert a file with a bad block: named, exit 1, rest done.
printf 'jetstream {\n  key: "%s"\n  prev_key: "%s"\n}\n' "$NEW" "$OLD" >"$JC_TMP/rekey2.conf"
expect_exit 1 env -u JS_KEY "$JCFS" rekey -c "$JC_TMP/rekey2.conf" "$JC_TMP/bc"
expect_output_contains "$BAD: block 2: authentication failed"
expect_output_contains "1 file"
[ "$(head -c 4 "$BAD")" = JCFS ] || fail "the damaged file was replaced"
[ -z "$(find "$JC_TMP/bc" -name '.jetcryptfs-tmp-*')" ] || fail "rekey left a temp file"
ok "rekey names a file it cannot decrypt and converts the rest"

# Odd input for inspect and fsck: a file name that is not UTF-8 stays
# valid JSON (U+FFFD for the byte), a damaged file of that name is named
# by fsck --json the same way; a malformed store descriptor is damaged
# (exit 1), not a plaintext file.
U=$JC_TMP/bu
jc_mount "$U" "$JC_TMP/mu"
head -c 10000 /dev/urandom >"$JC_TMP/mu/bad"$'\xff'"name"
jc_umount "$JC_TMP/mu"
printf X | dd of="$U/bad"$'\xff'"name" bs=1 seek=100 conv=notrunc status=none
"$JCFS" inspect --json "$U" >"$JC_TMP/u.json"
iconv -f UTF-8 -t UTF-8 "$JC_TMP/u.json" >/dev/null || fail "inspect --json is not UTF-8: $(cat -v "$JC_TMP/u.json")"
[ "$(json 'j.filter(o => o.file.endsWith("/bad\ufffdname") && o.type == "encrypted").length' <"$JC_TMP/u.json")" = 1 ] ||
	fail "inspect --json of a non-UTF-8 name: $(cat -v "$JC_TMP/u.json")"
"$JCFS" fsck --json "$U" >"$JC_TMP/uf.json" || true
iconv -f UTF-8 -t UTF-8 "$JC_TMP/uf.json" >/dev/null || fail "fsck --json is not UTF-8: $(cat -v "$JC_TMP/uf.json")"
[ "$(json 'j.problems.filter(p => p.file.endsWith("/bad\ufffdname")).length' <"$JC_TMP/uf.json")" = 1 ] ||
	fail "fsck --json of a damaged non-UTF-8 name: $(cat -v "$JC_TMP/uf.json")"
printf 'garbage\n' >"$U/.jetcryptfs"
expect_exit 1 "$JCFS" inspect "$U"
expect_output_contains "$U/.jetcryptfs: malformed store descriptor"
"$JCFS" inspect --json "$U/.jetcryptfs" >"$JC_TMP/d.json" && fail "inspect --json of a malformed descriptor exited 0"
[ "$(json 'j[0].type + " " + j[0].error' <"$JC_TMP/d.json")" = "damaged malformed store descriptor" ] ||
	fail "inspect --json of a malformed descriptor: $(cat "$JC_TMP/d.json")"
ok "inspect/fsck --json with a non-UTF-8 name; inspect of a malformed descriptor: damaged, exit 1"
