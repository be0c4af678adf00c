#!/usr/bin/env bash
# README command 1: on a fresh Debian machine (as root) install what the
# build needs, build edgeseq, and run the main job: the shipped ByteQRNN
# spam filter (models/spam-byteqrnn, trained by edgeseq in C on the
# SpamAssassin corpus) classifying real e-mails it never saw in training
# (messages of the held-out test split, committed under tests/data/spam),
# then the G2P model (models/g2p-cmudict) pronouncing words.
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
echo "== classifying real mail: 14 messages of the held-out test split (true class = folder name)"
$E classify -m models/spam-byteqrnn tests/data/spam/spam-assassin/*/*.txt |
  sed -E 's|tests/data/spam/spam-assassin/||'
echo "== the same with the int8 model trained with in-training quantization ($(du -k models/spam-byteqrnn-int8/model.safetensors | cut -f1) kB)"
$E classify -m models/spam-byteqrnn-int8 tests/data/spam/spam-assassin/*/*.txt |
  sed -E 's|tests/data/spam/spam-assassin/||'
echo "== any text: $E classify -m models/spam-byteqrnn --text 'WIN A FREE CRUISE!!! click here'"
$E classify -m models/spam-byteqrnn --text 'WIN A FREE CRUISE!!! click here now to claim your prize'
echo "== pronouncing words with the shipped grapheme-to-phoneme model (byte encoder + merged-attention decoder, CMUdict)"
for w in edgeseq pronounce quantization tomato encyclopedia; do
  printf '%-14s ' "$w"; $E generate -m models/g2p-cmudict --beam 4 "$w"
done
