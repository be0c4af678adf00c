#!/usr/bin/python3
"""t5_train_torch.py — PyTorch peer of bench/train_bench.sh; not a test.

Times full T5 training steps on a model folder with the T5 module of
bench/t5_torch.py (HF modeling_t5.py semantics) made trainable:
  zero_grad + forward (encoder, teacher-forced decoder with causal
  self-attention, tied head rescaled by d_model**-0.5) + token-mean cross
  entropy + backward + torch.optim.AdamW step (lr 1e-3, betas 0.9/0.999,
  eps 1e-8, weight decay 0.01 on every parameter; foreach off, the torch
  1.13 default), fp32, no dropout, every parameter trained.
The batch is B rows of S source ids and T target ids, no padding, from
the same formula as bench/t5_train_bench.c (ids(), </s> = 1 last), so the
first-step loss of both engines agrees (printed as loss0).

  t5_train_torch.py MODEL_DIR [--threads N] [--steps N] [--warmup N]
                    [--batch B] [--src S] [--tgt T]
prints one JSON line with the same keys as t5_train_bench.c: step_ms,
cpu_ms, median/min/max, tokens/s ((S + T)·B / median), rss_before_kb,
hwm_train_kb (VmHWM over the steps, reset after loading via
/proc/self/clear_refs), maxrss_kb (whole process incl. loading).
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5_torch  # noqa: E402


def ids(which, b, t, n):
    if t == n - 1:
        return 1
    x = b * 7349 + t * 104729 + 17 if which else b * 131 + t * 7919
    return 3 + x % 30000


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


class T5Train(t5_torch.T5):
    """Training forward over a full teacher-forcing batch."""

    def decode(self, dec_in, enc, src_mask):
        B, T = dec_in.shape
        x = F.embedding(dec_in, self.emb())
        pos = torch.arange(T)
        bucket = t5_torch.rel_bucket(pos[None, :] - pos[:, None], False, self.nb, self.md)
        sbias = F.embedding(bucket, self.p("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"))
        causal = torch.triu(torch.full((T, T), torch.finfo(torch.float32).min), diagonal=1)
        sbias = sbias.permute(2, 0, 1)[None] + causal[None, None]
        cbias = (1.0 - src_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for i in range(self.Ld):
            pre = "decoder.block.%d.layer." % i
            h = self.rms(x, pre + "0.layer_norm.weight")
            a = pre + "0.SelfAttention."
            q = self.heads(F.linear(h, self.p(a + "q.weight")))
            k = self.heads(F.linear(h, self.p(a + "k.weight")))
            v = self.heads(F.linear(h, self.p(a + "v.weight")))
            x = x + F.linear(self.merge(self.attend(q, k, v, sbias)), self.p(a + "o.weight"))
            h = self.rms(x, pre + "1.layer_norm.weight")
            a = pre + "1.EncDecAttention."
            q = self.heads(F.linear(h, self.p(a + "q.weight")))
            k = self.heads(F.linear(enc, self.p(a + "k.weight")))
            v = self.heads(F.linear(enc, self.p(a + "v.weight")))
            x = x + F.linear(self.merge(self.attend(q, k, v, cbias)), self.p(a + "o.weight"))
            x = self.ffn(x, pre + "2")
        h = self.rms(x, "decoder.final_layer_norm.weight")
        if self.tied:
            return F.linear(h * (self.D ** -0.5), self.emb())
        return F.linear(h, self.p("lm_head.weight"))

    def loss(self, src, mask, dec_in, labels):
        logits = self.decode(dec_in, self.encode(src, mask), mask)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def main(argv):
    if not argv:
        sys.exit(__doc__)
    model_dir = argv[0]
    opt = {"--threads": 1, "--steps": 5, "--warmup": 1, "--batch": 8, "--src": 128, "--tgt": 32}
    i = 1
    while i < len(argv):
        if argv[i] not in opt or i + 1 >= len(argv):
            sys.exit("unknown argument " + argv[i])
        opt[argv[i]] = int(argv[i + 1])
        i += 2
    torch.set_num_threads(opt["--threads"])
    B, S, T = opt["--batch"], opt["--src"], opt["--tgt"]
    t0 = time.perf_counter()
    m = t5_torch.load(model_dir)
    m.__class__ = T5Train
    for prm in m.parameters():
        prm.requires_grad_(True)
    m.train()
    start = m.cfg.get("decoder_start_token_id", 0)
    src = torch.tensor([[ids(0, b, t, S) for t in range(S)] for b in range(B)], dtype=torch.long)
    labels = torch.tensor([[ids(1, b, t, T) for t in range(T)] for b in range(B)], dtype=torch.long)
    dec_in = torch.cat([torch.full((B, 1), start, dtype=torch.long), labels[:, :-1]], dim=1)
    mask = torch.ones_like(src)
    adam = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    load_ms = (time.perf_counter() - t0) * 1e3
    rss0 = status_kb("VmRSS:")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    wall, cpu, loss0 = [], [], None
    for k in range(-opt["--warmup"], opt["--steps"]):
        a, c = time.perf_counter(), time.process_time()
        adam.zero_grad(set_to_none=False)
        loss = m.loss(src, mask, dec_in, labels)
        loss.backward()
        adam.step()
        w, cc = (time.perf_counter() - a) * 1e3, (time.process_time() - c) * 1e3
        if loss0 is None:
            loss0 = float(loss)
        if k >= 0:
            wall.append(round(w, 2))
            cpu.append(round(cc, 2))
    hwm = status_kb("VmHWM:")
    srt = sorted(wall)
    n = len(srt)
    med = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    out = {"engine": "torch", "version": torch.__version__, "threads": opt["--threads"], "batch": B, "src": S,
           "tgt": T, "params": sum(p.numel() for p in m.parameters()), "load_ms": round(load_ms, 1),
           "loss0": round(loss0, 6), "step_ms": wall, "cpu_ms": cpu, "median_ms": round(med, 2),
           "min_ms": srt[0], "max_ms": srt[-1], "tokens_per_s": round(B * (S + T) / (med / 1e3), 1),
           "rss_before_kb": rss0, "hwm_train_kb": hwm,
           "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
