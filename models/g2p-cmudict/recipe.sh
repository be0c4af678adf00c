#!/usr/bin/env bash
# Reproduces models/g2p-cmudict from a fresh clone (build, fetch data, train,
# select on dev, evaluate on test, copy here). See RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=configs/g2p-bytetransformer.json CONFIG2=configs/g2p-bytetransformer-cases.json exec bash scripts/train-g2p.sh --ship
