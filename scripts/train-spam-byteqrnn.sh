#!/usr/bin/env bash
# Spam-filter recipe for the byteqrnn encoder (configs/spam-byteqrnn.json); see scripts/train-spam.sh.
exec bash "$(dirname "$0")/train-spam.sh" byteqrnn "$@"
