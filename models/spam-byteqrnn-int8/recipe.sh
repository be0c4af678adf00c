#!/usr/bin/env bash
# Recipe for models/spam-byteqrnn-int8: ByteQRNN spam filter trained with
# in-training quantization (QAT: per-channel int8 weights, EMA uint8
# activation ranges from step 200), then exported to int8.
# From a fresh clone (after `bash scripts/demo.sh` has built edgeseq):
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/fetch-data.sh data
out=${1:-out/spam-qat}
./build/edgeseq train configs/spam-byteqrnn-qat.json --data data --out "$out"
./build/edgeseq export "$out/best" models/spam-byteqrnn-int8 --int8
./build/edgeseq eval -m models/spam-byteqrnn-int8 --data data --split test
