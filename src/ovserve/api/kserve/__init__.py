"""The KServe v2 (Open Inference Protocol) front end: REST and gRPC translators onto the request path.

``codec`` holds what both transports share (datatypes, BYTES framing, output selection);
``codec_json`` and ``codec_grpc`` decode and encode each transport's payloads; ``rest`` and
``grpc`` expose the endpoints; ``repository`` is the model repository extension (index,
load, unload) both transports call. None of them holds model state.
"""
