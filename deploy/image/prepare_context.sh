#!/usr/bin/env bash
# Writes the image's build context, build/image-context/: ovserve's wheel, the wheels of its
# runtime dependencies pinned to the versions installed in the test environment (.venv), the
# pins (requirements.txt) and that environment's Python version. Wheels come from pip as it is
# configured on this machine (its index, proxy and certificates), so the image build itself
# needs no network.
set -euo pipefail
VENV=${VENV:-.venv}
OUT=${OUT:-build/image-context}
PY="$VENV/bin/python"
mkdir -p "$OUT/wheels"
"$PY" deploy/image/pins.py >"$OUT/requirements.txt.new"
"$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' >"$OUT/python-version"
# a wheel for every pin (pip takes them from its cache when it can), then ovserve's own
"$PY" -m pip wheel -q --no-deps -w "$OUT/wheels" -r "$OUT/requirements.txt.new"
rm -f "$OUT"/wheels/ovserve-*.whl
"$PY" -m pip wheel -q --no-deps -w "$OUT/wheels" .
# drop wheels of versions no longer pinned (the context is reused between builds)
"$PY" - "$OUT" <<'PYEOF'
import sys
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

out = Path(sys.argv[1])
pins = {}
for line in (out / "requirements.txt.new").read_text().split():
    name, _, version = line.partition("==")
    pins[canonicalize_name(name)] = version
for wheel in (out / "wheels").glob("*.whl"):
    name, version, _, _ = parse_wheel_filename(wheel.name)
    if name != "ovserve" and pins.get(name) != str(version):
        wheel.unlink()
PYEOF
mv "$OUT/requirements.txt.new" "$OUT/requirements.txt"
echo "image context: $(ls "$OUT/wheels" | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT"
