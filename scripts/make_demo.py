"""Build the demo model repository: models made locally with OpenVINO's opset API.

    python scripts/make_demo.py DIR

writes DIR/models/tiny (y = 2x + 1 on [N,10] FP32, input ``x``, output ``y``),
DIR/models/cnn (a small random-weight CNN on [N,3,32,32], input ``image``, output
``probs``) and DIR/config.json serving both.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from models import add_scaled, save, small_cnn, write_config


def main(target: str) -> None:
    root = Path(target).resolve()
    paths = {
        "tiny": save(add_scaled(shape=(-1, 10)), root / "models" / "tiny"),
        "cnn": save(small_cnn(), root / "models" / "cnn"),
    }
    config = write_config(root / "config.json", paths)
    print(f"demo repository written: {config}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
