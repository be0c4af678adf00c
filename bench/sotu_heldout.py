#!/usr/bin/env python3
"""sotu_heldout.py DATA_DIR [N] — prints N sentences (one per line) of the
State-of-the-Union text held out from models/t5-pretrain-sotu's training,
in file order: real inputs for `edgeseq eval-quant --inputs` on that
trained model. The split is src/train/t5_pretrain.c's, mirrored here:
each *.txt (name order) is cut into documents at blank lines and, once a
document has >= 1000 bytes, after '. ' / '? ' / '! '; a document (trimmed
of blanks) is held out when FNV-1a-64 of its bytes is 0 mod 100.
Sentences of 8..60 words, split at '. ', '? ', '! '."""
import os
import re
import sys


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


DOC_MIN = 1000


def documents(t):
    """The documents of one file, trimmed, as add_file / add_doc cut them."""
    out, a, i, n = [], 0, 0, len(t)

    def add(x):
        x = x.strip(b" \n\r\t")
        if x:
            out.append(x)

    while i < n:
        if t[i] == 0x0A:
            j = i + 1
            while j < n and t[j] in (0x20, 0x09, 0x0D):
                j += 1
            if j < n and t[j] == 0x0A:
                add(t[a:i])
                a = i = j + 1
                continue
        if i - a >= DOC_MIN and i + 1 < n and t[i + 1] == 0x20 and t[i] in (0x2E, 0x3F, 0x21):
            add(t[a:i + 1])
            a = i + 2
            i = a
            continue
        i += 1
    if a < n:
        add(t[a:])
    return out


def main():
    data = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    d = os.path.join(data, "sotu")
    out = 0
    for name in sorted(f for f in os.listdir(d) if f.endswith(".txt")):
        for doc in documents(open(os.path.join(d, name), "rb").read()):
            if fnv1a64(doc) % 100 != 0:
                continue
            text = " ".join(doc.decode("utf-8", "replace").split())
            for s in re.split(r"(?<=[.?!])\s+", text):
                if 8 <= len(s.split()) <= 60:
                    print(s)
                    out += 1
                    if out == n:
                        return


if __name__ == "__main__":
    main()
