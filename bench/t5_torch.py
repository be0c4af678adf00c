#!/usr/bin/python3
"""t5_torch.py — PyTorch peer of the T5 benchmark (bench/run.sh); not a test.

A plain T5 (v1.0/v1.1/T5-Efficient) in torch with Hugging Face
modeling_t5.py semantics in eval mode: pre-norm RMS blocks, no biases, no
1/sqrt(d_kv) scaling, relative position buckets of block 0 shared by the
stack (float32 log then truncation, as HF), tied head rescaled by
d_model**-0.5. Weights are read straight from model.safetensors (a small
reader: this torch has no safetensors package).

  t5_torch.py export MODEL_DIR OUT_DIR
      writes three ONNX graphs for ONNX Runtime (opset 14):
        encoder.onnx   input_ids, attention_mask (B,S) -> hidden (B,S,D)
        cross_kv.onnx  hidden (B,S,D) -> ck_l, cv_l (B,H,S,dk), l < L
        decoder.onnx   input_ids (B,1), attention_mask (B,S), pk_l, pv_l
                       (B,H,t,dk) [self cache, t may be 0], ck_l, cv_l
                       -> logits (B,V), nk_l, nv_l (B,H,t+1,dk)
  t5_torch.py bench MODEL_DIR IDS_FILE [--threads N] [--reps R] [--dump DIR]
      one process = one configuration; prints one JSON object with per-
      repetition times in ms (same workloads and keys as es_bench.c):
      enc1, enc8, greedy (encoder + cross K/V + 64 steps, EOS ignored),
      beam (4 beams, ignore_eos: top 4 of 4 x V each step), wall and
      process CPU time; load_ms; rss/peak in kB. --dump writes enc1.f32,
      logits0.f32, greedy.i32, beam.i32 for the agreement check.
      Additive options (bench/quant_run.sh):
        --dynamic-int8  every projection and the LM head (tied: the shared
                        embedding) as torch.nn.Linear, converted with
                        torch.quantization.quantize_dynamic (qint8 weights
                        per output channel, like `edgeseq quantize --dtype
                        int8`; activations quantized per call); the
                        embedding lookup stays fp32; engine "torch-dyn-int8",
                        load_ms includes the conversion
        --no-enc8, --no-beam  skip that workload in the timed repetitions
                        (its list is then empty; --dump skips beam.i32)
        --dump-only     with --dump: write the dumps and exit (no timings)
"""
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

SRC_LEN, NEW_TOKENS, BEAMS = 128, 64, 4


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    dt = {"F32": np.float32, "F16": np.float16, "BF16": None}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=dt[info["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def rel_bucket(rel, bidirectional, num_buckets, max_distance):
    """HF T5Attention._relative_position_bucket (rel = key - query)."""
    ret = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        ret = ret + (rel > 0).to(torch.long) * num_buckets
        n = torch.abs(rel)
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(is_small, n, large)


class T5(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.D, self.H, self.dk = cfg["d_model"], cfg["num_heads"], cfg["d_kv"]
        self.L = cfg["num_layers"]
        self.Ld = cfg.get("num_decoder_layers") or self.L
        self.nb = cfg.get("relative_attention_num_buckets", 32)
        self.md = cfg.get("relative_attention_max_distance", 128)
        self.eps = cfg.get("layer_norm_epsilon", 1e-6)
        proj = cfg.get("feed_forward_proj", "relu")
        self.gated = proj.startswith("gated-")
        act = proj.split("-")[-1]
        self.act = F.relu if act == "relu" else (lambda x: F.gelu(x, approximate="tanh"))
        self.tied = cfg.get("tie_word_embeddings", True)
        self.qlin = None  # set by make_dynamic_int8
        self.w = torch.nn.ParameterDict()
        for k, v in w.items():
            self.w[k.replace(".", "__")] = torch.nn.Parameter(v, requires_grad=False)

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def lin(self, x, name):
        """x @ W(name)^T; through the dynamically quantized module when
        --dynamic-int8 replaced that weight (make_dynamic_int8)."""
        if self.qlin is not None:
            return self.qlin[name.replace(".", "__")](x)
        return F.linear(x, self.p(name))

    def emb(self):
        for n in ("shared.weight", "encoder.embed_tokens.weight"):
            if n.replace(".", "__") in self.w:
                return self.p(n)
        raise KeyError("no embedding")

    def rms(self, x, name):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.p(name) * (x * torch.rsqrt(var + self.eps))

    def heads(self, x):  # (B, T, H*dk) -> (B, H, T, dk)
        B, T, _ = x.shape
        return x.view(B, T, self.H, self.dk).transpose(1, 2)

    def merge(self, x):  # (B, H, T, dk) -> (B, T, H*dk)
        B, H, T, dk = x.shape
        return x.transpose(1, 2).reshape(B, T, H * dk)

    def attend(self, q, k, v, bias):
        s = torch.matmul(q, k.transpose(-1, -2)) + bias
        return torch.matmul(torch.softmax(s.float(), dim=-1), v)

    def ffn(self, x, pre):
        h = self.rms(x, pre + ".layer_norm.weight")
        if self.gated:
            a = self.act(self.lin(h, pre + ".DenseReluDense.wi_0.weight"))
            a = a * self.lin(h, pre + ".DenseReluDense.wi_1.weight")
        else:
            a = self.act(self.lin(h, pre + ".DenseReluDense.wi.weight"))
        return x + self.lin(a, pre + ".DenseReluDense.wo.weight")

    def encode(self, ids, mask):
        B, S = ids.shape
        x = F.embedding(ids, self.emb())
        pos = torch.arange(S)
        bucket = rel_bucket(pos[None, :] - pos[:, None], True, self.nb, self.md)
        bias = F.embedding(bucket, self.p("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"))
        bias = bias.permute(2, 0, 1)[None]  # (1, H, S, S)
        bias = bias + (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for i in range(self.L):
            pre = "encoder.block.%d.layer." % i
            h = self.rms(x, pre + "0.layer_norm.weight")
            a = pre + "0.SelfAttention."
            q = self.heads(self.lin(h, a + "q.weight"))
            k = self.heads(self.lin(h, a + "k.weight"))
            v = self.heads(self.lin(h, a + "v.weight"))
            x = x + self.lin(self.merge(self.attend(q, k, v, bias)), a + "o.weight")
            x = self.ffn(x, pre + "1")
        return self.rms(x, "encoder.final_layer_norm.weight")

    def cross_kv(self, enc):
        out = []
        for i in range(self.Ld):
            a = "decoder.block.%d.layer.1.EncDecAttention." % i
            out.append(self.heads(self.lin(enc, a + "k.weight")))
            out.append(self.heads(self.lin(enc, a + "v.weight")))
        return out

    def step(self, tok, mask, past, cross):
        """tok (B,1); past [pk_0, pv_0, ...] (B,H,t,dk); cross [ck_0, cv_0, ...].
        Returns logits (B,V) and the new self cache (B,H,t+1,dk)."""
        t = past[0].shape[2]
        x = F.embedding(tok, self.emb())
        kpos = torch.arange(t + 1)
        bucket = rel_bucket(kpos - t, False, self.nb, self.md)  # key - query
        sbias = F.embedding(bucket, self.p("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"))
        sbias = sbias.t()[None, :, None, :]  # (1, H, 1, t+1)
        cbias = ((1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min)
        new = []
        for i in range(self.Ld):
            pre = "decoder.block.%d.layer." % i
            h = self.rms(x, pre + "0.layer_norm.weight")
            a = pre + "0.SelfAttention."
            q = self.heads(self.lin(h, a + "q.weight"))
            k = torch.cat([past[2 * i], self.heads(self.lin(h, a + "k.weight"))], dim=2)
            v = torch.cat([past[2 * i + 1], self.heads(self.lin(h, a + "v.weight"))], dim=2)
            new += [k, v]
            x = x + self.lin(self.merge(self.attend(q, k, v, sbias)), a + "o.weight")
            h = self.rms(x, pre + "1.layer_norm.weight")
            a = pre + "1.EncDecAttention."
            q = self.heads(self.lin(h, a + "q.weight"))
            x = x + self.lin(self.merge(self.attend(q, cross[2 * i], cross[2 * i + 1], cbias)), a + "o.weight")
            x = self.ffn(x, pre + "2")
        h = self.rms(x, "decoder.final_layer_norm.weight")[:, 0]
        if self.tied:
            h = h * (self.D ** -0.5)
            head = self.emb()
        else:
            head = self.p("lm_head.weight")
        if self.qlin is not None and "lm_head" in self.qlin:
            return self.qlin["lm_head"](h), new
        return F.linear(h, head), new

    def empty_past(self, B):
        return [torch.zeros(B, self.H, 0, self.dk) for _ in range(2 * self.Ld)]


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    m = T5(cfg, read_safetensors(os.path.join(model_dir, "model.safetensors")))
    m.eval()
    return m


def make_dynamic_int8(m):
    """Moves every 2-D projection weight of m (and the LM head) into
    torch.nn.Linear modules and converts them with quantize_dynamic (qint8,
    per-channel weight scales; the quantized engine is torch's default for
    this build). The replaced fp32 projection weights are dropped from m.w;
    the embedding stays (lookup, fp32)."""
    emb_names = {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
    mods = torch.nn.ModuleDict()
    for key in list(m.w.keys()):
        name = key.replace("__", ".")
        W = m.w[key]
        if W.dim() != 2 or name in emb_names or "relative_attention_bias" in name:
            continue
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
        lin.weight = torch.nn.Parameter(W.detach(), requires_grad=False)
        mods[key] = lin
        del m.w[key]
    head = m.emb() if m.tied else m.p("lm_head.weight")
    lin = torch.nn.Linear(head.shape[1], head.shape[0], bias=False)
    lin.weight = torch.nn.Parameter(head.detach(), requires_grad=False)
    mods["lm_head"] = lin
    mods.eval()
    m.qlin = torch.quantization.quantize_dynamic(
        mods, {torch.nn.Linear: torch.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return m


def greedy(m, src, n_new):
    mask = torch.ones_like(src)
    enc = m.encode(src, mask)
    cross = m.cross_kv(enc)
    past = m.empty_past(1)
    tok = torch.full((1, 1), m.cfg.get("decoder_start_token_id", 0), dtype=torch.long)
    ids = []
    for _ in range(n_new):
        logits, past = m.step(tok, mask, past, cross)
        a = int(torch.argmax(logits[0]))  # first index of the max (lowest id)
        ids.append(a)
        tok = torch.full((1, 1), a, dtype=torch.long)
    return ids


def beam(m, src, n_new, K):
    """ignore_eos beam search: each step the best K of (running sum + log_softmax)
    over K x V (ties: lower flat index), exactly n_new steps; returns the best."""
    mask = torch.ones_like(src)
    enc = m.encode(src, mask)
    cross = m.cross_kv(enc)
    crossK = [c.expand(K, -1, -1, -1).contiguous() for c in cross]
    maskK = mask.expand(K, -1)
    past = m.empty_past(1)
    tok = torch.full((1, 1), m.cfg.get("decoder_start_token_id", 0), dtype=torch.long)
    score = torch.zeros(1, dtype=torch.float64)
    seqs = [[]]
    for step in range(n_new):
        rows = tok.shape[0]
        logits, past = m.step(tok, maskK[:rows], past, [c[:rows] for c in crossK])
        lp = torch.log_softmax(logits.double(), dim=-1) + score[:, None]
        V = lp.shape[1]
        top = torch.topk(lp.flatten(), K, sorted=True)
        parent = torch.div(top.indices, V, rounding_mode="floor")
        tid = top.indices % V
        score = top.values
        seqs = [seqs[int(p)] + [int(t)] for p, t in zip(parent, tid)]
        past = [p_.index_select(0, parent) for p_ in past]
        tok = tid[:, None]
    return seqs[0]


def cmd_export(model_dir, out_dir):
    m = load(model_dir)
    os.makedirs(out_dir, exist_ok=True)
    ids = torch.randint(2, 100, (1, 8))
    mask = torch.ones_like(ids)

    class Enc(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.m = m

        def forward(s, input_ids, attention_mask):
            return s.m.encode(input_ids, attention_mask)

    class Cross(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.m = m

        def forward(s, hidden):
            return tuple(s.m.cross_kv(hidden))

    class Dec(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.m = m

        def forward(s, input_ids, attention_mask, *kv):
            n = 2 * s.m.Ld
            logits, new = s.m.step(input_ids, attention_mask, list(kv[:n]), list(kv[n:]))
            return (logits, *new)

    L = m.Ld
    with torch.no_grad():
        enc = m.encode(ids, mask)
        torch.onnx.export(Enc(), (ids, mask), os.path.join(out_dir, "encoder.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                          dynamic_axes={"input_ids": {0: "B", 1: "S"}, "attention_mask": {0: "B", 1: "S"},
                                        "hidden": {0: "B", 1: "S"}}, opset_version=14)
        cnames = ["%s_%d" % (c, l) for l in range(L) for c in ("ck", "cv")]
        torch.onnx.export(Cross(), (enc,), os.path.join(out_dir, "cross_kv.onnx"),
                          input_names=["hidden"], output_names=cnames,
                          dynamic_axes=dict({"hidden": {0: "B", 1: "S"}},
                                            **{n: {0: "B", 2: "S"} for n in cnames}), opset_version=14)
        cross = m.cross_kv(enc)
        past = [torch.zeros(1, m.H, 3, m.dk) for _ in range(2 * L)]
        pnames = ["%s_%d" % (c, l) for l in range(L) for c in ("pk", "pv")]
        nnames = ["%s_%d" % (c, l) for l in range(L) for c in ("nk", "nv")]
        dyn = {"input_ids": {0: "B"}, "attention_mask": {0: "B", 1: "S"}, "logits": {0: "B"}}
        dyn.update({n: {0: "B", 2: "T"} for n in pnames})
        dyn.update({n: {0: "B", 2: "T1"} for n in nnames})
        dyn.update({n: {0: "B", 2: "S"} for n in cnames})
        torch.onnx.export(Dec(), (ids[:, :1], mask, *past, *cross), os.path.join(out_dir, "decoder.onnx"),
                          input_names=["input_ids", "attention_mask"] + pnames + cnames,
                          output_names=["logits"] + nnames, dynamic_axes=dyn, opset_version=14)
    with open(os.path.join(model_dir, "config.json")) as f, open(os.path.join(out_dir, "config.json"), "w") as g:
        g.write(f.read())
    print("exported to", out_dir)


def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_bench(model_dir, ids_path, threads, reps, dump, dyn8=False, skip=(), dump_only=False):
    torch.set_num_threads(threads)
    src_l = list(struct.unpack("<%di" % SRC_LEN, open(ids_path, "rb").read(4 * SRC_LEN)))
    src = torch.tensor([src_l], dtype=torch.long)
    src8 = src.expand(8, -1).contiguous()
    t0 = time.perf_counter()
    m = load(model_dir)
    if dyn8:
        make_dynamic_int8(m)
    load_ms = (time.perf_counter() - t0) * 1e3
    rss_load = rss_kb()
    with torch.inference_mode():
        if dump:
            mask = torch.ones_like(src)
            enc = m.encode(src, mask)
            enc[0].numpy().astype("<f4").tofile(os.path.join(dump, "enc1.f32"))
            logits, _ = m.step(torch.zeros(1, 1, dtype=torch.long) + m.cfg.get("decoder_start_token_id", 0),
                               mask, m.empty_past(1), m.cross_kv(enc))
            logits[0].numpy().astype("<f4").tofile(os.path.join(dump, "logits0.f32"))
            np.array(greedy(m, src, NEW_TOKENS), dtype="<i4").tofile(os.path.join(dump, "greedy.i32"))
            if "beam" not in skip:
                np.array(beam(m, src, NEW_TOKENS, BEAMS), dtype="<i4").tofile(os.path.join(dump, "beam.i32"))
            if dump_only:
                return
        names = ["enc1", "enc8", "greedy", "beam"]
        work = [lambda: m.encode(src, torch.ones_like(src)), lambda: m.encode(src8, torch.ones_like(src8)),
                lambda: greedy(m, src, NEW_TOKENS), lambda: beam(m, src, NEW_TOKENS, BEAMS)]
        wall = {n: [] for n in names}
        cpu = {n: [] for n in names}
        first = None
        for rep in range(-1, reps):
            for n, fn in zip(names, work):
                if n in skip:
                    continue
                a, c = time.perf_counter(), time.process_time()
                fn()
                w, cc = (time.perf_counter() - a) * 1e3, (time.process_time() - c) * 1e3
                if rep < 0:
                    if first is None:
                        first = w
                    continue
                wall[n].append(round(w, 3))
                cpu[n].append(round(cc, 3))
    out = {"engine": "torch-dyn-int8" if dyn8 else "torch", "threads": threads, "version": torch.__version__, "load_ms": round(load_ms, 3),
           "first_enc1_ms": round(first, 3), "rss_load_kb": rss_load, "peak_kb": peak_kb()}
    out.update(wall)
    out.update({"cpu_" + n: v for n, v in cpu.items()})
    print(json.dumps(out))


def main(argv):
    if len(argv) >= 3 and argv[0] == "export":
        cmd_export(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "bench":
        threads, reps, dump = 1, 5, None
        dyn8, skip, dump_only = False, set(), False
        i = 3
        while i < len(argv):
            if argv[i] == "--dynamic-int8":
                dyn8 = True
                i += 1
                continue
            if argv[i] == "--dump-only":
                dump_only = True
                i += 1
                continue
            if argv[i] in ("--no-enc8", "--no-beam"):
                skip.add(argv[i][5:])
                i += 1
                continue
            if argv[i] == "--threads":
                threads = int(argv[i + 1])
            elif argv[i] == "--reps":
                reps = int(argv[i + 1])
            elif argv[i] == "--dump":
                dump = argv[i + 1]
            else:
                sys.exit("unknown argument " + argv[i])
            i += 2
        if dump_only and not dump:
            sys.exit("--dump-only needs --dump DIR")
        cmd_bench(argv[1], argv[2], threads, reps, dump, dyn8, skip, dump_only)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
