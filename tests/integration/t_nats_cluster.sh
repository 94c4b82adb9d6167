#!/usr/bin/env bash
# A three-node JetStream cluster on jetcryptfs (issue 3, item 7): three
# nats-servers on loopback with cluster routes, each with its store_dir on
# its own mount (and key); an R3 stream; its leader is killed with SIGKILL together
# with its jetcryptfs daemon, and its mount detached lazily, while publishing
# goes on; the node is remounted and restarted, catches up (every replica
# current, lag 0, its own copy complete), and serves every message as stream
# leader. No backing directory of any node holds plaintext, raft logs and
# meta-group state included.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
. "$here/../nats/lib.sh"

SEED=r$$
N1=2000
N2=1500
NODES=(n1 n2 n3)
declare -A KEY=()

# Each node's store has its own key: raft ships messages, not files, so the
# nodes need not share one.
for n in "${NODES[@]}"; do
	KEY[$n]=$(jc_genkey)
	JS_KEY=${KEY[$n]} jc_mount "$JC_TMP/b-$n" "$JC_TMP/m-$n"
	jn_server "$n" "$JC_TMP/m-$n"
done
jn_cluster_start "${NODES[@]}"
ok "cluster of three up, each node on its own jetcryptfs mount"

jsc stream-add --stream ORDERS --subjects 'jcorders.>' --replicas 3
jsc consumer-add --stream ORDERS --name JCPULLDUR --type pull
jsc stream-leader --stream ORDERS --want n1
jsc publish --stream ORDERS --subject jcorders.new --count $N1 --size 300 --seed "$SEED" --headers --msgid --retries 20
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1
jsc stream-info --stream ORDERS --wait-current --replicas 3 --count $N1 >/dev/null
jsc local-state --monitor "http://127.0.0.1:${JN_MPORT[n3]}" --stream ORDERS --count $N1
# The node to crash leads the stream: its death forces a fail-over, and
# what its store lost with the daemon has to come back from the others.
jsc stream-leader --stream ORDERS --want n3
ok "R3 stream: $N1 messages on every replica"

# --- crash the stream leader with its mount --------------------------------------------------
jn_kill n3
jn_crash_mount "$JC_TMP/m-n3"
NATS_URL=$(jn_urls n1 n2)
jsc wait-leaders --stream ORDERS --consumer JCPULLDUR --not n3
jsc publish --stream ORDERS --subject jcorders.new --count $N2 --start $((N1 + 1)) --size 300 --seed "$SEED" --headers --msgid --retries 20
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 501
jsc verify --stream ORDERS --seed "$SEED" --count $((N1 + N2)) --headers --mode get
ok "n3 and its jetcryptfs daemon killed (SIGKILL), mount detached; $N2 more messages on the other two"

# --- remount, restart, catch up ------------------------------------------------------
JS_KEY=${KEY[n3]} jc_mount "$JC_TMP/b-n3" "$JC_TMP/m-n3"
jn_start n3 nowait
jn_wait_ready n3 90
NATS_URL=$(jn_urls "${NODES[@]}")
jsc wait-leaders --stream ORDERS --consumer JCPULLDUR
jsc stream-info --stream ORDERS --wait-current --replicas 3 --count $((N1 + N2)) --timeout 120 >"$JC_TMP/si.json"
jsc local-state --monitor "http://127.0.0.1:${JN_MPORT[n3]}" --stream ORDERS --count $((N1 + N2)) --last-seq $((N1 + N2))
# Reads go through the stream leader: make it the node that crashed.
jsc stream-leader --stream ORDERS --want n3
jsc verify --stream ORDERS --seed "$SEED" --count $((N1 + N2)) --headers --mode get
jsc consumer-info --stream ORDERS --name JCPULLDUR --expect-ack-floor 1000
jsc consume --stream ORDERS --name JCPULLDUR --count 500 --seed "$SEED" --headers --expect-first-seq 1001
ok "n3 remounted and restarted: caught up (all replicas current, lag 0) and serves every message as leader"

jn_cluster_stop "${NODES[@]}"

# --- nothing in the clear, raft logs included -------------------------------------------
jn_assert_cluster_encrypted "$SEED" "${NODES[@]}"
