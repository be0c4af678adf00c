#!/usr/bin/python3
"""quant_report.py — helpers and tables of bench/quant_run.sh (the one-run
reduced-precision T5 benchmark); not a test.

  quant_report.py stepmib MODEL_DIR
      MiB read per greedy decode step (batch 1) by MODEL_DIR: the tensors
      every step touches, in their stored dtype, taken from the
      model.safetensors header (decoder self-attention q,k,v,o, cross-
      attention q,o, feed-forward, norms, relative bias, the LM head = the
      shared embedding when tied; int8 ".qscale" tensors included; not the
      cross K/V projections, used once) + the fp32 K/V traffic (cross K/V of
      128 source positions and, on average, half of a 64-token self cache).
      quant_run.sh sizes bench/floors.c's read buffer with it.
  quant_report.py agree OUT
      the dumps in OUT/dump/<config>/ against fp32: tokens of 64 equal to
      the fp32 greedy (and beam) ids, the common prefix, max|d| of the
      encoder output and first-step logits. Informative: exit 0.
  quant_report.py report OUT [--ort same|file|none] [--ort-file F] [--write DEST]
      medians / min / max / CPU of OUT/results.jsonl, the floors, the target
      ratios; markdown to stdout; --write also replaces (or appends) the
      section between the quant-run markers of DEST (headed "## T5 reduced
      precision: one-run speed (bench/quant_run.sh)"), other sections kept.

Decode-only rule (as bench/t5_report.py): greedy - median(encoder 1x128) of
the same (configuration, threads), pooled over all processes; ms/token =
that / 64 (so it includes the one-off cross-attention K/V projection).
"""
import datetime
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys

import numpy as np

NEW, SRC = 64, 128
SECTION = "## T5 reduced precision: one-run speed (bench/quant_run.sh)"
BEGIN, END = "<!-- quant-run:begin -->", "<!-- quant-run:end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ES_MODELS = ["fp32", "int8", "int8-g64", "bf16"]
CONFIGS = ["es-fp32", "es-int8", "es-int8-g64", "es-bf16", "torch-fp32", "torch-dyn-int8", "ort-fp32"]
NAMES = {"es-fp32": "edgeseq fp32", "es-int8": "edgeseq int8", "es-int8-g64": "edgeseq int8 g64",
         "es-bf16": "edgeseq bf16", "torch-fp32": "PyTorch fp32", "torch-dyn-int8": "PyTorch dyn int8",
         "ort-fp32": "ORT fp32"}
MODEL_OF = {"es-fp32": "fp32", "es-int8": "int8", "es-int8-g64": "int8-g64", "es-bf16": "bf16",
            "torch-fp32": "fp32", "torch-dyn-int8": "int8", "ort-fp32": "fp32"}
DT_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I32": 4, "F64": 8, "I64": 8}


def st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def step_bytes(model_dir):
    """(weight bytes, K/V bytes) read per greedy decode step (see stepmib)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    h = st_header(os.path.join(model_dir, "model.safetensors"))
    tied = cfg.get("tie_word_embeddings", True)
    head = "shared.weight" if tied else "lm_head.weight"
    w = 0
    for name, info in h.items():
        if name == "__metadata__":
            continue
        base = name[:-len(".qscale")] if name.endswith(".qscale") else name
        used = (base.startswith("decoder.") and ".EncDecAttention.k." not in base
                and ".EncDecAttention.v." not in base and "embed_tokens" not in base) or base == head
        if used:
            a, b = info["data_offsets"]
            w += b - a
    Ld = cfg.get("num_decoder_layers") or cfg["num_layers"]
    I = cfg["num_heads"] * cfg["d_kv"]
    kv = Ld * 2 * SRC * I * 4 + Ld * 2 * (NEW // 2) * I * 4
    return w, kv


def cmd_stepmib(model_dir):
    w, kv = step_bytes(model_dir)
    print("%.1f" % ((w + kv) / 1048576.0))
    return 0


def read(d, name, dt):
    p = os.path.join(d, name)
    return np.fromfile(p, dt) if os.path.exists(p) else None


def agree_lines(out):
    dump = os.path.join(out, "dump")
    ref = os.path.join(dump, "es-fp32")
    lines = []
    if not os.path.isdir(ref):
        return ["no dump of es-fp32"]
    g0 = read(ref, "greedy.i32", "<i4")
    b0 = read(ref, "beam.i32", "<i4")
    e0, l0 = read(ref, "enc1.f32", "<f4"), read(ref, "logits0.f32", "<f4")
    lines.append("reference edgeseq fp32: greedy %d distinct id(s) of %d, beam %d distinct; max|enc| %.2f, "
                 "max|logit| %.2f" % (len(set(g0.tolist())), len(g0), len(set(b0.tolist())) if b0 is not None else 0,
                                      float(np.abs(e0).max()), float(np.abs(l0).max())))
    pairs = [(c, "es-fp32") for c in CONFIGS if c not in ("es-fp32", "ort-fp32")]
    pairs.append(("torch-dyn-int8", "torch-fp32"))
    for c, r in pairs:
        d, rd = os.path.join(dump, c), os.path.join(dump, r)
        if not os.path.isdir(d) or not os.path.isdir(rd):
            continue
        row = ["%s vs %s:" % (NAMES[c], NAMES[r])]
        for n, lab in (("greedy.i32", "greedy"), ("beam.i32", "beam")):
            a, b = read(d, n, "<i4"), read(rd, n, "<i4")
            if a is None or b is None:
                continue
            m = min(len(a), len(b))
            eq = int((a[:m] == b[:m]).sum())
            pre = next((i for i in range(m) if a[i] != b[i]), m)
            row.append("%s %d/%d equal (prefix %d)" % (lab, eq, max(len(a), len(b)), pre))
        for n, lab in (("enc1.f32", "enc max|d|"), ("logits0.f32", "logits0 max|d|")):
            a, b = read(d, n, "<f4"), read(rd, n, "<f4")
            if a is not None and b is not None and a.shape == b.shape:
                row.append("%s %.3g" % (lab, float(np.abs(a - b).max())))
        lines.append(" ".join(row[:1]) + " " + ", ".join(row[1:]))
    return lines


def cmd_agree(out):
    for l in agree_lines(out):
        print(l)
    return 0


def fmt(x, nd=1):
    return "–" if x is None else ("{:,.%df}" % nd).format(x)


def med(v):
    return statistics.median(v) if v else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


def machine():
    model, mem = "?", 0.0
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1048576.0
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "SSE"
    vnni = ", VNNI" if (" avx_vnni" in flags or " avx512_vnni" in flags) else ", no VNNI"
    l3 = sh("lscpu | grep -i 'L3 cache' | sed 's/.*: *//'")
    return "%s, %d vCPU (%s%s), L3 %s, %.0f GiB RAM, %s" % (model, os.cpu_count(), isa, vnni, l3 or "?", mem,
                                                         platform.platform())


def pooled(runs):
    """(config, threads) -> series pooled over processes"""
    S = {}
    for r in runs:
        d = S.setdefault((r["config"], r["threads"]), {"n_proc": 0, "load": [], "version": r.get("version", "?"),
                                                       "peak": [], "load_ms": []})
        d["n_proc"] += 1
        d["load"] += [r["load_before"], r["load_after"]]
        d["peak"].append(r.get("peak_kb", 0))
        d["load_ms"].append(r.get("load_ms", 0))
        for w in ("enc1", "enc8", "greedy", "beam"):
            for pre in ("", "cpu_"):
                d.setdefault(pre + w, []).extend(r.get(pre + w, []))
    for d in S.values():
        for pre in ("", "cpu_"):
            e1 = med(d[pre + "enc1"])
            for w in ("greedy", "beam"):
                d[pre + w + "_dec"] = [x - e1 for x in d[pre + w]] if e1 is not None else []
            d[pre + "tok"] = [x / NEW for x in d[pre + "greedy_dec"]]
    return S


def ort_from_file(path):
    """ORT fp32 series from bench/run.sh's results.jsonl: threads -> dict"""
    out = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("kind") != "run" or r.get("engine") != "ort":
            continue
        r = dict(r, config="ort-fp32")
        out.setdefault(r["threads"], []).append(r)
    return {t: pooled(v)[("ort-fp32", t)] for t, v in out.items()}


def cmd_report(out, ort_mode, ort_file, dest):
    runs, floors = [], []
    for line in open(os.path.join(out, "results.jsonl")):
        line = line.strip()
        if line:
            r = json.loads(line)
            (floors if r["kind"] == "floor" else runs).append(r)
    S = pooled(runs)
    threads = sorted({t for (_, t) in S})
    ckpt = open(os.path.join(out, "ckpt_path")).read().strip()
    dirs = {"fp32": ckpt, "int8": os.path.join(out, "models", "int8"),
            "int8-g64": os.path.join(out, "models", "int8-g64"), "bf16": os.path.join(out, "models", "bf16")}
    sizes = {m: os.path.getsize(os.path.join(d, "model.safetensors")) for m, d in dirs.items()}
    sb = {m: step_bytes(d) for m, d in dirs.items()}
    bw, fma, bw_all, mib = {}, {}, {}, {}
    for f in floors:
        k = (f["model"], f["threads"])
        bw[k] = max(bw.get(k, 0.0), f["read_gbs"])
        fma[f["threads"]] = max(fma.get(f["threads"], 0.0), f["fma_gflops"])
        bw_all.setdefault(k, []).append(f["read_gbs"])
        mib[f["model"]] = f["read_mib"]

    def floor_tok(model, t):
        k = (model, t)
        return sum(sb[model]) / (bw[k] * 1e9) * 1e3 if k in bw else None

    ort_src = None
    if ort_mode == "file" and ort_file:
        fo = ort_from_file(ort_file)
        for t, d in fo.items():
            if t in threads:
                S[("ort-fp32", t)] = d
        ort_src = "from bench/run.sh's earlier run (%s, written %s UTC; load average there %s–%s)" % (
            os.path.relpath(ort_file, ROOT),
            datetime.datetime.utcfromtimestamp(os.path.getmtime(ort_file)).strftime("%Y-%m-%d %H:%M"),
            fmt(min(x for d in fo.values() for x in d["load"]), 1),
            fmt(max(x for d in fo.values() for x in d["load"]), 1)) if fo else None
    elif ort_mode == "same":
        ort_src = "measured in this run (bench/ort_bench.mjs, interleaved with the others)"

    def get(c, t, key):
        d = S.get((c, t))
        return d.get(key, []) if d else []

    def ratio(a, b):
        return a / b if a is not None and b else None

    # ---- targets
    tg = ["| threads | ratio | wall (median) | CPU (median) | target | |", "|---|---|---|---|---|---|"]

    def target_row(t, label, num, den, key, target=None, sense=None):
        w = ratio(med(get(num, t, key)), med(get(den, t, key)))
        c = ratio(med(get(num, t, "cpu_" + key)), med(get(den, t, "cpu_" + key)))
        verdict = ""
        if target is not None and w is not None:
            ok = w >= target if sense == ">=" else w <= target
            verdict = "met" if ok else "**not met**"
        tg.append("| %d | %s | %s | %s | %s | %s |" % (t, label, fmt(w, 2), fmt(c, 2),
                                                       ("%s %s" % ("≥" if sense == ">=" else "≤", target))
                                                       if target is not None else "–", verdict))

    for t in threads:
        for m in ("int8", "int8-g64"):
            c = "es-" + m
            v, vc, f = med(get(c, t, "tok")), med(get(c, t, "cpu_tok")), floor_tok(m, t)
            if v is not None and f:
                tg.append("| %d | %s greedy ms/token (%s) ÷ floor (%.1f MB at %s GB/s, read buffer %s MiB: %s ms) "
                          "| %s | %s | – | |" % (t, NAMES[c], fmt(v, 2), sum(sb[m]) / 1e6, fmt(bw[(m, t)], 2),
                                                 fmt(mib[m], 1), fmt(f, 2), fmt(v / f, 2), fmt(ratio(vc, f), 2)))
        target_row(t, "PyTorch dyn int8 ÷ edgeseq int8, greedy ms/token", "torch-dyn-int8", "es-int8", "tok", 4, ">=")
        target_row(t, "PyTorch dyn int8 ÷ edgeseq int8, encoder 1x128", "torch-dyn-int8", "es-int8", "enc1")
        target_row(t, "edgeseq bf16 ÷ edgeseq fp32, greedy ms/token", "es-bf16", "es-fp32", "tok", 0.6, "<=")
        target_row(t, "edgeseq int8 ÷ edgeseq fp32, greedy ms/token", "es-int8", "es-fp32", "tok")
        target_row(t, "edgeseq int8 ÷ ORT fp32, encoder 1x128", "es-int8", "ort-fp32", "enc1")
        target_row(t, "edgeseq int8 ÷ edgeseq fp32, encoder 1x128", "es-int8", "es-fp32", "enc1")
    size_line = ", ".join("%s %s B (%.3f)" % (m, format(sizes[m], ","), sizes[m] / sizes["fp32"]) for m in ES_MODELS)

    # ---- times
    rows = []
    labels = [("enc1", "encoder 1x128", 1), ("enc8", "encoder 8x128", 1), ("greedy_dec", "greedy 64 (decode only)", 1),
              ("tok", "greedy: ms per token", 2), ("beam_dec", "beam 4 x 64 (decode only)", 1)]
    for key, lab, nd in labels:
        for t in threads:
            for c in CONFIGS:
                v = get(c, t, key)
                if not v:
                    continue
                f = floor_tok(MODEL_OF[c], t) if key == "tok" else None
                base = med(get("es-fp32", t, key))
                rows.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                    lab, NAMES[c], t, fmt(med(v), nd), fmt(min(v), nd), fmt(max(v), nd),
                    fmt(med(get(c, t, "cpu_" + key)), nd), fmt(med(v) / f, 2) if f else "–",
                    fmt(ratio(med(v), base), 2) if c != "es-fp32" else "1"))

    # ---- load time and memory (processes of this run only)
    mem_rows = []
    for t in threads:
        for c in CONFIGS:
            d = S.get((c, t))
            if d and c in {r["config"] for r in runs}:
                mem_rows.append("| %s | %d | %s | %s |" % (NAMES[c], t, fmt(med(d["load_ms"]), 0),
                                                           fmt(max(d["peak"]) / 1024.0, 0)))

    # ---- floors
    fl_rows = []
    for t in threads:
        for m in ES_MODELS:
            if (m, t) not in bw:
                continue
            w, kv = sb[m]
            fl_rows.append("| %d | %s | %.1f + %.1f | %s | %s (all: %s) | %s | %s |" % (
                t, m, w / 1e6, kv / 1e6, fmt(mib[m], 1), fmt(bw[(m, t)], 2),
                ", ".join(fmt(x, 1) for x in bw_all[(m, t)]), fmt(floor_tok(m, t), 2), fmt(fma.get(t), 1)))
    loads = [x for (c, _), d in S.items() if c in {r["config"] for r in runs} for x in d["load"]]
    n_proc = sorted({d["n_proc"] for (c, _), d in S.items() if c in {r["config"] for r in runs}})
    n_reps = sorted({len(d["enc1"]) // max(d["n_proc"], 1) for (c, _), d in S.items()
                     if c in {r["config"] for r in runs}})
    rev = open(os.path.join(out, "build_rev")).read().strip() if os.path.exists(os.path.join(out, "build_rev")) else "?"
    ver = lambda c: next((d["version"] for (cc, _), d in S.items() if cc == c), "?")
    qeng = sh("/usr/bin/python3 -c 'import torch; print(torch.backends.quantized.engine)'")
    agree = agree_lines(out)
    text = [BEGIN, SECTION, "",
            "Date: %s UTC  " % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
            "Machine: %s  " % machine(),
            "Load while measuring (1-min load average before/after each process): median %s, min %s, max %s.  " % (
                fmt(med(loads), 1), fmt(min(loads) if loads else None, 1), fmt(max(loads) if loads else None, 1)),
            "Versions: edgeseq %s (git %s, %s); PyTorch %s (Debian python3-torch; dynamic int8 = "
            "`torch.quantization.quantize_dynamic` on nn.Linear, qint8 per-channel weights, quantized engine %s); "
            "ONNX Runtime %s (fp32, CPU EP), %s.  " % (
                ver("es-fp32"), rev, sh("cc --version | head -1"), ver("torch-fp32"), qeng,
                ver("ort-fp32"), ort_src or "not run"),
            "Model: `edgeseq init t5-efficient-small --seed 1` (%s), and its `edgeseq quantize` forms "
            "(int8 per output channel, int8 group 64, bf16); input 128 ids (127 fixed pseudo-random + EOS), "
            "decoding from `<pad>`, EOS ignored. PyTorch runs the same fp32 weights (bench/t5_torch.py), dyn int8 "
            "quantizes them at load.  " % os.path.relpath(ckpt, ROOT),
            "Method: %s process(es) per (configuration, threads), configurations interleaved and rotated per round; "
            "each process loads once, warms up once, then repeats each workload %s time(s). Decode only = "
            "greedy/beam total − the median encoder 1x128 of the same configuration; ms/token = greedy decode only / 64 "
            "(includes the one-off cross K/V projection). PyTorch runs encoder 1x128 and greedy only. "
            "`cpu` = process CPU time (all threads)." % (
                "/".join(str(x) for x in n_proc), "/".join(str(x) for x in n_reps)), "",
            "### Targets (ratios of medians; < 1 = numerator faster)", ""] + tg + [
            "", "File sizes (model.safetensors, ÷ fp32): %s." % size_line, "",
            "### Times (ms)", "",
            "| workload | configuration | threads | median | min | max | cpu (median) | ÷ floor | ÷ edgeseq fp32 |",
            "|---|---|---|---|---|---|---|---|---|"] + rows + [
            "", "### Load time and peak memory", "", "| configuration | threads | load ms (median) | peak RSS MiB (max) |",
            "|---|---|---|---|"] + mem_rows + [
            "", "edgeseq load = es_model_load + es_session_new (model.safetensors memory-mapped; the first call pays "
            "the page faults); PyTorch's = reading the file (dyn int8: plus the conversion); ORT's = creating its 3 "
            "sessions.", "",
            "### Floors (bench/floors.c, before and after the timings, best used)", "",
            "| threads | weights | MB per token: weights + K/V | read buffer MiB | read GB/s | floor ms/token | "
            "fp32 FMA GFLOP/s |", "|---|---|---|---|---|---|---|"] + fl_rows + [
            "", "Per-token bytes: the tensors a greedy step reads in their stored dtype (decoder self-attention, "
            "cross q/o, feed-forward, norms, LM head = tied embedding; int8 scales included) from the "
            "safetensors header, plus fp32 cross K/V (128 positions) and half a 64-token self cache. The read "
            "buffer is that size, so a working set near the L3 size is measured as such. PyTorch dyn int8 is "
            "given the int8 floor.", "",
            "### Agreement with fp32 (1 thread, bench input)", "", "```"] + agree + ["```", "",
            "On this random-init checkpoint greedy decoding is degenerate when the reference shows 1 distinct "
            "id, so 64/64 greedy is a weak check; the logits max|d| and `edgeseq eval-quant` (section above) are "
            "the quality measures.", END]
    body = "\n".join(text) + "\n"
    sys.stdout.write(body)
    if dest:
        old = open(dest).read() if os.path.exists(dest) else "# Benchmarks\n\n"
        if BEGIN in old and END in old:
            new = old[:old.index(BEGIN)] + body.rstrip("\n") + old[old.index(END) + len(END):]
        elif SECTION in old:  # heading without markers: replace up to the next section
            a = old.index(SECTION)
            m = re.compile(r"^(## |<!-- )", re.M).search(old, a + len(SECTION))
            b = m.start() if m else len(old)
            new = old[:a] + body + ("\n" if m else "") + old[b:]
        else:
            # after "## T5 reduced precision (..." if present, else at the end
            m = re.search(r"^## T5 reduced precision \(", old, re.M)
            n = re.compile(r"^(## |<!-- )", re.M).search(old, m.end()) if m else None
            if n:
                new = old[:n.start()] + body + "\n" + old[n.start():]
            else:
                new = old.rstrip("\n") + "\n\n" + body
        tmp = dest + ".tmp"
        with open(tmp, "w") as f:
            f.write(new)
        os.replace(tmp, dest)
        sys.stderr.write("wrote %s\n" % dest)
    return 0


def main(a):
    if len(a) == 2 and a[0] == "stepmib":
        return cmd_stepmib(a[1])
    if len(a) == 2 and a[0] == "agree":
        return cmd_agree(a[1])
    if len(a) >= 2 and a[0] == "report":
        ort_mode, ort_file, dest = "none", None, None
        i = 2
        while i < len(a):
            if a[i] == "--ort" and i + 1 < len(a):
                ort_mode = a[i + 1]
            elif a[i] == "--ort-file" and i + 1 < len(a):
                ort_file = a[i + 1]
            elif a[i] == "--write" and i + 1 < len(a):
                dest = a[i + 1]
            else:
                sys.exit("unknown argument " + a[i])
            i += 2
        return cmd_report(a[1], ort_mode, ort_file, dest)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
