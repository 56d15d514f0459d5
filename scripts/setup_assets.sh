#!/usr/bin/env bash
# Front-end assets the app serves itself (nothing loads from a CDN): require.js, d3 and jQuery for the
# embedded bertviz views, fetched once from the npm registry into workbench/static/vendor/ (git-ignored).
# Idempotent: files already there are kept; needs node/npm only on the first run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/workbench/static/vendor"
mkdir -p "$VENDOR"

# name@version  file-inside-the-package  file-in-vendor (versions bertviz 1.4 asks its CDN for, or the nearest on npm)
ASSETS=(
  "requirejs@2.3.6 package/require.js require.js"
  "d3@5.7.0 package/dist/d3.min.js d3.min.js"
  "jquery@2.2.4 package/dist/jquery.min.js jquery.min.js"
)

missing=0
for entry in "${ASSETS[@]}"; do
  read -r _ _ target <<<"$entry"
  [ -s "$VENDOR/$target" ] || missing=1
done
if [ "$missing" = 0 ]; then
  echo "front-end assets present in $VENDOR"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup_assets: npm is needed once to fetch require.js, d3 and jQuery (apt-get install npm)" >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for entry in "${ASSETS[@]}"; do
  read -r spec inner target <<<"$entry"
  [ -s "$VENDOR/$target" ] && continue
  tarball="$(cd "$WORK" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  tar -xzf "$WORK/$tarball" -C "$WORK" "$inner"
  cp "$WORK/$inner" "$VENDOR/$target.tmp"
  mv "$VENDOR/$target.tmp" "$VENDOR/$target"   # never leave a half-written file behind
  rm -rf "$WORK/package"
  echo "fetched $spec -> workbench/static/vendor/$target"
done
