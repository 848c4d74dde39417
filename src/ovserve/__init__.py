"""ovserve: a fast Python model server for OpenVINO models.

It speaks KServe v2 and TensorFlow Serving over REST and gRPC and takes OpenVINO
Model Server's command line and config.json. Start it with ``ovserve`` or
``python -m ovserve``; embed it with :class:`ovserve.app.Server`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
