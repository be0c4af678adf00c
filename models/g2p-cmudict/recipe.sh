#!/usr/bin/env bash
# Reproduces models/g2p-cmudict from a fresh clone (build, fetch data, train
# every stage, select on dev, export int8, evaluate on test, copy here).
# See RESULTS.md for the time it takes and the numbers it gives.
set -euo pipefail
cd "$(dirname "$0")/../.."
STAGES="configs/g2p-bytetransformer.json configs/g2p-bytetransformer-cases.json configs/g2p-bytetransformer-long40k.json configs/g2p-bytetransformer-long-qat.json" exec bash scripts/train-g2p.sh --ship
