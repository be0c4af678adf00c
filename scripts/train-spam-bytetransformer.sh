#!/usr/bin/env bash
# Spam-filter recipe for the bytetransformer encoder (configs/spam-bytetransformer.json); see scripts/train-spam.sh.
exec bash "$(dirname "$0")/train-spam.sh" bytetransformer "$@"
