"""The OpenVINO backend: the only package that imports openvino."""

from ovserve.backends.openvino.engine import OpenVINOEngine

__all__ = ["OpenVINOEngine"]
