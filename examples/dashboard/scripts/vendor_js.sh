#!/usr/bin/env bash
# Refresh the vendored JavaScript of the dashboard from its npm packages.
#
#   examples/dashboard/scripts/vendor_js.sh
#
# Fetches each package with `npm pack` (the registry's tarball, nothing
# installed, no build step) into a temporary directory, and copies its dist
# file and licence into fsv_dashboard/static/vendor/. The versions are pinned
# here; htmx stays on 2.0.x (htmx 4 changed how SSE works).
set -euo pipefail

HTMX=htmx.org@2.0.11
HTMX_SSE=htmx-ext-sse@2.2.4
CHARTJS=chart.js@4.6.1

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/fsv_dashboard/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

unpack() {  # unpack PACKAGE@VERSION DIR
    (cd "$tmp" && npm pack --silent "$1" >/dev/null)
    mkdir -p "$tmp/$2"
    tar -xzf "$tmp"/*.tgz -C "$tmp/$2" --strip-components=1
    rm -f "$tmp"/*.tgz
}

unpack "$HTMX" htmx
unpack "$HTMX_SSE" sse
unpack "$CHARTJS" chartjs

mkdir -p "$out"
cp "$tmp/htmx/dist/htmx.min.js" "$out/htmx.min.js"
cp "$tmp/htmx/LICENSE" "$out/htmx.LICENSE"
cp "$tmp/sse/dist/sse.min.js" "$out/htmx-ext-sse.min.js"
cp "$tmp/sse/LICENSE" "$out/htmx-ext-sse.LICENSE"
cp "$tmp/chartjs/dist/chart.umd.min.js" "$out/chart.umd.min.js"
cp "$tmp/chartjs/LICENSE.md" "$out/chart.js.LICENSE.md"
{
    echo "Vendored by scripts/vendor_js.sh; do not edit by hand."
    echo "$HTMX"
    echo "$HTMX_SSE"
    echo "$CHARTJS"
} > "$out/VERSIONS.txt"
echo "vendored into $out:" && ls -l "$out"
