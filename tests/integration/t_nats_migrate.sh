#!/usr/bin/env bash
# Moving a cluster from NATS's built-in encryption to jetcryptfs, the
# node-by-node route of docs/NATS.md: three nats-servers with `cipher` and
# `key` in their jetstream blocks and plain store directories hold an R3
# stream with a durable consumer. Then, one node at a time: stop it, move its
# old store away, mount jetcryptfs on an empty backing directory at a new
# store_dir, drop cipher/key from its config, start it; raft copies the
# stream back, and the node must hold every message before the next one
# moves. Publishing goes on between the moves. At the end every node serves
# every message as stream leader, the consumer kept its ack floor, and no
# backing directory holds plaintext, while the old stores were NATS
# ciphertext all along (the test checks it is testing the right thing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

SEED=m$$
N1=1500
N2=300                  # published after each node's move
NODES=(n1 n2 n3)
NATS_KEY=$(jc_genkey)   # nats-server's own key, not jetcryptfs's
declare -A KEY=()


# --- the cluster as an operator has it: NATS's own encryption on plain disks -------
for n in "${NODES[@]}"; do
	mkdir -p "$JC_TMP/p-$n"
	JN_EXTRA[$n]="cipher: chachapoly
  key: \"$NATS_KEY\""
	jn_server "$n" "$JC_TMP/p-$n"
done
jn_cluster_start "${NODES[@]}"
jsc stream-add --stream ORDERS --subjects 'jcorders.>' --replicas 3
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc publish --stream ORDERS --subject jcorders.new --count $N1 --size 300 --seed "$SEED" --headers --msgid --retries 20
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1
jsc stream-info --stream ORDERS --wait-current --replicas 3 --count $N1 >/dev/null
for n in "${NODES[@]}"; do
	jsc local-state --monitor "http://127.0.0.1:${JN_MPORT[$n]}" --stream ORDERS --count $N1
done
# NATS's encryption must really be on, or this would test nothing new.
blk=$(find "$JC_TMP/p-n1" -path '*/streams/ORDERS/msgs/*.blk' -size +0 | head -n 1)
[ -n "$blk" ] || fail "no ORDERS message block in n1's plain store"
assert_no_plaintext "$JC_TMP/p-n1" "JCMSG:$SEED:"
ok "cluster of three with NATS's own encryption: $N1 messages on every replica, none in the clear"

# --- one node at a time onto jetcryptfs -----------------------------------------------
total=$N1
for n in "${NODES[@]}"; do
	jsc stream-leader --stream ORDERS --want "$([ "$n" = n1 ] && echo n2 || echo n1)"
	jn_stop "$n"
	mv "$JC_TMP/p-$n" "$JC_TMP/old-$n"
	KEY[$n]=$(jc_genkey)
	JS_KEY=${KEY[$n]} jc_mount "$JC_TMP/b-$n" "$JC_TMP/m-$n"
	JN_STORE[$n]=$JC_TMP/m-$n
	JN_EXTRA[$n]=""
	jn_start "$n" nowait
	jn_wait_ready "$n" 90
	jsc wait-leaders --stream ORDERS --consumer JCPULLDUR
	jsc stream-info --stream ORDERS --wait-current --replicas 3 --count $total --timeout 120 >/dev/null
	jsc local-state --monitor "http://127.0.0.1:${JN_MPORT[$n]}" --stream ORDERS --count $total --last-seq $total --timeout 120
	jsc publish --stream ORDERS --subject jcorders.new --count $N2 --start $((total + 1)) --size 300 --seed "$SEED" --headers --msgid --retries 20
	total=$((total + N2))
	jsc local-state --monitor "http://127.0.0.1:${JN_MPORT[$n]}" --stream ORDERS --count $total --last-seq $total --timeout 120
	ok "$n on jetcryptfs: raft copied all $((total - N2)) messages back; $N2 more published"
done

# Every node, now all on jetcryptfs, serves the whole stream as its leader.
for n in "${NODES[@]}"; do
	jsc stream-leader --stream ORDERS --want "$n"
	jsc verify --stream ORDERS --seed "$SEED" --count $total --headers --mode get
done
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 500
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 501
ok "every node serves all $total messages as leader; the consumer resumes at 501"

jn_cluster_stop "${NODES[@]}"

jn_assert_cluster_encrypted "$SEED" "${NODES[@]}"
