#!/usr/bin/env bash
# Reproduces models/spam-byteqrnn from a fresh clone (build, fetch data, train,
# select on dev, evaluate on test, copy here). See RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=configs/spam-byteqrnn-2k1200.json exec bash scripts/train-spam.sh byteqrnn --ship
