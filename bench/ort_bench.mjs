// ort_bench.mjs — ONNX Runtime peer of the T5 benchmark (bench/run.sh); not a test.
//
// Runs the three graphs written by `t5_torch.py export` (encoder.onnx,
// cross_kv.onnx, decoder.onnx with past self K/V) through onnxruntime-node
// (CPU EP, all graph optimisations, sequential execution, intra-op threads =
// --threads, inter-op 1). One process = one configuration; prints one JSON
// object with the same workloads and keys as es_bench.c:
//   enc1, enc8   encoder 1x128 / 8x128
//   greedy       encoder + cross K/V + 64 greedy steps (EOS ignored)
//   beam         the same with 4 beams, ignore_eos (best 4 of 4 x V each
//                step, log_softmax + running sum in float64, ties to the
//                lower flat index; self cache rows gathered by parent)
// as wall and process CPU times (ms); load_ms = creating the 3 sessions;
// rss / peak in kB. --dump DIR writes enc1.f32, logits0.f32, greedy.i32,
// beam.i32 for the agreement check.
//
// Usage: node ort_bench.mjs ONNX_DIR IDS_FILE [--threads N] [--reps R] [--dump DIR]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require(process.env.ES_ORT_MODULE || 'onnxruntime-node');

const SRC_LEN = 128, NEW_TOKENS = 64, BEAMS = 4;

function args() {
  const a = process.argv.slice(2);
  const o = { dir: a[0], ids: a[1], threads: 1, reps: 5, dump: null };
  for (let i = 2; i < a.length; i += 2) {
    if (a[i] === '--threads') o.threads = +a[i + 1];
    else if (a[i] === '--reps') o.reps = +a[i + 1];
    else if (a[i] === '--dump') o.dump = a[i + 1];
    else throw new Error('unknown argument ' + a[i]);
  }
  return o;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
function rssKb(key) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + key + ':\\s+(\\d+)', 'm'));
  return m ? +m[1] : 0;
}

function i64(vals, dims) { return new ort.Tensor('int64', BigInt64Array.from(vals.map(BigInt)), dims); }

async function main() {
  const o = args();
  const buf = fs.readFileSync(o.ids);
  const src = Array.from(new Int32Array(buf.buffer, buf.byteOffset, SRC_LEN));
  const cfg = JSON.parse(fs.readFileSync(path.join(o.dir, 'config.json'), 'utf8'));
  const L = cfg.num_decoder_layers || cfg.num_layers, H = cfg.num_heads, dk = cfg.d_kv;
  const start = cfg.decoder_start_token_id ?? 0;
  const opts = { intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential',
                 graphOptimizationLevel: 'all' };
  const t0 = nowMs();
  const enc = await ort.InferenceSession.create(path.join(o.dir, 'encoder.onnx'), opts);
  const cross = await ort.InferenceSession.create(path.join(o.dir, 'cross_kv.onnx'), opts);
  const dec = await ort.InferenceSession.create(path.join(o.dir, 'decoder.onnx'), opts);
  const loadMs = nowMs() - t0;
  const rssLoad = rssKb('VmRSS');

  const ids1 = i64(src, [1, SRC_LEN]), mask1 = i64(src.map(() => 1), [1, SRC_LEN]);
  const src8 = [].concat(...Array(8).fill(src));
  const ids8 = i64(src8, [8, SRC_LEN]), mask8 = i64(src8.map(() => 1), [8, SRC_LEN]);
  const encode = async (ids, mask) => (await enc.run({ input_ids: ids, attention_mask: mask })).hidden;
  const crossKv = async (hidden) => cross.run({ hidden });
  const emptyPast = (B) => {
    const f = {};
    for (let l = 0; l < L; l++) for (const c of ['pk', 'pv']) f[`${c}_${l}`] = new ort.Tensor('float32', new Float32Array(0), [B, H, 0, dk]);
    return f;
  };
  // one decoder step for B rows; feeds: self cache + cross K/V tensors
  const step = async (toks, mask, past, ckv) => {
    const feeds = { input_ids: i64(toks, [toks.length, 1]), attention_mask: mask, ...past };
    for (let l = 0; l < L; l++) for (const c of ['ck', 'cv']) feeds[`${c}_${l}`] = ckv[`${c}_${l}`];
    const r = await dec.run(feeds);
    const next = {};
    for (let l = 0; l < L; l++) { next[`pk_${l}`] = r[`nk_${l}`]; next[`pv_${l}`] = r[`nv_${l}`]; }
    return [r.logits, next];
  };
  const argmax = (a, off, n) => { let b = 0; for (let i = 1; i < n; i++) if (a[off + i] > a[off + b]) b = i; return b; };

  async function greedy(wantLogits0) {
    const h = await encode(ids1, mask1);
    const ckv = await crossKv(h);
    let past = emptyPast(1), tok = start, logits0 = null;
    const out = [];
    for (let s = 0; s < NEW_TOKENS; s++) {
      const [lg, nx] = await step([tok], mask1, past, ckv);
      if (wantLogits0 && s === 0) logits0 = Float32Array.from(lg.data);
      past = nx;
      tok = argmax(lg.data, 0, lg.dims[1]);
      out.push(tok);
    }
    return [out, logits0, h];
  }

  // rows of a (B, ...) tensor gathered by parent index
  function gather(t, parent) {
    const row = t.data.length / t.dims[0];
    const d = new Float32Array(parent.length * row);
    parent.forEach((p, r) => d.set(t.data.subarray(p * row, (p + 1) * row), r * row));
    return new ort.Tensor('float32', d, [parent.length, ...t.dims.slice(1)]);
  }

  async function beam() {
    const h = await encode(ids1, mask1);
    const c1 = await crossKv(h);
    const ckvK = {};
    for (const k of Object.keys(c1)) ckvK[k] = gather(c1[k], Array(BEAMS).fill(0));
    const maskK = i64(Array(BEAMS * SRC_LEN).fill(1), [BEAMS, SRC_LEN]);
    let past = emptyPast(1), toks = [start], score = [0], seqs = [[]];
    for (let s = 0; s < NEW_TOKENS; s++) {
      const B = toks.length;
      const ckv = B === BEAMS ? ckvK : c1;
      const [lg, nx] = await step(toks, B === BEAMS ? maskK : mask1, past, ckv);
      const V = lg.dims[1], d = lg.data;
      const cand = []; // best BEAMS of (score, flat index), descending
      for (let r = 0; r < B; r++) {
        let mx = -Infinity;
        for (let v = 0; v < V; v++) if (d[r * V + v] > mx) mx = d[r * V + v];
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(d[r * V + v] - mx);
        const base = score[r] - (mx + Math.log(z));
        for (let v = 0; v < V; v++) {
          const sc = base + d[r * V + v];
          if (cand.length === BEAMS && !(sc > cand[BEAMS - 1][0])) continue;
          let i = Math.min(cand.length, BEAMS - 1);
          if (cand.length < BEAMS) cand.push(null);
          while (i > 0 && cand[i - 1][0] < sc) { cand[i] = cand[i - 1]; i--; }
          cand[i] = [sc, r, v];
        }
      }
      const parent = cand.map((c) => c[1]);
      seqs = cand.map((c) => seqs[c[1]].concat([c[2]]));
      score = cand.map((c) => c[0]);
      toks = cand.map((c) => c[2]);
      past = {};
      for (const k of Object.keys(nx)) past[k] = gather(nx[k], parent);
    }
    return seqs[0];
  }

  if (o.dump) {
    const [g, lg0, h] = await greedy(true);
    fs.writeFileSync(path.join(o.dump, 'enc1.f32'), Buffer.from(Float32Array.from(h.data).buffer));
    fs.writeFileSync(path.join(o.dump, 'logits0.f32'), Buffer.from(lg0.buffer));
    fs.writeFileSync(path.join(o.dump, 'greedy.i32'), Buffer.from(Int32Array.from(g).buffer));
    fs.writeFileSync(path.join(o.dump, 'beam.i32'), Buffer.from(Int32Array.from(await beam()).buffer));
  }

  const names = ['enc1', 'enc8', 'greedy', 'beam'];
  const work = [() => encode(ids1, mask1), () => encode(ids8, mask8), () => greedy(false), () => beam()];
  const wall = {}, cpu = {};
  for (const n of names) { wall[n] = []; cpu[n] = []; }
  let first = null;
  for (let rep = -1; rep < o.reps; rep++) {
    for (let k = 0; k < names.length; k++) {
      const a = nowMs(), c = cpuMs();
      await work[k]();
      const w = nowMs() - a, cc = cpuMs() - c;
      if (rep < 0) { if (first === null) first = w; continue; }
      wall[names[k]].push(+w.toFixed(3));
      cpu[names[k]].push(+cc.toFixed(3));
    }
  }
  const out = { engine: 'ort', threads: o.threads, version: require('onnxruntime-node/package.json').version,
                load_ms: +loadMs.toFixed(3), first_enc1_ms: +first.toFixed(3), rss_load_kb: rssLoad,
                peak_kb: rssKb('VmHWM'), ...wall };
  for (const n of names) out['cpu_' + n] = cpu[n];
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error('ort_bench:', e.message || e); process.exit(1); });
