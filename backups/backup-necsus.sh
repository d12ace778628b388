#!/usr/bin/env bash
# One-shot backup of the NeCSuS database into this folder: a consistent
# snapshot (safe while the server runs), gzipped and named by its UTC time.
# Run it in a loop or from a timer, e.g. every 15 minutes:
#   while true; do sleep 15m; ./backup-necsus.sh; done
# Settings: NECSUS_DB (the database, default ../necsus.db), NECSUS_BIN (the
# necsus binary, default ../target/release/necsus or the one on PATH), KEEP
# (snapshots kept, default 1000: ten days at one every 15 minutes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
db="${NECSUS_DB:-$here/../necsus.db}"
bin="${NECSUS_BIN:-$here/../target/release/necsus}"
[ -x "$bin" ] || bin="$(command -v necsus)" || { echo "backup-necsus.sh: no necsus binary (set NECSUS_BIN)" >&2; exit 1; }
path="$("$bin" backup --db "$db" --dir "$here" --keep "${KEEP:-1000}")"
echo "Backed up to $path"
