#!/usr/bin/env python3
"""byteqrnn_torch.py — the edgeseq ByteQRNN classifier in PyTorch, for a
training-throughput comparison with `edgeseq train` (dev-only tooling).

Same architecture and sizes as src/model/byte_model.c + byte_qrnn.c, read
from the same config file (configs/spam-byteqrnn.json "model" and
"train.batch_size"), fed the same data (SpamAssassin train split, each
message cut to max_bytes):

  bytes -> embed (256, E) [-> bottleneck Linear(E, D) + ReLU when d_embed > 0]
  -> causal Conv1d(D, D, k = gbst_kernel)
  -> GBST: block means P_w for w = 1..M (partial last block divided by its
     true size), score s_w = u.P_w + c0, alpha = softmax_w(s), X = sum_w alpha_w P_w
  -> mean-pool by `downsample` r (partial last window by its true size)
  -> qrnn_layers x bidirectional QRNN (fo-pooling; gates [z|f|o] from a causal /
     anti-causal Conv1d(Din, 3H, k = qrnn_kernel); zoneout in training;
     eval uses f' = 1 - (1-p)(1-f)); output [h_fwd | h_bwd], dropout
  -> attention pooling (a_t = w.x_t, masked softmax, no bias) -> dropout
  -> Linear(2H, n_labels); softmax cross-entropy; AdamW + global-norm clip.

The sequential part of the QRNN (an elementwise scan over positions) runs in
a TorchScript loop, the usual way to write it in PyTorch without a custom
kernel.

usage: /usr/bin/python3 bench/byteqrnn_torch.py [--config configs/spam-byteqrnn.json]
         [--data data] [--threads 1] [--steps 20] [--warmup 3] [--train-steps 0]
Prints one JSON line: bytes/s and examples/s of full training steps
(forward + backward + AdamW) with the given thread count. --train-steps N
instead trains N steps and reports dev ROC-AUC (a sanity check that this
implementation learns; not used for any reported model).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_split(data_dir, split, max_bytes):
    root = os.path.join(data_dir, "spam-assassin")
    if not os.path.isdir(root):
        root = data_dir
    out = []
    for folder in sorted(os.listdir(root)):
        label = 1 if folder.startswith("spam") else 0 if "ham" in folder else None
        d = os.path.join(root, folder)
        if label is None or not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            parts = name.split(".")
            if len(parts) < 2 or len(parts[1]) != 32:
                continue
            r = int(parts[1][:8], 16) % 10
            s = "test" if r == 0 else "dev" if r == 1 else "train"
            if s != split:
                continue
            with open(os.path.join(d, name), "rb") as f:
                out.append((f.read(max_bytes), label))
    return out


def block_mean(x, mask, w):
    """x (B, T, D) with zeroed pads, mask (B, T). Mean over blocks of width w
    (partial blocks divided by their count of valid positions); returns the
    per-block means (B, ceil(T/w), D) and counts (B, ceil(T/w))."""
    B, T, D = x.shape
    Tb = (T + w - 1) // w
    pad = Tb * w - T
    if pad:
        x = F.pad(x, (0, 0, 0, pad))
        mask = F.pad(mask, (0, pad))
    s = x.view(B, Tb, w, D).sum(2)
    n = mask.view(B, Tb, w).sum(2)
    return s / n.clamp(min=1).unsqueeze(-1), n


@torch.jit.script
def qrnn_scan(z, f, o, reverse: bool):
    """fo-pooling over (B, T, H) gates: c_t = f_t c_{t-1} + (1 - f_t) z_t, h = o c."""
    B, T, H = z.shape
    c = torch.zeros(B, H, dtype=z.dtype)
    hs = []
    for i in range(T):
        t = T - 1 - i if reverse else i
        c = f[:, t] * c + (1.0 - f[:, t]) * z[:, t]
        hs.append(o[:, t] * c)
    if reverse:
        hs.reverse()
    return torch.stack(hs, 1)


class ByteQRNN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D = cfg["d_model"]
        E = cfg.get("d_embed", 0) or D
        self.E, self.D = E, D
        self.embed = nn.Embedding(256, E)
        nn.init.uniform_(self.embed.weight, -1.0, 1.0)
        self.bottleneck = nn.Linear(E, D) if cfg.get("d_embed", 0) else None
        self.k0 = cfg["gbst_kernel"]
        self.conv = nn.Conv1d(D, D, self.k0)
        self.score = nn.Linear(D, 1)
        self.M = cfg["gbst_blocks"]
        self.r = cfg["downsample"]
        H, k = cfg["qrnn_hidden"], cfg["qrnn_kernel"]
        self.H, self.k = H, k
        self.dirs = 2 if cfg.get("qrnn_bidirectional", 1) else 1
        self.layers = nn.ModuleList()
        din = D
        for _ in range(cfg["qrnn_layers"]):
            self.layers.append(nn.ModuleList([nn.Conv1d(din, 3 * H, k) for _ in range(self.dirs)]))
            din = H * self.dirs
        self.pool = nn.Linear(din, 1, bias=False)
        self.head = nn.Linear(din, cfg.get("n_labels", 2))
        self.p_zone = cfg.get("zoneout", 0.0)
        self.p_drop = cfg.get("dropout", 0.0)

    def forward(self, ids, mask):
        # ids (B, T) int64 (pads 0), mask (B, T) float
        x = self.embed(ids) * mask.unsqueeze(-1)
        if self.bottleneck is not None:
            x = F.relu(self.bottleneck(x)) * mask.unsqueeze(-1)
        # causal conv: taps t-k+1..t
        c = self.conv(F.pad(x.transpose(1, 2), (self.k0 - 1, 0))).transpose(1, 2)
        c = c * mask.unsqueeze(-1)
        B, T, D = c.shape
        cands, scores = [], []
        for w in range(1, self.M + 1):
            p, _ = block_mean(c, mask, w)
            p = p.repeat_interleave(w, dim=1)[:, :T]
            cands.append(p)
            scores.append(self.score(p))
        alpha = torch.softmax(torch.cat(scores, -1), -1)  # (B, T, M)
        X = (torch.stack(cands, -1) * alpha.unsqueeze(2)).sum(-1) * mask.unsqueeze(-1)
        X, n = block_mean(X, mask, self.r)
        m1 = (n > 0).float()
        X = X * m1.unsqueeze(-1)
        for l, convs in enumerate(self.layers):
            outs = []
            for d, conv in enumerate(convs):
                xt = X.transpose(1, 2)
                xt = F.pad(xt, (self.k - 1, 0) if d == 0 else (0, self.k - 1))
                G = conv(xt).transpose(1, 2)
                z, f, o = G.chunk(3, -1)
                z, f, o = torch.tanh(z), torch.sigmoid(f), torch.sigmoid(o)
                if self.training and self.p_zone > 0:
                    keep = torch.rand_like(f) < self.p_zone
                    f = torch.where(keep, torch.ones_like(f), f)
                elif self.p_zone > 0:
                    f = 1 - (1 - self.p_zone) * (1 - f)
                # pads: state frozen (f = 1, no input)
                f = torch.where(m1.unsqueeze(-1) > 0, f, torch.ones_like(f))
                outs.append(qrnn_scan(z, f, o, d == 1) * m1.unsqueeze(-1))
            X = torch.cat(outs, -1)
            if self.training and self.p_drop > 0:
                X = F.dropout(X, self.p_drop, True)
        a = self.pool(X).squeeze(-1).masked_fill(m1 == 0, -1e30)
        alpha = torch.softmax(a, -1)
        y = (alpha.unsqueeze(-1) * X).sum(1)
        if self.training and self.p_drop > 0:
            y = F.dropout(y, self.p_drop, True)
        return self.head(y)


def batchify(examples, max_bytes):
    T = max(1, max(len(b) for b, _ in examples))
    ids = torch.zeros(len(examples), T, dtype=torch.long)
    mask = torch.zeros(len(examples), T)
    for i, (b, _) in enumerate(examples):
        if b:
            ids[i, :len(b)] = torch.tensor(list(b), dtype=torch.long)
            mask[i, :len(b)] = 1
    y = torch.tensor([l for _, l in examples])
    return ids, mask, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/spam-byteqrnn.json")
    ap.add_argument("--data", default="data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        conf = json.load(f)
    cfg = conf["model"]
    cfg["n_labels"] = len(cfg.get("labels", [0, 1]))
    tp = conf.get("train", {})
    bs = tp.get("batch_size", 32)
    mb = cfg["max_bytes"]
    train = load_split(args.data, "train", mb)
    if not train:
        sys.exit("byteqrnn_torch: no data under %s (run scripts/fetch-data.sh)" % args.data)
    model = ByteQRNN(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=tp.get("lr", 2e-3),
                            weight_decay=tp.get("weight_decay", 0.01))
    g = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(train), generator=g).tolist()

    def step(i):
        ex = [train[order[(i * bs + j) % len(train)]] for j in range(bs)]
        ids, mask, y = batchify(ex, mb)
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(ids, mask), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tp.get("clip_norm", 1.0))
        opt.step()
        return loss.item(), int(mask.sum().item()), len(ex)

    if args.train_steps:
        for i in range(args.train_steps):
            l, _, _ = step(i)
            if i % 25 == 0:
                print("step %d loss %.4f" % (i, l), file=sys.stderr)
        dev = load_split(args.data, "dev", mb)
        model.eval()
        scores = []
        with torch.no_grad():
            for i in range(0, len(dev), 32):
                ids, mask, _ = batchify(dev[i:i + 32], mb)
                z = model(ids, mask)
                scores += (z[:, 1] - z[:, 0]).tolist()
        from sklearn.metrics import roc_auc_score
        print(json.dumps({"train_steps": args.train_steps,
                          "dev_auc": roc_auc_score([l for _, l in dev], scores)}))
        return

    for i in range(args.warmup):
        step(i)
    t0 = time.time()
    nb = ne = 0
    for i in range(args.warmup, args.warmup + args.steps):
        _, b, e = step(i)
        nb += b
        ne += e
    dt = time.time() - t0
    print(json.dumps({"impl": "pytorch %s" % torch.__version__, "threads": args.threads,
                      "batch_size": bs, "max_bytes": mb, "params": n_params,
                      "steps": args.steps, "seconds": round(dt, 3),
                      "bytes_per_s": round(nb / dt, 1), "examples_per_s": round(ne / dt, 2)}))


if __name__ == "__main__":
    main()
