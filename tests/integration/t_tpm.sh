#!/usr/bin/env bash
# The tpm {} key source end to end through `jetcryptfs mount -c CONF`, on a
# swtpm of its own (own state dir, free loopback port pair, lockout relaxed,
# stopped by PID after an orderly TPM shutdown, also by the cleanup trap).
# First mount seals a new key into a 0600 keys file; remount unseals it and
# the data reads back. Refusals, each one line naming the file or the TPM,
# with their exit status: config errors 2 (key with tpm, pcr 16), wrong
# encryption_password 10, changed PCR 23 11 (and working again after a PCR
# reset or a TPM restart), lockout 12, swtpm down 13, another TPM 14,
# damaged keys file 15, key-check mismatch 16, keys file missing over
# encrypted data 17 (and no new keys file), plaintext files without
# --adopt 5 or under strict 8, a descriptor that is a directory 6 (no keys
# file sealed for any of them), config pcr other than the
# sealed one 18, owner hierarchy with a password 19. srk_password does not
# matter (docs/TPM.md says so). `tpm { cipher: aes }` picks cipher id 2 for
# new files. At the end no transient object or session is left in the TPM.
. "$(dirname "$0")/lib.sh"

for tool in swtpm tpm2_shutdown tpm2_pcrextend tpm2_pcrreset tpm2_getcap tpm2_dictionarylockout tpm2_changeauth xxd; do
	command -v "$tool" >/dev/null || fail "$tool not installed (scripts/setup.sh installs swtpm and tpm2-tools)"
done
unset JS_KEY TPM2TOOLS_TCTI
export TSS2_LOG=all+none        # the tools' own ERROR lines; we check outcomes

# ---- swtpm ---------------------------------------------------------------

declare -A TPM_PORT=()          # swtpm name -> server port (control = port + 1)
declare -A TPM_PID=()           # swtpm name -> pid
TPM_ALL=()                      # every swtpm pid ever started, for the cleanup

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Alive and not a zombie (kill -0 finds zombies too).
tpm_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

tcti() {
	echo "swtpm:host=127.0.0.1,port=${TPM_PORT[$1]}"
}

# tpmcmd CMD...: runs a tpm2 tool, fails the test with its output if it fails.
tpmcmd() {
	local out
	out=$("$@" 2>&1) || fail "$*: $out"
}

# tpm_start NAME: starts swtpm NAME on state dir $JC_TMP/tpm-NAME (reused if
# it exists: same seeds, PCRs reset) on a free loopback port pair. swtpm
# runs as our child, not with --daemon, so that its pid is known from the
# first instant and no failure path can lose it.
tpm_start() {
	local name=$1 dir=$JC_TMP/tpm-$1 port pid i j base
	mkdir -p "$dir/state"
	base=$((24000 + ($$ * 2 + RANDOM * 2) % 6000))
	for ((i = 0; i < 50; i++)); do
		port=$((base + 2 * i))
		((port < 30000)) || port=$((port - 6000))
		port_busy "$port" || port_busy $((port + 1)) && continue
		swtpm socket --tpm2 --tpmstate dir="$dir/state" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear --log file="$dir/swtpm.log" \
			</dev/null >>"$dir/swtpm.out" 2>&1 &
		pid=$!
		TPM_ALL+=("$pid")
		# Ready when it answers; gone when another process took the port.
		for ((j = 0; j < 200; j++)); do
			tpm_alive "$pid" || break
			if tpm2_getrandom -T "swtpm:host=127.0.0.1,port=$port" 4 >/dev/null 2>&1; then
				TPM_PORT[$name]=$port
				TPM_PID[$name]=$pid
				break 2
			fi
			sleep 0.1
		done
		tpm_alive "$pid" && fail "swtpm $name on port $port does not answer: $(tail -n 3 "$dir/swtpm.out")"
		wait "$pid" 2>/dev/null || true
	done
	[ -n "${TPM_PORT[$name]:-}" ] || fail "cannot start swtpm $name: $(tail -n 3 "$dir/swtpm.out")"
	# Wrong passwords below must not lock the TPM out for 1000 s.
	tpmcmd tpm2_dictionarylockout -T "$(tcti "$name")" --setup-parameters \
		--max-tries=32 --recovery-time=10 --lockout-recovery-time=10
}

# tpm_stop NAME: orderly shutdown first (else swtpm counts a failed
# authorization), then SIGTERM, SIGKILL after 5 s.
tpm_stop() {
	local name=$1 pid i
	pid=${TPM_PID[$name]:-}
	[ -n "$pid" ] || return 0
	if tpm_alive "$pid"; then
		timeout 5 tpm2_shutdown -T "$(tcti "$name")" -c >/dev/null 2>&1 || true
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			tpm_alive "$pid" || break
			sleep 0.1
		done
		tpm_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
	unset "TPM_PORT[$name]" "TPM_PID[$name]"
	return 0
}

tpm_stop_all() {
	local name pid
	for name in "${!TPM_PID[@]}"; do
		tpm_stop "$name"
	done
	for pid in "${TPM_ALL[@]}"; do
		tpm_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}
JC_CLEANUP_HOOKS+=(tpm_stop_all)

# assert_tpm_clean NAME: no transient object and no session left loaded.
assert_tpm_clean() {
	local t what out
	t=$(tcti "$1")
	for what in handles-transient handles-loaded-session; do
		out=$(tpm2_getcap -T "$t" "$what" 2>&1) || fail "tpm2_getcap $what: $out"
		[ -z "$out" ] || fail "swtpm $1 still holds $what: $out"
	done
}

# ---- mounts ----------------------------------------------------------------

B=$JC_TMP/b M=$JC_TMP/m KD=$JC_TMP/etc KEYS=$JC_TMP/etc/keys
mkdir -p "$B" "$M" "$KD"
export TPM_PWD="correct horse battery staple"

# conf FILE TPM-LINE...: a config naming the store and a tpm block of these lines.
conf() {
	local f=$1
	shift
	{
		printf 'jetstream {\n  store_dir: "%s"\n  backing_dir: "%s"\n  tpm {\n' "$M" "$B"
		printf '    %s\n' "$@"
		printf '  }\n}\n'
	} >"$f"
}

# tpm_mount CONF [VAR=VALUE...]: mounts with -c CONF or fails the test.
tpm_mount() {
	local conf=$1 pidf rc=0
	shift
	JC_NMOUNT=$((JC_NMOUNT + 1))
	pidf=$JC_TMP/daemon.$JC_NMOUNT.pid
	env "$@" "$JCFS" mount --pid-file "$pidf" --log-file "$JC_LOG" -c "$conf" || rc=$?
	jc_mount_check "$M" "$pidf" "$rc" "mount -c $conf"
}

# refuse CODE CONF WORD... [-- VAR=VALUE...]: the mount must fail with CODE,
# print exactly one line containing every WORD, and leave nothing mounted.
refuse() {
	local code=$1 conf=$2 words=() envs=() w
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	envs=("$@")
	expect_exit "$code" env "${envs[@]}" "$JCFS" mount --log-file "$JC_LOG" -c "$conf"
	jc_is_mounted "$M" && fail "a mount refused with status $code left $M mounted"
	[ "$(wc -l <<<"$JC_OUTPUT")" -eq 1 ] || fail "status $code: not one line: $JC_OUTPUT"
	for w in "${words[@]}"; do
		expect_output_contains "$w"
	done
	ok "status $code: $JC_OUTPUT"
}

# ok_conf: the config of the tests, for swtpm a where it runs now.
ok_conf() {
	TA=$(tcti a)
	conf "$JC_TMP/ok.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 23' "tcti: \"$TA\""
}
tpm_start a
ok_conf

# ---- config errors (before any TPM work) -----------------------------------

printf 'jetstream {\n  key: "k"\n  tpm { keys_file: "%s", encryption_password: "x" }\n}\n' "$KEYS" >"$JC_TMP/both.conf"
refuse 2 "$JC_TMP/both.conf" "$JC_TMP/both.conf:" "key and tpm"
conf "$JC_TMP/pcr16.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 16' "tcti: \"$TA\""
refuse 2 "$JC_TMP/pcr16.conf" "$JC_TMP/pcr16.conf:" 17 23 16
[ ! -e "$KEYS" ] || fail "a refused config created $KEYS"

# ---- plaintext files without --adopt, or under strict: refused before a
# key is sealed (a refused mount leaves no keys file behind) ----------------

echo "an old plaintext file" >"$B/old.txt"
refuse 5 "$JC_TMP/ok.conf" "$B: not empty and not a jetcryptfs store (1 plaintext files)" "--adopt"
sed 's/^jetstream {$/jetstream {\n  strict: true/' "$JC_TMP/ok.conf" >"$JC_TMP/strict.conf"
refuse 8 "$JC_TMP/strict.conf" "$B: no store descriptor and 1 plaintext files (the first: old.txt)"
[ ! -e "$KEYS" ] || fail "a mount refused for plaintext files sealed a key into $KEYS"
[ "$(ls -A "$B")" = old.txt ] || fail "a refused mount wrote to $B: $(ls -A "$B")"
rm "$B/old.txt"
mkdir "$B/.jetcryptfs"          # unreadable as a descriptor, not absent
refuse 6 "$JC_TMP/ok.conf" "$B/.jetcryptfs: store descriptor is not a regular file"
[ ! -e "$KEYS" ] || fail "a mount refused for a damaged descriptor sealed a key into $KEYS"
rmdir "$B/.jetcryptfs"

# ---- first mount seals, remount unseals ------------------------------------

tpm_mount "$JC_TMP/ok.conf"
[ -f "$KEYS" ] || fail "first mount did not create $KEYS"
[ "$(stat -c %a "$KEYS")" = 600 ] || fail "$KEYS has mode $(stat -c %a "$KEYS"), not 600"
[ "$(head -n 1 "$KEYS")" = "jetcryptfs tpm keys 1" ] || fail "$KEYS: unexpected first line: $(head -n 1 "$KEYS")"
grep -qx "pcr 23" "$KEYS" || fail "$KEYS does not record pcr 23: $(cat "$KEYS")"
[ "$(ls -A "$KD")" = keys ] || fail "$KD holds more than the keys file: $(ls -A "$KD")"
echo "sealed by the TPM" >"$M/hello.txt"
head -c 100000 /dev/urandom >"$M/blob"
sum_blob=$(sha256sum <"$M/blob")
jc_umount "$M"
assert_encrypted "$B"
assert_no_plaintext "$B" "sealed by the TPM"
assert_no_plaintext "$JC_TMP" "$TPM_PWD"
[ "$(head -c 6 "$B/hello.txt" | tail -c 1 | xxd -p)" = 01 ] || fail "hello.txt is not chachapoly (cipher id 1)"
store_id=$(awk '$1 == "key_id" { print $2 }' "$B/.jetcryptfs")
[ -n "$store_id" ] || fail "no key_id in $B/.jetcryptfs"
ok "first mount created $KEYS (0600) and an encrypted store, key id $store_id"

# readback: the data written at the first mount is there.
readback() {
	[ "$(cat "$M/hello.txt")" = "sealed by the TPM" ] || fail "hello.txt does not read back: $(cat "$M/hello.txt" 2>&1)"
	[ "$(sha256sum <"$M/blob")" = "$sum_blob" ] || fail "blob does not read back"
}

cp -p "$KEYS" "$JC_TMP/keys.good"
tpm_mount "$JC_TMP/ok.conf"
readback
jc_umount "$M"
cmp -s "$KEYS" "$JC_TMP/keys.good" || fail "remount changed $KEYS"
ok "remount unsealed the key; data reads back"

jc_snapshot "$B" >"$JC_TMP/before"

# ---- wrong password, changed PCR -------------------------------------------

refuse 10 "$JC_TMP/ok.conf" "$KEYS" "wrong encryption_password" -- TPM_PWD=not-the-password

# No pcr given means 22, which is not what the file was sealed to.
conf "$JC_TMP/pcr22.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' "tcti: \"$TA\""
refuse 18 "$JC_TMP/pcr22.conf" "$KEYS" "sealed to PCR 23" "pcr: 22"

# An owner hierarchy with a password: the SRK cannot be made (19, named).
tpmcmd tpm2_changeauth -T "$TA" -c owner owner-secret
refuse 19 "$JC_TMP/ok.conf" "$KEYS" "owner hierarchy have a password"
tpmcmd tpm2_changeauth -T "$TA" -c owner -p owner-secret

# docs/TPM.md says srk_password protects nothing: the SRK is re-made from
# its template with whatever password is given, and its Name does not
# depend on it. Should that ever change, change the docs with it.
conf "$JC_TMP/srk.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 23' "tcti: \"$TA\"" 'srk_password: "anything"'
tpm_mount "$JC_TMP/srk.conf"
readback
jc_umount "$M"

tpmcmd tpm2_pcrextend -T "$TA" "23:sha256=$(printf '%064d' 1)"
refuse 11 "$JC_TMP/ok.conf" "$KEYS" "PCR 23 changed"
tpmcmd tpm2_pcrreset -T "$TA" 23
tpm_mount "$JC_TMP/ok.conf"
readback
jc_umount "$M"
ok "works again after tpm2_pcrreset 23"

tpmcmd tpm2_pcrextend -T "$TA" "23:sha256=$(printf '%064d' 2)"
refuse 11 "$JC_TMP/ok.conf" "$KEYS" "PCR 23 changed"
assert_tpm_clean a
tpm_stop a
tpm_start a
ok_conf
# No tcti in the config: $TPM2TOOLS_TCTI is used.
conf "$JC_TMP/env.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 23'
tpm_mount "$JC_TMP/env.conf" TPM2TOOLS_TCTI="$TA"
readback
jc_umount "$M"
ok "works again after a swtpm restart (PCRs reset; tcti from \$TPM2TOOLS_TCTI)"

# ---- TPM down, another TPM -------------------------------------------------

assert_tpm_clean a
tpm_stop a
refuse 13 "$JC_TMP/ok.conf" "TPM not reachable" "$TA"
tpm_start a
ok_conf

tpm_start other
conf "$JC_TMP/other.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 23' "tcti: \"$(tcti other)\""
refuse 14 "$JC_TMP/other.conf" "$KEYS" "not the TPM that sealed"
assert_tpm_clean other
tpm_stop other

# ---- damaged keys file -----------------------------------------------------

# put_keys TEXT: replaces the keys file (mode 0600) with TEXT.
put_keys() {
	rm -f "$KEYS"
	(umask 077 && printf '%s' "$1" >"$KEYS")
}

# forge FIELD: the good keys file with the last hex digit of FIELD changed
# and the checksum recomputed, so that only the TPM or the key-check can
# tell.
forge() {
	local body
	body=$(sed '/^sum /d' "$JC_TMP/keys.good" | awk -v f="$1" '
		$1 == f { d = substr($2, length($2)); $2 = substr($2, 1, length($2) - 1) (d == "0" ? "1" : "0") }
		{ print }')
	put_keys "$body
sum $(printf '%s\n' "$body" | sha256sum | cut -d' ' -f1)
"
}

good=$(cat "$JC_TMP/keys.good"; echo x)
good=${good%x}
put_keys "${good:0:300}"
refuse 15 "$JC_TMP/ok.conf" "$KEYS" "truncated"
put_keys ""
refuse 15 "$JC_TMP/ok.conf" "$KEYS" "empty"
# One byte flipped (one bit of it) in each line in turn.
nflip=0
while read -r off; do
	put_keys "$good"
	printf "$(printf '\\%03o' $(($(od -An -tu1 -j "$off" -N1 "$KEYS") ^ 1)))" |
		dd of="$KEYS" bs=1 seek="$off" conv=notrunc status=none
	cmp -s "$KEYS" "$JC_TMP/keys.good" && fail "flip at $off changed nothing"
	refuse 15 "$JC_TMP/ok.conf" "$KEYS"
	grep -qE "keys file is corrupt|not a jetcryptfs TPM keys file" <<<"$JC_OUTPUT" ||
		fail "flip at $off: unclear message: $JC_OUTPUT"
	nflip=$((nflip + 1))
done < <(awk '{ print off + int(length($0) / 2); off += length($0) + 1 }' "$JC_TMP/keys.good")
[ "$nflip" -ge 8 ] || fail "only $nflip byte flips tried"
forge private
refuse 15 "$JC_TMP/ok.conf" "$KEYS" "TPM rejects the sealed blobs"
forge check
refuse 16 "$JC_TMP/ok.conf" "$KEYS" "key-check"
put_keys "$good"
cmp -s "$KEYS" "$JC_TMP/keys.good" || fail "cannot restore $KEYS"

# ---- lockout ---------------------------------------------------------------

# One allowed failure: the wrong password locks the TPM out, and then the
# right one is refused as lockout, until the lockout is cleared. Clearing
# first zeroes the failure count that the wrong passwords above left.
tpmcmd tpm2_dictionarylockout -T "$TA" --clear-lockout
tpmcmd tpm2_dictionarylockout -T "$TA" --setup-parameters --max-tries=1 --recovery-time=1000 --lockout-recovery-time=10
refuse 10 "$JC_TMP/ok.conf" "$KEYS" -- TPM_PWD=not-the-password
refuse 12 "$JC_TMP/ok.conf" "$KEYS" "lockout"
tpmcmd tpm2_dictionarylockout -T "$TA" --clear-lockout
tpmcmd tpm2_dictionarylockout -T "$TA" --setup-parameters --max-tries=32 --recovery-time=10 --lockout-recovery-time=10

jc_snapshot "$B" >"$JC_TMP/after"
diff "$JC_TMP/before" "$JC_TMP/after" >/dev/null ||
	fail "refused mounts changed the backing dir: $(diff "$JC_TMP/before" "$JC_TMP/after" | head)"

# ---- keys file missing over encrypted data ---------------------------------

rm "$KEYS"
refuse 17 "$JC_TMP/ok.conf" "$KEYS" "keys file missing" "key id $store_id"
[ -z "$(ls -A "$KD")" ] || fail "a refused mount wrote into $KD: $(ls -A "$KD")"
jc_snapshot "$B" >"$JC_TMP/after"
diff "$JC_TMP/before" "$JC_TMP/after" >/dev/null || fail "the refused mount changed the backing dir"
put_keys "$good"

# ---- cipher ----------------------------------------------------------------

conf "$JC_TMP/aes.conf" "keys_file: \"$KEYS\"" 'encryption_password: $TPM_PWD' 'pcr: 23' "tcti: \"$TA\"" 'cipher: aes'
tpm_mount "$JC_TMP/aes.conf"
readback
echo "aes from the tpm block" >"$M/aes.txt"
jc_umount "$M"
[ "$(head -c 6 "$B/aes.txt" | tail -c 1 | xxd -p)" = 02 ] || fail "aes.txt has cipher id $(head -c 6 "$B/aes.txt" | tail -c 1 | xxd -p), not 02"
[ "$(head -c 6 "$B/hello.txt" | tail -c 1 | xxd -p)" = 01 ] || fail "hello.txt changed cipher"
tpm_mount "$JC_TMP/ok.conf"
readback
[ "$(cat "$M/aes.txt")" = "aes from the tpm block" ] || fail "aes.txt does not read back under chachapoly"
jc_umount "$M"
ok "tpm { cipher: aes } wrote cipher id 2; older files keep id 1"

assert_tpm_clean a
ok "no transient objects or sessions left in the TPM"
grep -qF -- "$TPM_PWD" "$JC_LOG" && fail "the password is in the daemon log"
tpm_stop a
exit 0
