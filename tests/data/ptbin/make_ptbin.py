#!/usr/bin/env python3
"""Dev script (not run by tests): writes the small torch.save archives that
tests/unit/test_ptbin.c reads and that seed tests/fuzz/corpus/ptbin/.

Needs torch (1.13 was used). Every value is a simple formula of its index so
the C test computes the expected numbers independently:
  base   = arange(12, f32).reshape(3, 4)          storage shared by
  base_t = base.t()                              (non-contiguous view)
  slice  = base.view(-1)[5:9]                    (storage offset 5)
  expand = tensor([1, 2], f32).expand(3, 2)      (stride 0)
  f16 = arange(6).half().reshape(2, 3)   bf16 = (arange(4) * 0.5).bfloat16()
  f64 = arange(3) * 0.25                 i64 = arange(5) - 2
  i32 = arange(4) * 1000 - 1             i16 = arange(4) - 300 (as int16)
  i8 = arange(4) - 2 (int8)              u8 = arange(4) + 250 (uint8)
  bool = [True, False, True]             scalar = tensor(3.5)
  empty = zeros(0, 3)                    param = Parameter(arange(4.) + 0.5)
Files: mixed_p2.bin (default protocol 2), mixed_p4.bin (protocol 4:
FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL), linear_sd.bin (an
nn.Linear(3, 2) state_dict saved as is: OrderedDict + BUILD _metadata,
weight = arange(6).reshape(2, 3) / 8, bias = [-1, 1]), legacy.bin (pre-1.6
non-zip format, must be refused).
Fuzz seeds (tests/fuzz/corpus/ptbin/): the archives above, bare data.pkl
pickles (protocols 2 and 4) matching the storages fuzz_ptbin.c wraps them
with ("0": 4096 B, "1": 64 B, "2": 16 B, "3": 0 B), and a few broken ones.
Usage: /usr/bin/python3 tests/data/ptbin/make_ptbin.py
"""
import io
import os
import pickle
import struct
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "fuzz", "corpus", "ptbin")


def mixed():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    d = {
        "base": base,
        "base_t": base.t(),
        "slice": base.view(-1)[5:9],
        "expand": torch.tensor([1.0, 2.0]).expand(3, 2),
        "f16": torch.arange(6).half().reshape(2, 3),
        "bf16": (torch.arange(4) * 0.5).bfloat16(),
        "f64": torch.arange(3, dtype=torch.float64) * 0.25,
        "i64": torch.arange(5) - 2,
        "i32": (torch.arange(4) * 1000 - 1).int(),
        "i16": (torch.arange(4) - 300).short(),
        "i8": (torch.arange(4) - 2).to(torch.int8),
        "u8": (torch.arange(4) + 250).to(torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.arange(4, dtype=torch.float32) + 0.5),
    }
    return d


def main():
    os.makedirs(CORPUS, exist_ok=True)
    torch.save(mixed(), os.path.join(HERE, "mixed_p2.bin"))
    torch.save(mixed(), os.path.join(HERE, "mixed_p4.bin"), pickle_protocol=4)
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) / 8)
        lin.bias.copy_(torch.tensor([-1.0, 1.0]))
    torch.save(lin.state_dict(), os.path.join(HERE, "linear_sd.bin"))
    torch.save({"w": torch.ones(2)}, os.path.join(HERE, "legacy.bin"),
               _use_new_zipfile_serialization=False)
    # Seeds for the fuzzer: the small valid archives and a bare pickle.
    for name in ("mixed_p2.bin", "mixed_p4.bin", "linear_sd.bin"):
        with open(os.path.join(HERE, name), "rb") as f:
            data = f.read()
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    fuzz_seeds()


def data_pkl(archive_bytes):
    z = zipfile.ZipFile(io.BytesIO(archive_bytes))
    (name,) = [n for n in z.namelist() if n.endswith("/data.pkl")]
    return z.read(name)


def fuzz_seeds():
    a = torch.arange(1024, dtype=torch.float32)
    d = {
        "a": a,
        "b": torch.zeros(4, 4),
        "c": torch.zeros(2, dtype=torch.float64),
        "e": torch.zeros(0),
        "t": a.view(32, 32).t(),
        "s": a[10:20],
    }
    for proto in (2, 4):
        f = io.BytesIO()
        torch.save(d, f, pickle_protocol=proto)
        with open(os.path.join(CORPUS, "seed_p%d.pkl" % proto), "wb") as out:
            out.write(data_pkl(f.getvalue()))
    # Broken: a code-execution pickle, a huge memo index, a truncated archive.
    with open(os.path.join(CORPUS, "evil_os_system.pkl"), "wb") as out:
        out.write(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
    with open(os.path.join(CORPUS, "evil_memo.pkl"), "wb") as out:
        out.write(b"\x80\x02}r" + struct.pack("<I", 0xFFFFFFF0) + b".")
    with open(os.path.join(HERE, "mixed_p2.bin"), "rb") as f:
        whole = f.read()
    with open(os.path.join(CORPUS, "truncated.bin"), "wb") as out:
        out.write(whole[: len(whole) // 2])


if __name__ == "__main__":
    main()
