"""A server without generative models never imports OpenVINO GenAI."""

from __future__ import annotations

import subprocess
import sys


def test_classic_server_modules_do_not_import_openvino_genai() -> None:
    code = (
        "import sys, ovserve.app, ovserve.backends.genai, ovserve.api.openai; "
        "print(sorted(m for m in sys.modules if m.startswith(('openvino_genai', 'openvino_tokenizers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
