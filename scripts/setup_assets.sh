#!/usr/bin/env bash
# Front-end assets the app serves itself (nothing loads from a CDN). Filled in by the pages that need them.
set -euo pipefail
