#!/usr/bin/env bash
# setup-peers.sh — installs the peer engines the T5 benchmark (bench/run.sh)
# compares edgeseq with. Not needed to build or test edgeseq.
#
#   PyTorch:      Debian python3-torch (torch 1.13) + libopenblas0-openmp.
#                 Without OpenBLAS, Debian's torch (BLAS_INFO=generic) falls
#                 back to reference BLAS and is ~25x slower, which would be an
#                 unfair peer.
#   ONNX Runtime: the npm package onnxruntime-node (CPU EP; the package ships
#                 its native binaries), installed into bench/node_modules
#                 (git-ignored) — or into $ES_BENCH_NODE_PREFIX if set.
#
# Usage: bash bench/setup-peers.sh        (as root, or with sudo for apt)
# Idempotent: re-running only checks what is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${ES_BENCH_NODE_PREFIX:-$here}"
ort_version="${ES_BENCH_ORT_VERSION:-1.30.0}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
dpkg -s python3-torch >/dev/null 2>&1 || need_apt+=(python3-torch)
dpkg -s python3-numpy >/dev/null 2>&1 || need_apt+=(python3-numpy)
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need_apt+=(libopenblas0-openmp)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup-peers: apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -f "$prefix/node_modules/onnxruntime-node/package.json" ]; then
    echo "setup-peers: npm install onnxruntime-node@$ort_version into $prefix"
    mkdir -p "$prefix"
    # --no-save: no package.json / lock file is written into the tree.
    # ONNXRUNTIME_NODE_INSTALL=skip: the CPU binaries ship in the package; its
    # install script would otherwise fetch CUDA binaries from outside npm.
    (cd "$prefix" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
        "onnxruntime-node@$ort_version")
fi

# The interpreter that has Debian's torch (a pyenv shim may shadow it).
py=/usr/bin/python3
"$py" -c 'import torch, numpy; print("setup-peers: torch", torch.__version__)'
(cd "$prefix" && node -e 'const o = require("onnxruntime-node"); console.log("setup-peers: onnxruntime-node", require("onnxruntime-node/package.json").version)')
echo "setup-peers: ok"
