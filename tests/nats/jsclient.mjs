#!/usr/bin/env node
// jsclient: the JetStream client the jetcryptfs integration tests drive. Every
// payload is a pure function of (seed, index), so a later run can check each
// byte that an earlier run published without keeping a copy; the payload names
// its own index, so a store that lost or reordered messages is caught as well.
// Each subcommand does one thing, prints one JSON line on success, and exits
// 1 with "jsclient: CMD: problem" on any mismatch (2 on a usage error), so the
// shell tests stay plain `cmd || fail`.

import { readFileSync, writeFileSync, renameSync, mkdirSync, openSync, writeSync, closeSync,
  fsyncSync } from "node:fs";
import { createHash } from "node:crypto";
import {
  connect, headers as mkHeaders, AckPolicy, DeliverPolicy, DiscardPolicy,
  RetentionPolicy, StorageType,
} from "nats";

const USAGE = `usage: jsclient.mjs COMMAND [--server URL[,URL...]] [options]
  stream-add     --stream S --subjects A[,B] [--replicas R] [--max-msgs N] [--max-bytes N]
                 [--max-msg-size N] [--discard old|new] [--allow-direct] [--dupe-window-ms N]
  stream-info    --stream S [--wait-current --replicas R [--count N]] [--timeout SEC]
  stream-delete  --stream S
  stream-leader  --stream S --want SERVER_NAME [--tries N]   (step down until SERVER_NAME leads)
  wait-leaders   --stream S [--consumer D] [--not SERVER_NAME] [--timeout SEC]
                 (until the meta group, the stream and the consumer have leaders, none of them --not)
  local-state    --monitor http://HOST:PORT --stream S [--count N] [--last-seq N] [--timeout SEC]
                 (the stream as that one server stores it, from its /jsz endpoint; waits
                 up to SEC, default 30, for that state)
  stream-list
  publish        --stream S --subject X --count N --size B --seed K [--start I] [--headers]
                 [--msgid] [--inflight W] [--retries R] [--progress FILE] [--tolerate-errors]
  verify         --stream S --seed K [--count N] [--first-seq F] [--last-seq L] [--seq-offset O | --any-seq]
                 [--missing s1,s2,..] [--require-upto I] [--headers] [--subject X] [--mode consumer|get]
  purge          --stream S [--keep N | --seq N] [--subject X]
  delete         --stream S --seqs s1,s2,.. [--erase]
  consumer-add   --stream S --name D --type pull|push [--deliver SUBJ] [--filter SUBJ]
                 [--max-ack-pending N] [--ack-wait-sec N]
  consume        --stream S --name D --count K --seed K [--type pull|push] [--deliver SUBJ]
                 [--expect-first-seq F] [--headers] [--seq-offset O | --any-seq]
  consumer-info  --stream S --name D [--save FILE] [--compare FILE]
                 [--expect-ack-floor N] [--expect-delivered N] [--expect-pending N]
  kv-put         --bucket B --keys N --seed K --round R [--history H] [--replicas R]
  kv-verify      --bucket B --keys N --seed K --round R [--history-len H]
  obj-put        --bucket B --name N --size BYTES --seed K [--replicas R]
  obj-get        --bucket B --name N --size BYTES --seed K
  payload        --seed K --idx I --size B          (prints one payload, for grep tests)
  send           --stream S --subject X --data TEXT   (one text message; for the demo)
  dump           --stream S                           (every message as "seq subject: text")
  backup         --stream S --dir D [--consumers]     (the snapshot API, as \`nats stream backup\`:
                 D/backup.json and D/stream.tar.s2, the bytes the server sent)
  restore        --stream S --dir D                   (the restore API, from a backup's D)
Payload markers: messages "JCMSG:", headers "JCHDR-", KV values "JCKV:", objects "JCOBJ:".`;

class Fail extends Error {}
class UsageError extends Error {}

// ---- argument parsing -------------------------------------------------------

const BOOL_FLAGS = new Set([
  "headers", "msgid", "tolerate-errors", "any-seq", "allow-direct", "wait-current", "erase",
  "consumers",
]);

function parseArgs(argv) {
  const cmd = argv[0];
  const o = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument '${a}'`);
    let name = a.slice(2);
    let val;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      val = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else if (BOOL_FLAGS.has(name)) {
      val = true;
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      val = argv[++i];
    }
    o[name] = val;
  }
  return { cmd, o };
}

function req(o, name) {
  if (o[name] === undefined || o[name] === true) throw new UsageError(`--${name} is required`);
  return o[name];
}

function num(o, name, dflt) {
  const v = o[name];
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`--${name} is required`);
    return dflt;
  }
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name}: not an integer: ${v}`);
  return n;
}

function numList(s) {
  if (!s) return [];
  return String(s).split(",").filter((x) => x !== "").map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n)) throw new UsageError(`not an integer: ${x}`);
    return n;
  });
}

// ---- deterministic content --------------------------------------------------

// 32-bit FNV-1a of a string, then mulberry32: fast, and the same bytes in every
// run and on every machine. Not cryptographic; it only has to be reproducible.
function hashStr(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function rng(seedStr) {
  let a = hashStr(seedStr);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// Printable filler: a plaintext leak then shows up in `strings` and grep as
// well as in a byte comparison.
const ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function fill(buf, from, seedStr) {
  const r = rng(seedStr);
  let i = from;
  while (i < buf.length) {
    let x = r();
    for (let k = 0; k < 5 && i < buf.length; k++, x >>>= 6) buf[i++] = ALPHA.charCodeAt(x & 63);
  }
}

function msgPayload(seed, idx, size) {
  const head = Buffer.from(`JCMSG:${seed}:${idx}:`);
  const buf = Buffer.alloc(Math.max(size, head.length));
  head.copy(buf, 0);
  fill(buf, head.length, `m:${seed}:${idx}`);
  return buf;
}

function msgHeaderValues(seed, idx) {
  const r = rng(`h:${seed}:${idx}`);
  return {
    "Jc-Seed": String(seed),
    "Jc-Idx": String(idx),
    "Jc-Tag": `JCHDR-${r().toString(16)}${r().toString(16)}`,
  };
}

function kvValue(seed, key, round) {
  const head = Buffer.from(`JCKV:${seed}:${key}:${round}:`);
  const buf = Buffer.alloc(head.length + 100);
  head.copy(buf, 0);
  fill(buf, head.length, `kv:${seed}:${key}:${round}`);
  return buf;
}

function objData(seed, size) {
  const buf = Buffer.alloc(size);
  for (let off = 0; off < size; off += 4096) {
    const piece = Buffer.alloc(Math.min(4096, size - off));
    const head = Buffer.from(`JCOBJ:${seed}:${off}:`);
    head.copy(piece, 0, 0, Math.min(head.length, piece.length));
    if (piece.length > head.length) fill(piece, head.length, `o:${seed}:${off}`);
    piece.copy(buf, off);
  }
  return buf;
}

// Parses "JCMSG:<seed>:<idx>:" at the start of a payload; null if absent.
function parsePayload(data) {
  const head = Buffer.from(data.subarray(0, 64)).toString("latin1");
  const m = /^JCMSG:([^:]*):(\d+):/.exec(head);
  if (!m) return null;
  return { seed: m[1], idx: Number(m[2]) };
}

// Checks one stored message against what publish would have sent. Returns the
// index it carries; throws Fail with the sequence named on any difference.
function checkMessage(seq, subject, data, hdrs, o, what) {
  const seed = String(req(o, "seed"));
  const p = parsePayload(data);
  if (!p) throw new Fail(`${what} seq ${seq}: payload has no JCMSG marker (first bytes ${hexHead(data)})`);
  if (p.seed !== seed) throw new Fail(`${what} seq ${seq}: payload seed '${p.seed}', expected '${seed}'`);
  if (!o["any-seq"]) {
    const off = num(o, "seq-offset", 0);
    if (p.idx !== seq - off) throw new Fail(`${what} seq ${seq}: payload index ${p.idx}, expected ${seq - off}`);
  }
  const want = msgPayload(seed, p.idx, data.length);
  if (!want.equals(Buffer.from(data))) {
    let at = 0;
    while (at < data.length && data[at] === want[at]) at++;
    throw new Fail(`${what} seq ${seq} (index ${p.idx}): payload differs at byte ${at} of ${data.length}`);
  }
  if (o.subject && subject !== o.subject) {
    throw new Fail(`${what} seq ${seq}: subject '${subject}', expected '${o.subject}'`);
  }
  if (o.headers) {
    const exp = msgHeaderValues(seed, p.idx);
    for (const [k, v] of Object.entries(exp)) {
      const got = hdrs ? hdrs.get(k) : "";
      if (got !== v) throw new Fail(`${what} seq ${seq}: header ${k} '${got}', expected '${v}'`);
    }
  }
  return p.idx;
}

function hexHead(data) {
  return Buffer.from(data.subarray(0, 16)).toString("hex");
}

// ---- connection -------------------------------------------------------------

async function open(o) {
  const servers = String(o.server || process.env.NATS_URL || "nats://127.0.0.1:4222").split(",");
  // A test that kills servers wants the client to fail over (or to fail fast
  // with --tolerate-errors), never to hang on a dead address.
  const nc = await connect({
    servers,
    name: "jcfs-jsclient",
    timeout: 10000,
    maxReconnectAttempts: o["tolerate-errors"] ? 0 : 60,
    reconnectTimeWait: 500,
    pingInterval: 5000,
  });
  const tmo = num(o, "api-timeout-ms", 30000);
  // wait-leaders runs while the cluster may have no meta leader: no API
  // check (an account info request) on connect there.
  const jsm = await nc.jetstreamManager({ timeout: tmo, checkAPI: !o.noCheckAPI });
  const js = nc.jetstream({ timeout: tmo });
  return { nc, js, jsm };
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- stream commands ---------------------------------------------------------

async function streamAdd(c, o) {
  const cfg = {
    name: req(o, "stream"),
    subjects: String(req(o, "subjects")).split(","),
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: num(o, "replicas", 1),
    max_msgs: num(o, "max-msgs", -1),
    max_bytes: num(o, "max-bytes", -1),
    max_msg_size: num(o, "max-msg-size", -1),
    discard: o.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
  };
  if (o["allow-direct"]) cfg.allow_direct = true;
  if (o["dupe-window-ms"] !== undefined) cfg.duplicate_window = num(o, "dupe-window-ms") * 1e6;
  const si = await c.jsm.streams.add(cfg);
  out({ stream: si.config.name, created: si.created, replicas: si.config.num_replicas });
}

function replicasCurrent(si, replicas) {
  const cl = si.cluster || {};
  const reps = cl.replicas || [];
  if (!cl.leader) return "no leader";
  if (reps.length !== replicas - 1) return `${reps.length} followers, want ${replicas - 1}`;
  for (const r of reps) {
    if (!r.current) return `replica ${r.name} not current`;
    if (r.offline) return `replica ${r.name} offline`;
    if ((r.lag || 0) !== 0) return `replica ${r.name} lag ${r.lag}`;
  }
  return null;
}

async function streamInfo(c, o) {
  const stream = req(o, "stream");
  if (!o["wait-current"]) {
    out(await c.jsm.streams.info(stream));
    return;
  }
  const replicas = num(o, "replicas");
  const deadline = Date.now() + num(o, "timeout", 90) * 1000;
  const want = o.count === undefined ? undefined : num(o, "count");
  let why = "";
  for (;;) {
    try {
      const si = await c.jsm.streams.info(stream);
      why = replicasCurrent(si, replicas);
      if (!why && want !== undefined && si.state.messages !== want) {
        why = `${si.state.messages} messages, want ${want}`;
      }
      if (!why) {
        out(si);
        return;
      }
    } catch (e) {
      why = `stream info: ${e.message}`;
    }
    if (Date.now() > deadline) throw new Fail(`replicas of ${stream} not current: ${why}`);
    await sleep(500);
  }
}

async function streamDelete(c, o) {
  const stream = req(o, "stream");
  const ok = await c.jsm.streams.delete(stream);
  if (!ok) throw new Fail(`delete of stream ${stream} not acknowledged`);
  out({ stream, deleted: true });
}

async function streamLeader(c, o) {
  const stream = req(o, "stream");
  const want = req(o, "want");
  const tries = num(o, "tries", 20);
  for (let i = 0; i < tries; i++) {
    const si = await c.jsm.streams.info(stream);
    const leader = si.cluster && si.cluster.leader;
    if (leader === want && !replicasCurrent(si, (si.cluster.replicas || []).length + 1)) {
      out({ stream, leader });
      return;
    }
    if (leader && leader !== want) {
      try {
        await c.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, new Uint8Array(0), { timeout: 10000 });
      } catch (e) {
        // A step-down in flight can time out; the next round looks again.
      }
    }
    await sleep(1500);
  }
  throw new Fail(`${stream}: could not make ${want} the leader in ${tries} tries`);
}

// After a node dies, its groups (meta, stream, consumer) elect new leaders
// within seconds, but a request sent before that is dropped and only times
// out after the full API timeout. Poll with short timeouts instead, so the
// commands that follow meet a cluster that answers.
async function waitLeaders(c, o) {
  const stream = req(o, "stream");
  const consumer = o.consumer;
  const not = o.not;
  const deadline = Date.now() + num(o, "timeout", 60) * 1000;
  const jsm = await c.nc.jetstreamManager({ timeout: 3000, checkAPI: false });
  let why = "";
  for (;;) {
    try {
      await jsm.getAccountInfo();
      const si = await jsm.streams.info(stream);
      const sl = si.cluster && si.cluster.leader;
      why = !sl ? "stream has no leader" : sl === not ? `stream leader is still ${not}` : "";
      let cl;
      if (!why && consumer) {
        const ci = await jsm.consumers.info(stream, consumer);
        cl = ci.cluster && ci.cluster.leader;
        why = !cl ? "consumer has no leader" : cl === not ? `consumer leader is still ${not}` : "";
      }
      if (!why) {
        out({ stream, stream_leader: sl, consumer, consumer_leader: cl });
        return;
      }
    } catch (e) {
      why = e.message;
    }
    if (Date.now() > deadline) throw new Fail(`${stream}: no leaders: ${why}`);
    await sleep(500);
  }
}

// Reads one server's own view of a stream from its monitoring port: a
// follower's copy, which no client API exposes in 2.9.
// A replica the leader reports as current may still be applying the last
// entries to its store: poll until the expected state or --timeout (s).
async function localState(o) {
  const stream = req(o, "stream");
  const base = req(o, "monitor");
  const deadline = Date.now() + 1000 * num(o, "timeout", 30);
  for (;;) {
    const r = await fetch(`${base}/jsz?streams=true&config=true`);
    if (!r.ok) throw new Fail(`${base}/jsz: HTTP ${r.status}`);
    const j = await r.json();
    let found = null;
    for (const acc of j.account_details || []) {
      for (const sd of acc.stream_detail || []) if (sd.name === stream) found = sd;
    }
    let problem = null;
    if (!found) {
      problem = `${base}: no stream ${stream}`;
    } else if (o.count !== undefined && found.state.messages !== num(o, "count")) {
      problem = `${base}: ${stream} has ${found.state.messages} messages, expected ${num(o, "count")}`;
    } else if (o["last-seq"] !== undefined && found.state.last_seq !== num(o, "last-seq")) {
      problem = `${base}: ${stream} last_seq ${found.state.last_seq}, expected ${num(o, "last-seq")}`;
    }
    if (!problem) {
      const st = found.state;
      out({ stream, server: j.server_name, messages: st.messages, bytes: st.bytes, first_seq: st.first_seq,
        last_seq: st.last_seq });
      return;
    }
    if (Date.now() > deadline) throw new Fail(problem);
    await new Promise((res) => setTimeout(res, 250));
  }
}

async function streamList(c) {
  const names = [];
  for await (const si of c.jsm.streams.list()) names.push(si.config.name);
  out({ streams: names.sort() });
}

// ---- publish -----------------------------------------------------------------

async function publish(c, o) {
  const stream = req(o, "stream");
  const subject = req(o, "subject");
  const count = num(o, "count");
  const size = num(o, "size", 128);
  const seed = String(req(o, "seed"));
  const start = num(o, "start", 1);
  const window = Math.max(1, num(o, "inflight", 256));
  const retries = num(o, "retries", 0);
  const useId = o.msgid || retries > 0;
  const tolerate = !!o["tolerate-errors"];
  const progress = o.progress;
  const end = start + count;

  // Highest index below which every publish was acknowledged: what a crash
  // test may demand back from the store.
  const acked = new Uint8Array(count);
  let floor = start - 1;
  let nAcked = 0;
  let dupes = 0;
  let failure = null;
  let lastProgressWrite = 0;

  const writeProgress = (force) => {
    if (!progress) return;
    const now = Date.now();
    if (!force && now - lastProgressWrite < 100) return;
    lastProgressWrite = now;
    writeFileSync(progress + ".tmp", `${floor}\n`);
    renameSync(progress + ".tmp", progress);
  };

  const pubOne = async (idx) => {
    const data = msgPayload(seed, idx, size);
    const opts = { expect: { streamName: stream } };
    if (useId) opts.msgID = `${stream}-${seed}-${idx}`;
    if (o.headers) {
      const h = mkHeaders();
      for (const [k, v] of Object.entries(msgHeaderValues(seed, idx))) h.set(k, v);
      opts.headers = h;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const pa = await c.js.publish(subject, data, opts);
        if (pa.stream !== stream) throw new Fail(`index ${idx}: acked by stream '${pa.stream}'`);
        if (pa.duplicate) {
          // A retry whose first attempt had landed: fine only with retries.
          if (attempt === 0) throw new Fail(`index ${idx}: duplicate on first attempt (seq ${pa.seq})`);
          dupes++;
        }
        return;
      } catch (e) {
        if (e instanceof Fail || attempt >= retries || c.nc.isClosed()) throw e;
        await sleep(250);
      }
    }
  };

  let next = start;
  let inflight = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (!failure && inflight < window && next < end) {
        const idx = next++;
        inflight++;
        pubOne(idx).then(() => {
          acked[idx - start] = 1;
          nAcked++;
          while (floor + 1 < end && acked[floor + 1 - start]) floor++;
          writeProgress(false);
        }, (e) => {
          if (!failure) failure = { idx, e };
        }).finally(() => {
          inflight--;
          if (inflight === 0 && (failure || next >= end)) resolve();
          else pump();
        });
      }
      if (inflight === 0) resolve();
    };
    pump();
  });
  writeProgress(true);

  const result = { stream, subject, start, count, acked: nAcked, acked_upto: floor, duplicates: dupes };
  if (failure) {
    result.error = `index ${failure.idx}: ${failure.e.message}`;
    if (tolerate) {
      out(result);
      return;
    }
    throw new Fail(`${result.error} (acked ${nAcked} of ${count}, contiguous up to ${floor})`);
  }
  out(result);
}

// ---- verify ------------------------------------------------------------------

async function verify(c, o) {
  const stream = req(o, "stream");
  req(o, "seed");
  const mode = o.mode || "consumer";
  const si = await c.jsm.streams.info(stream);
  const st = si.state;
  const problems = [];
  if (o.count !== undefined && st.messages !== num(o, "count")) {
    problems.push(`stream has ${st.messages} messages, expected ${num(o, "count")}`);
  }
  if (o["first-seq"] !== undefined && st.first_seq !== num(o, "first-seq")) {
    problems.push(`first_seq ${st.first_seq}, expected ${num(o, "first-seq")}`);
  }
  if (o["last-seq"] !== undefined && st.last_seq !== num(o, "last-seq")) {
    problems.push(`last_seq ${st.last_seq}, expected ${num(o, "last-seq")}`);
  }
  if (problems.length) throw new Fail(`${stream}: ${problems.join("; ")}`);

  const seen = new Set();
  let bytes = 0;
  if (st.messages > 0) {
    if (mode === "get") {
      await verifyByGet(c, o, stream, st, seen, (n) => { bytes += n; });
    } else if (mode === "consumer") {
      await verifyByConsumer(c, o, stream, st, seen, (n) => { bytes += n; });
    } else {
      throw new UsageError(`--mode: consumer or get, not ${mode}`);
    }
  }
  if (seen.size !== st.messages) {
    throw new Fail(`${stream}: read ${seen.size} messages, stream info says ${st.messages}`);
  }
  for (const s of numList(o.missing)) {
    if (seen.has(s)) throw new Fail(`${stream}: seq ${s} should be deleted but is present`);
  }
  if (o["require-upto"] !== undefined) {
    const upto = num(o, "require-upto");
    const off = num(o, "seq-offset", 0);
    for (let idx = Math.max(1, st.first_seq - off); idx <= upto; idx++) {
      if (!seen.has(idx + off)) throw new Fail(`${stream}: acknowledged index ${idx} (seq ${idx + off}) is missing`);
    }
  }
  out({ stream, mode, messages: seen.size, bytes, first_seq: st.first_seq, last_seq: st.last_seq,
    num_deleted: st.num_deleted || 0, ok: true });
}

async function verifyByGet(c, o, stream, st, seen, addBytes) {
  // Sequences start at 1. nats-server 2.9.10 reports first_seq 0 for a
  // stream whose last block a crash left empty with an all-zero index (on
  // a plain disk as on jetcryptfs); its messages are all there.
  let next = Math.max(1, st.first_seq);
  const last = st.last_seq;
  const window = 64;
  const worker = async () => {
    while (next <= last) {
      const seq = next++;
      let sm;
      try {
        sm = await c.jsm.streams.getMessage(stream, { seq });
      } catch (e) {
        // 10037 "no message found": a deleted or purged sequence.
        if (e.api_error && e.api_error.err_code === 10037) continue;
        if (/no message found/i.test(e.message)) continue;
        throw new Fail(`get seq ${seq}: ${e.message}`);
      }
      if (sm.seq !== seq) throw new Fail(`get seq ${seq}: server returned seq ${sm.seq}`);
      checkMessage(seq, sm.subject, sm.data, sm.header, o, "get");
      seen.add(seq);
      addBytes(sm.data.length);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

async function verifyByConsumer(c, o, stream, st, seen, addBytes) {
  const oc = await c.js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: st.first_seq,
  });
  let prev = 0;
  const msgs = await oc.consume({ max_messages: 512, expires: 5000 });
  const idle = setInterval(() => {
    if (Date.now() - lastAt > 30000) msgs.stop(new Error("no message for 30 s"));
  }, 1000);
  let lastAt = Date.now();
  try {
    for await (const m of msgs) {
      lastAt = Date.now();
      const seq = m.seq;
      if (seq <= prev) throw new Fail(`consumer: seq ${seq} after ${prev}`);
      prev = seq;
      checkMessage(seq, m.subject, m.data, m.headers, o, "consumer");
      seen.add(seq);
      addBytes(m.data.length);
      // The last sequence may be a deleted one: pending 0 says nothing follows.
      if (seq >= st.last_seq || m.info.pending === 0) break;
    }
  } finally {
    clearInterval(idle);
    msgs.stop();
  }
}

// ---- text messages, for scripts/demo.sh --------------------------------------

async function send(c, o) {
  const stream = req(o, "stream");
  const pa = await c.js.publish(req(o, "subject"), new TextEncoder().encode(String(req(o, "data"))),
    { expect: { streamName: stream } });
  out({ stream: pa.stream, seq: pa.seq });
}

async function dump(c, o) {
  const stream = req(o, "stream");
  const st = (await c.jsm.streams.info(stream)).state;
  for (let seq = Math.max(1, st.first_seq); st.messages > 0 && seq <= st.last_seq; seq++) {
    let sm;
    try {
      sm = await c.jsm.streams.getMessage(stream, { seq });
    } catch (e) {
      if (/no message found/i.test(e.message)) continue;
      throw new Fail(`get seq ${seq}: ${e.message}`);
    }
    process.stdout.write(`${seq} ${sm.subject}: ${new TextDecoder().decode(sm.data)}\n`);
  }
}

// ---- purge / delete ----------------------------------------------------------

async function purge(c, o) {
  const stream = req(o, "stream");
  const opts = {};
  if (o.keep !== undefined) opts.keep = num(o, "keep");
  if (o.seq !== undefined) opts.seq = num(o, "seq");
  if (o.subject) opts.filter = o.subject;
  const r = await c.jsm.streams.purge(stream, Object.keys(opts).length ? opts : undefined);
  if (!r.success) throw new Fail(`purge of ${stream} failed`);
  out({ stream, purged: r.purged });
}

async function deleteMsgs(c, o) {
  const stream = req(o, "stream");
  const seqs = numList(req(o, "seqs"));
  for (const seq of seqs) {
    const ok = await c.jsm.streams.deleteMessage(stream, seq, !!o.erase);
    if (!ok) throw new Fail(`delete of ${stream} seq ${seq} not acknowledged`);
  }
  out({ stream, deleted: seqs });
}

// ---- consumers ---------------------------------------------------------------

async function consumerAdd(c, o) {
  const stream = req(o, "stream");
  const name = req(o, "name");
  const type = o.type || "pull";
  const cfg = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: num(o, "ack-wait-sec", 60) * 1e9,
    max_ack_pending: num(o, "max-ack-pending", 1000),
  };
  if (o.filter) cfg.filter_subject = o.filter;
  if (type === "push") cfg.deliver_subject = req(o, "deliver");
  else if (type !== "pull") throw new UsageError(`--type: pull or push, not ${type}`);
  const ci = await c.jsm.consumers.add(stream, cfg);
  out({ stream, consumer: ci.name, type });
}

// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (v1
// form, what 2.9 sends), or the v2 form with domain and account hash first.
function parseAckSubject(reply) {
  const t = (reply || "").split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return null;
  return { stream: t[base], consumer: t[base + 1], redelivered: Number(t[base + 2]),
    sseq: Number(t[base + 3]), cseq: Number(t[base + 4]) };
}

async function consume(c, o) {
  const stream = req(o, "stream");
  const name = req(o, "name");
  const count = num(o, "count");
  const type = o.type || "pull";
  const before = await c.jsm.consumers.info(stream, name);
  const floorBefore = before.ack_floor.stream_seq;
  const expectFirst = o["expect-first-seq"] === undefined ? undefined : num(o, "expect-first-seq");
  let got = 0;
  let first = 0;
  let last = 0;
  let redelivered = 0;

  const handle = (seq, subject, data, hdrs, redeliveryCount) => {
    // An acknowledged message must never come back: that would be a lost
    // consumer position.
    if (seq <= floorBefore) throw new Fail(`consumer ${name}: seq ${seq} delivered again, ack floor was ${floorBefore}`);
    if (got === 0) {
      first = seq;
      if (expectFirst !== undefined && seq !== expectFirst) {
        throw new Fail(`consumer ${name}: first delivered seq ${seq}, expected ${expectFirst}`);
      }
    }
    if (redeliveryCount > 1) redelivered++;
    checkMessage(seq, subject, data, hdrs, o, `consumer ${name}`);
    last = seq;
    got++;
  };

  if (type === "pull") {
    const cons = await c.js.consumers.get(stream, name);
    while (got < count) {
      const batch = Math.min(256, count - got);
      const it = await cons.fetch({ max_messages: batch, expires: 10000 });
      let n = 0;
      for await (const m of it) {
        handle(m.seq, m.subject, m.data, m.headers, m.info.redeliveryCount);
        if (!(await m.ackAck({ timeout: 10000 }))) throw new Fail(`ack of seq ${m.seq} not confirmed`);
        n++;
      }
      if (n === 0) throw new Fail(`consumer ${name}: fetch returned nothing after ${got} of ${count}`);
    }
  } else if (type === "push") {
    const deliver = req(o, "deliver");
    const sub = c.nc.subscribe(deliver);
    const timer = setTimeout(() => sub.unsubscribe(), num(o, "timeout", 60) * 1000);
    try {
      for await (const m of sub) {
        const ai = parseAckSubject(m.reply);
        if (!ai) continue; // idle heartbeat / flow control: not ours to check
        handle(ai.sseq, m.subject, m.data, m.headers, ai.redelivered);
        await c.nc.request(m.reply, new TextEncoder().encode("+ACK"), { timeout: 10000 });
        if (got >= count) break;
      }
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
    if (got < count) throw new Fail(`consumer ${name}: got ${got} of ${count} pushed messages`);
  } else {
    throw new UsageError(`--type: pull or push, not ${type}`);
  }
  await c.nc.flush();
  const ci = await c.jsm.consumers.info(stream, name);
  out({ stream, consumer: name, consumed: got, first_seq: first, last_seq: last, redelivered,
    ...consumerPos(ci) });
}

function consumerPos(ci) {
  return {
    delivered_stream_seq: ci.delivered.stream_seq,
    delivered_consumer_seq: ci.delivered.consumer_seq,
    ack_floor_stream_seq: ci.ack_floor.stream_seq,
    ack_floor_consumer_seq: ci.ack_floor.consumer_seq,
    num_ack_pending: ci.num_ack_pending,
    num_pending: ci.num_pending,
  };
}

async function consumerInfo(c, o) {
  const stream = req(o, "stream");
  const name = req(o, "name");
  const ci = await c.jsm.consumers.info(stream, name);
  const pos = consumerPos(ci);
  const problems = [];
  if (o.compare) {
    const old = JSON.parse(readFileSync(o.compare, "utf8"));
    for (const k of Object.keys(pos)) {
      if (old[k] !== pos[k]) problems.push(`${k} ${pos[k]}, was ${old[k]}`);
    }
  }
  if (o["expect-ack-floor"] !== undefined && pos.ack_floor_stream_seq !== num(o, "expect-ack-floor")) {
    problems.push(`ack floor ${pos.ack_floor_stream_seq}, expected ${num(o, "expect-ack-floor")}`);
  }
  if (o["expect-delivered"] !== undefined && pos.delivered_stream_seq !== num(o, "expect-delivered")) {
    problems.push(`delivered ${pos.delivered_stream_seq}, expected ${num(o, "expect-delivered")}`);
  }
  if (o["expect-pending"] !== undefined && pos.num_pending !== num(o, "expect-pending")) {
    problems.push(`num_pending ${pos.num_pending}, expected ${num(o, "expect-pending")}`);
  }
  if (problems.length) throw new Fail(`consumer ${stream}/${name}: ${problems.join("; ")}`);
  if (o.save) writeFileSync(o.save, JSON.stringify(pos) + "\n");
  out({ stream, consumer: name, ...pos });
}

// ---- KV and object store -----------------------------------------------------

function kvKey(i) {
  return `jckey.${i}`;
}

async function kvPut(c, o) {
  const bucket = req(o, "bucket");
  const keys = num(o, "keys");
  const seed = String(req(o, "seed"));
  const round = num(o, "round", 1);
  const kv = await c.js.views.kv(bucket, { history: num(o, "history", 5), replicas: num(o, "replicas", 1) });
  const window = 64;
  let next = 0;
  const worker = async () => {
    while (next < keys) {
      const i = next++;
      await kv.put(kvKey(i), kvValue(seed, kvKey(i), round));
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  out({ bucket, keys, round });
}

async function kvVerify(c, o) {
  const bucket = req(o, "bucket");
  const keys = num(o, "keys");
  const seed = String(req(o, "seed"));
  const round = num(o, "round", 1);
  const kv = await c.js.views.kv(bucket, { bindOnly: true });
  for (let i = 0; i < keys; i++) {
    const k = kvKey(i);
    const e = await kv.get(k);
    if (!e) throw new Fail(`kv ${bucket}: key ${k} missing`);
    const want = kvValue(seed, k, round);
    if (!want.equals(Buffer.from(e.value))) throw new Fail(`kv ${bucket}: key ${k} value differs (revision ${e.revision})`);
    if (o["history-len"] !== undefined && i < 20) {
      const hist = await kv.history({ key: k });
      let n = 0;
      for await (const h of hist) {
        n++;
        const rnd = round - num(o, "history-len") + n;
        if (!kvValue(seed, k, rnd).equals(Buffer.from(h.value))) {
          throw new Fail(`kv ${bucket}: key ${k} history entry ${n} differs`);
        }
      }
      if (n !== num(o, "history-len")) throw new Fail(`kv ${bucket}: key ${k} has ${n} revisions, expected ${num(o, "history-len")}`);
    }
  }
  const st = await kv.status();
  out({ bucket, keys, round, values: st.values, ok: true });
}

async function objPut(c, o) {
  const bucket = req(o, "bucket");
  const name = req(o, "name");
  const size = num(o, "size");
  const seed = String(req(o, "seed"));
  const os = await c.js.views.os(bucket, { replicas: num(o, "replicas", 1) });
  const data = objData(seed, size);
  const info = await os.putBlob({ name }, data);
  out({ bucket, name, size: info.size, chunks: info.chunks,
    sha256: createHash("sha256").update(data).digest("hex") });
}

async function objGet(c, o) {
  const bucket = req(o, "bucket");
  const name = req(o, "name");
  const size = num(o, "size");
  const seed = String(req(o, "seed"));
  const os = await c.js.views.os(bucket);
  const got = await os.getBlob(name);
  if (!got) throw new Fail(`object ${bucket}/${name} missing`);
  const want = objData(seed, size);
  if (got.length !== want.length) throw new Fail(`object ${bucket}/${name}: ${got.length} bytes, expected ${want.length}`);
  if (!want.equals(Buffer.from(got))) {
    let at = 0;
    while (got[at] === want[at]) at++;
    throw new Fail(`object ${bucket}/${name}: differs at byte ${at}`);
  }
  out({ bucket, name, size: got.length, ok: true });
}

// ---- main --------------------------------------------------------------------

const COMMANDS = {
  "stream-add": streamAdd,
  "stream-info": streamInfo,
  "stream-delete": streamDelete,
  "stream-list": streamList,
  "stream-leader": streamLeader,
  "wait-leaders": waitLeaders,
  publish,
  verify,
  purge,
  delete: deleteMsgs,
  "consumer-add": consumerAdd,
  consume,
  "consumer-info": consumerInfo,
  "kv-put": kvPut,
  "kv-verify": kvVerify,
  "obj-put": objPut,
  "obj-get": objGet,
  send,
  dump,
  backup,
  restore,
};

// ---- backup and restore -------------------------------------------------------
// The JetStream snapshot and restore API spoken directly, in the layout the
// NATS CLI writes (the CLI is not in Debian 12): backup.json holds the
// stream's config and state, stream.tar.s2 the chunks as the server sent them.

const SNAPSHOT_CHUNK = 128 * 1024;

function apiError(what, r) {
  if (r && r.error) throw new Fail(`${what}: ${r.error.description || JSON.stringify(r.error)}`);
  return r;
}

async function backup(c, o) {
  const stream = req(o, "stream");
  const dir = String(req(o, "dir"));
  mkdirSync(dir, { recursive: true });
  const inbox = `_INBOX.snap.${Date.now()}.${process.pid}`;
  const sub = c.nc.subscribe(inbox);
  const reqBody = { deliver_subject: inbox, no_consumers: !o.consumers, chunk_size: SNAPSHOT_CHUNK };
  const r = apiError("snapshot", JSON.parse(new TextDecoder().decode((await c.nc.request(
    `$JS.API.STREAM.SNAPSHOT.${stream}`, new TextEncoder().encode(JSON.stringify(reqBody)),
    { timeout: 30000 })).data)));
  const fd = openSync(`${dir}/stream.tar.s2`, "w");
  let bytes = 0, chunks = 0;
  const timer = setTimeout(() => sub.unsubscribe(), num(o, "timeout", 300) * 1000);
  let eof = false;
  for await (const m of sub) {
    // The server ends a snapshot with an empty message: a status header
    // on it (408 no interest or no flow response, 500) means it gave up.
    if (m.headers && m.headers.hasError) {
      throw new Fail(`snapshot of ${stream} aborted by the server after ${chunks} chunks: ` +
        `${m.headers.code} ${m.headers.description}`);
    }
    if (m.data.length === 0) {
      eof = true;
      break;
    }
    for (let off = 0; off < m.data.length;) off += writeSync(fd, m.data, off);
    bytes += m.data.length;
    chunks++;
    if (m.reply) m.respond(new Uint8Array(0));   // flow control: the next chunks
  }
  clearTimeout(timer);
  sub.unsubscribe();
  fsyncSync(fd);
  closeSync(fd);
  if (!eof) throw new Fail(`snapshot of ${stream} ended without its end marker after ${chunks} chunks`);
  writeFileSync(`${dir}/backup.json`, JSON.stringify({ config: r.config, state: r.state }, null, 2));
  out({ stream, messages: r.state.messages, chunks, bytes });
}

async function restore(c, o) {
  const stream = req(o, "stream");
  const dir = String(req(o, "dir"));
  const meta = JSON.parse(readFileSync(`${dir}/backup.json`, "utf8"));
  meta.config.name = stream;
  const data = readFileSync(`${dir}/stream.tar.s2`);
  const enc = (x) => new TextEncoder().encode(JSON.stringify(x));
  const dec = (m) => JSON.parse(new TextDecoder().decode(m.data));
  const r = apiError("restore", dec(await c.nc.request(`$JS.API.STREAM.RESTORE.${stream}`, enc(meta),
    { timeout: 30000 })));
  for (let off = 0; off < data.length; off += SNAPSHOT_CHUNK) {
    const m = await c.nc.request(r.deliver_subject, data.subarray(off, off + SNAPSHOT_CHUNK), { timeout: 30000 });
    if (m.data.length) apiError("restore chunk", dec(m));
  }
  const fin = apiError("restore", dec(await c.nc.request(r.deliver_subject, new Uint8Array(0),
    { timeout: num(o, "timeout", 300) * 1000 })));
  out({ stream, messages: fin.state.messages, first_seq: fin.state.first_seq, last_seq: fin.state.last_seq });
}

async function main() {
  let cmd = process.argv[2];
  let c;
  try {
    const parsed = parseArgs(process.argv.slice(2));
    cmd = parsed.cmd;
    const o = parsed.o;
    if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    if (cmd === "payload") {
      process.stdout.write(msgPayload(String(req(o, "seed")), num(o, "idx"), num(o, "size", 128)));
      return 0;
    }
    if (cmd === "local-state") {
      await localState(o);
      return 0;
    }
    const fn = COMMANDS[cmd];
    if (!fn) throw new UsageError(`unknown command '${cmd}'`);
    if (cmd === "wait-leaders") o.noCheckAPI = true;
    c = await open(o);
    await fn(c, o);
    await c.nc.drain().catch(() => {});
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`jsclient: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    const msg = e instanceof Fail ? e.message : `${e.code ? e.code + ": " : ""}${e.message}`;
    process.stderr.write(`jsclient: ${cmd}: ${msg}\n`);
    if (c) await c.nc.close().catch(() => {});
    return 1;
  }
}

process.exitCode = await main();
// Leftover timers or a reconnecting socket must not keep a failed test alive.
setTimeout(() => process.exit(process.exitCode), 200).unref();
