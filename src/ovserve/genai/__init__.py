"""Generative servables: what the OpenAI front end (``api.openai``) calls, without OpenVINO.

``genai.types`` declares the servable interfaces (text generation, embeddings, rerank)
and the plain data that crosses them; ``backends.genai`` implements them on OpenVINO
GenAI; ``genai.source`` turns generative model configs into aspired versions. Nothing
here imports ``openvino`` or ``openvino_genai`` (import-linter contract).
"""
