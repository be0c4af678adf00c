#!/usr/bin/env bash
# Spam-filter recipe for the bytefunnel encoder (configs/spam-bytefunnel.json); see scripts/train-spam.sh.
exec bash "$(dirname "$0")/train-spam.sh" bytefunnel "$@"
