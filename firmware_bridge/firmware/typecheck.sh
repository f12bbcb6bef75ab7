#!/bin/sh
# Type-check the recorder firmware and the modules it shares with the dock against
# MicroPython's stubs (micropython-stdlib-stubs as the standard library, micropython-rp2-stubs
# for machine, micropython, select...), not against CPython's typeshed: an API that only
# CPython has must fail here. Usage: firmware_bridge/firmware/typecheck.sh  (from anywhere)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STUBS=$(mktemp -d)
trap 'rm -rf "$STUBS"' EXIT INT TERM
# The rp2 stubs install as top-level modules beside CPython's packages: link only them, so
# mypy sees MicroPython's machine/time/os and nothing of the CPython environment.
for record in "$SITE"/micropython_rp2_stubs-*.dist-info/RECORD; do
  cut -d, -f1 "$record" | grep -v -e '\.dist-info/' -e '\.md$' -e '\.toml$' | cut -d/ -f1 | sort -u |
    while read -r entry; do ln -sf "$SITE/$entry" "$STUBS/$entry"; done
done
ln -sf "$SITE/_mpy_shed" "$STUBS/_mpy_shed"
# The stubs are someone else's code: check our use of them, not their own consistency.
modules=$(ls "$STUBS" | sed -e 's/\.pyi$//' -e 's/$/.*/' | tr '\n' ',' | sed 's/,$//')
stub_modules=$(ls "$STUBS" | sed -e 's/\.pyi$//' | tr '\n' ',' | sed 's/,$//')
printf '[mypy]\n[mypy-%s,%s]\nignore_errors = True\n' "$stub_modules" "$modules" > "$STUBS/mypy.ini"
cd "$ROOT"
MYPYPATH="$STUBS" exec "$PY" -m mypy \
  --config-file "$STUBS/mypy.ini" \
  --custom-typeshed-dir "$SITE" \
  --no-site-packages \
  --python-version 3.11 \
  --explicit-package-bases \
  --check-untyped-defs \
  --cache-dir /dev/null \
  firmware_bridge/framing.py firmware_bridge/messages.py firmware_bridge/auth.py \
  firmware_bridge/firmware/__init__.py firmware_bridge/firmware/board.py \
  firmware_bridge/firmware/recorder.py firmware_bridge/firmware/memory_board.py \
  firmware_bridge/firmware/board_rp2.py firmware_bridge/firmware/main.py \
  firmware_bridge/firmware/update.py firmware_bridge/firmware/ed25519.py \
  firmware_bridge/firmware/memory_slots.py firmware_bridge/firmware/flash_slots.py
