"""The TensorFlow Serving front end: REST (``rest``) and gRPC (``grpc``) onto the one request path."""
