#!/usr/bin/env bash
# Seeds fuzz/corpus/decode_frame with the real-client request frames in
# protocol-tests/golden (hex → binary) and the saved fuzz regressions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORPUS="$ROOT/fuzz/corpus/decode_frame"
mkdir -p "$CORPUS"
for f in "$ROOT"/protocol-tests/golden/*/*.hex; do
  client=$(basename "$(dirname "$f")")
  python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().replace("\n", "")))' "$f" \
    >"$CORPUS/golden-$client-$(basename "$f" .hex)"
done
find "$ROOT/protocol-tests/fuzz-regressions" -type f ! -name '*.md' -exec cp {} "$CORPUS/" \;
echo "seeded $(ls "$CORPUS" | wc -l) inputs in $CORPUS"
