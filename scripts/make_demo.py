"""Build the demo model repository: models made locally with OpenVINO's opset API.

    python scripts/make_demo.py DIR

writes DIR/models/tiny (y = 2x + 1 on [N,10] FP32, input ``x``, output ``y``),
DIR/models/cnn (a small random-weight CNN on [N,3,32,32], input ``image``, output
``probs``) and DIR/config.json serving both, and the pipeline ``tiny_chain`` (docs/pipelines.md):
``tiny`` twice in a row, so ``y`` = 2(2x + 1) + 1 = 4x + 3.
"""

from __future__ import annotations

import json
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
    doc = json.loads(config.read_text())
    doc["pipeline_config_list"] = [tiny_chain()]
    config.write_text(json.dumps(doc, indent=2))
    print(f"demo repository written: {config}")


def tiny_chain() -> dict[str, object]:
    """A pipeline (OVMS's DAG format): request ``x`` -> tiny -> tiny -> response ``y``."""

    def node(name: str, source: dict[str, str]) -> dict[str, object]:
        return {
            "name": name,
            "type": "DL model",
            "model_name": "tiny",
            "inputs": [{"x": source}],
            "outputs": [{"data_item": "y", "alias": "y"}],
        }

    return {
        "name": "tiny_chain",
        "inputs": ["x"],
        "nodes": [
            node("first", {"node_name": "request", "data_item": "x"}),
            node("second", {"node_name": "first", "data_item": "y"}),
        ],
        "outputs": [{"y": {"node_name": "second", "data_item": "y"}}],
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
