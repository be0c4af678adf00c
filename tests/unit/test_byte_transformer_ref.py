# Independent PyTorch (float64) forward of an edgeseq ByteTransformer / ByteFunnel model
# folder, written from the equations in docs/byte-models.md (not from the C code). It
# produced the reference logits in tests/unit/test_byte_transformer.c (test_torch_reference):
# save the models that test builds (es_byte_model_save_dir) and run
#   /usr/bin/python3 tests/unit/test_byte_transformer_ref.py MODEL_DIR
# Dev-only (torch, numpy); the C test itself needs no Python.
import json, struct, sys, math, numpy as np, torch
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; hdr = json.loads(raw[8:8 + n]); base = 8 + n
W = {}
for k, v in hdr.items():
    if k == "__metadata__": continue
    a, b = v["data_offsets"]
    W[k] = torch.tensor(np.frombuffer(raw[base + a:base + b], dtype=np.float32).reshape(v["shape"]).astype(np.float64))
txt = b"From: someone@example.com\nSubject: WIN a FREE prize now!!! Click http://spam.example/xyz $$$ limited offer"
ids = torch.tensor(list(txt)); L = len(ids)
D = cfg["d_model"]; k = cfg["gbst_kernel"]; M = cfg["gbst_blocks"]; r = cfg["downsample"]; H = cfg["n_heads"]
x = W["embed.weight"][ids]
if cfg["d_embed"]: x = torch.relu(x @ W["bottleneck.weight"].T + W["bottleneck.bias"])
xp = torch.cat([torch.zeros(k - 1, D, dtype=x.dtype), x])
cw = W["gbst.conv.weight"]  # (D, k, D)
c = torch.stack([sum(cw[:, j, :] @ xp[t + j] for j in range(k)) for t in range(L)]) + W["gbst.conv.bias"]
cands, scores = [], []
for w in range(1, M + 1):
    P = torch.zeros(L, D, dtype=x.dtype)
    for t0 in range(0, L, w):
        t1 = min(t0 + w, L); P[t0:t1] = c[t0:t1].mean(0)
    cands.append(P); scores.append(P @ W["gbst.score.weight"][0] + W["gbst.score.bias"][0])
alpha = torch.softmax(torch.stack(scores, 1), 1)
X = sum(alpha[:, i:i + 1] * cands[i] for i in range(M))
L1 = (L + r - 1) // r
X = torch.stack([X[i * r:min(i * r + r, L)].mean(0) for i in range(L1)])
X = X + W["pos.weight"][:L1]
def ln(x, g, b): return torch.nn.functional.layer_norm(x, (D,), g, b, 1e-5)
wins = cfg.get("pool_windows", [1] * cfg["n_layers"])
for l in range(cfg["n_layers"]):
    p = lambda s: W["tf.%d.%s" % (l, s)]
    w = wins[l] if l < len(wins) else 1
    Xq = torch.stack([X[i * w:min(i * w + w, len(X))].mean(0) for i in range((len(X) + w - 1) // w)]) if w > 1 else X
    Wqkv, bqkv = p("attn.qkv.weight"), p("attn.qkv.bias")
    Q = ln(Xq, p("ln1.weight"), p("ln1.bias")) @ Wqkv[:D].T + bqkv[:D]
    KV = ln(X, p("ln1.weight"), p("ln1.bias")) @ Wqkv[D:].T + bqkv[D:]
    K, V = KV[:, :D], KV[:, D:]
    dh = D // H
    ctx = torch.cat([torch.softmax(Q[:, h*dh:(h+1)*dh] @ K[:, h*dh:(h+1)*dh].T / math.sqrt(dh), 1) @ V[:, h*dh:(h+1)*dh] for h in range(H)], 1)
    Y = Xq + ctx @ p("attn.out.weight").T + p("attn.out.bias")
    h1 = ln(Y, p("ln2.weight"), p("ln2.bias")) @ p("ffn.in.weight").T + p("ffn.in.bias")
    X = Y + torch.nn.functional.gelu(h1) @ p("ffn.out.weight").T + p("ffn.out.bias")
E = ln(X, W["ln_f.weight"], W["ln_f.bias"])
a = torch.softmax(E @ W["pool.weight"][0], 0)
v = (a[:, None] * E).sum(0)
print(" ".join("%.9g" % z for z in (v @ W["head.weight"].T + W["head.bias"]).tolist()))
