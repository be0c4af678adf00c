#!/usr/bin/env bash
# README command 1: on a fresh Debian machine (as root) install what the
# build needs, build edgeseq, and run the main job: the shipped ByteQRNN
# spam filter (models/spam-byteqrnn, trained by edgeseq in C on the
# SpamAssassin corpus) classifying real e-mails it never saw in training
# (messages of the held-out test split, committed under tests/data/spam).
# Needs nothing outside this repository (no ../shared, no network beyond
# apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=""
  for p in build-essential cmake ninja-build pkg-config libjson-c-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    echo "== installing:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  fi
fi
echo "== building"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target edgeseq >/dev/null
E=./build/edgeseq
echo "== the model"
$E info models/spam-byteqrnn
echo "== classifying real mail (held-out test messages: true class in the folder name)"
for f in tests/data/spam/spam-assassin/*/*.txt; do
  printf '%-12s %-50s ' "$(basename "$(dirname "$f")")" "$(basename "$f" | cut -c1-44)"
  $E classify -m models/spam-byteqrnn "$f" | tail -1
done
