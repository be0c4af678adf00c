#!/usr/bin/env python3
"""spam_baseline.py — TF-IDF + logistic regression on the SpamAssassin split.

The peer baseline for `edgeseq eval` on the spam filter (dev-only tooling; the
library and tests never need Python). Same data and the same fixed split as
src/train/data_spam.c: key = the MD5 in the file name, test if
int(md5[:8], 16) % 10 == 0, dev if == 1, else train; folders spam-* are spam.

Model selection uses the dev split only (grid over features and C); the chosen
configuration is then fitted on train and scored once on test. Prints one JSON
object (and a table on stderr).

usage: /usr/bin/python3 bench/spam_baseline.py [--data data] [--max-bytes N]
  --max-bytes N  keep only the first N bytes of each message (0 = whole
                 message, the default; 2048 matches the shipped ByteQRNN input)
"""
import argparse
import json
import os
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from scipy.sparse import hstack


def load(data_dir, max_bytes):
    root = os.path.join(data_dir, "spam-assassin")
    if not os.path.isdir(root):
        root = data_dir
    splits = {"train": ([], []), "dev": ([], []), "test": ([], [])}
    for folder in sorted(os.listdir(root)):
        if folder.startswith("spam"):
            label = 1
        elif "ham" in folder:
            label = 0
        else:
            continue
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            parts = name.split(".")
            if len(parts) < 2 or len(parts[1]) != 32:
                continue
            r = int(parts[1][:8], 16) % 10
            split = "test" if r == 0 else "dev" if r == 1 else "train"
            with open(os.path.join(d, name), "rb") as f:
                b = f.read(max_bytes) if max_bytes > 0 else f.read()
            # latin-1 maps every byte to one character: bytes are bytes.
            splits[split][0].append(b.decode("latin-1"))
            splits[split][1].append(label)
    return splits


FEATURES = {
    "word": lambda: [TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w\w+\b",
                                     ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                     max_features=200000)],
    "char": lambda: [TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2,
                                     sublinear_tf=True, max_features=300000)],
}
FEATURES["word+char"] = lambda: FEATURES["word"]() + FEATURES["char"]()


def featurize(kind, train_x, other):
    vecs = FEATURES[kind]()
    xtr = hstack([v.fit_transform(train_x) for v in vecs]).tocsr()
    xo = [hstack([v.transform(x) for v in vecs]).tocsr() for x in other]
    return xtr, xo


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--max-bytes", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    s = load(args.data, args.max_bytes)
    n = {k: len(v[1]) for k, v in s.items()}
    if n["train"] == 0:
        sys.exit("spam_baseline: no messages under %s (run scripts/fetch-data.sh)" % args.data)
    trx, try_ = s["train"]
    dvx, dvy = s["dev"]
    tex, tey = s["test"]
    best = None
    for kind in ("word", "char", "word+char"):
        xtr, (xdv,) = featurize(kind, trx, [dvx])
        for c in (1.0, 10.0, 100.0, 1000.0):
            clf = LogisticRegression(C=c, max_iter=5000, solver="liblinear")
            clf.fit(xtr, try_)
            auc = roc_auc_score(dvy, clf.decision_function(xdv))
            print("dev  features=%-9s C=%-6g AUC=%.5f" % (kind, c, auc), file=sys.stderr)
            if best is None or auc > best[0]:
                best = (auc, kind, c)
    dev_auc, kind, c = best
    xtr, (xte,) = featurize(kind, trx, [tex])
    clf = LogisticRegression(C=c, max_iter=5000, solver="liblinear")
    t1 = time.time()
    clf.fit(xtr, try_)
    fit_s = time.time() - t1
    score = clf.decision_function(xte)
    pred = (score >= 0).astype(int)
    res = {
        "model": "tfidf+logreg",
        "features": kind, "C": c, "max_bytes": args.max_bytes,
        "n": n, "dev_auc": round(dev_auc, 6),
        "test_auc": round(roc_auc_score(tey, score), 6),
        "test_accuracy": round(accuracy_score(tey, pred), 6),
        "test_f1": round(f1_score(tey, pred), 6),
        "fit_seconds": round(fit_s, 2), "total_seconds": round(time.time() - t0, 1),
    }
    print("chosen on dev: features=%s C=%g dev AUC %.5f -> test AUC %.5f" %
          (kind, c, dev_auc, res["test_auc"]), file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
