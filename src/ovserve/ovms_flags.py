"""OVMS 2026.3's flags that ovserve's flag table does not (yet) have, and the feature each belongs to.

A drop-in must not answer "Option does not exist" to a flag OVMS documents
(``docs/parameters.md`` at v2026.3; the full list is ``tests/data/ovms_2026.3_flags.tsv``).
When a flag is missing from :data:`ovserve.flags.FLAGS` -- its feature is not served --
the command line stops start-up with one line naming the flag and this feature. A flag
that lands in the flag table (with its feature) takes precedence over this fallback.
"""

from __future__ import annotations

_SECURITY = {
    "api_key_file": "API key authentication (--api_key_file)",
    "allowed_origins": "CORS (--allowed_origins, --allowed_methods, --allowed_headers, --allow_credentials)",
    "allowed_methods": "CORS (--allowed_origins, --allowed_methods, --allowed_headers, --allow_credentials)",
    "allowed_headers": "CORS (--allowed_origins, --allowed_methods, --allowed_headers, --allow_credentials)",
    "allow_credentials": "CORS (--allowed_origins, --allowed_methods, --allowed_headers, --allow_credentials)",
}
_GENERATIVE = {
    "task": "generative AI tasks (--task: text generation, embeddings, rerank, ...)",
    "configure": "configure mode (writing graph.pbtxt for a generative model)",
    "allowed_local_media_path": "media inputs of generative endpoints",
    "allowed_media_domains": "media inputs of generative endpoints",
    "verbose_response": "verbose responses of text generation",
}
_PULL = (
    "pull",
    "source_model",
    "overwrite_models",
    "gguf_filename",
    "extra_quantization_params",
    "weight-format",
)
_TASKS = {
    "text generation (--task text_generation)": (
        "max_num_seqs", "pipeline_type", "enable_prefix_caching", "max_num_batched_tokens", "cache_size",
        "draft_source_model", "dynamic_split_fuse", "max_prompt_len", "kv_cache_precision",
        "model_distribution_policy", "reasoning_parser", "tool_parser", "enable_tool_guided_generation",
        "cache_interval_multiplier",
    ),
    "image generation (--task image_generation)": (
        "resolution", "max_resolution", "default_resolution", "max_num_images_per_prompt",
        "num_images_per_prompt", "guidance_scale", "default_num_inference_steps", "max_num_inference_steps",
        "source_loras",
    ),
    "embeddings (--task embeddings)": ("normalize", "truncate", "pooling"),
    "rerank (--task rerank)": ("max_allowed_chunks",),
    "text to speech (--task text2speech)": ("model_type",),
    "generative AI tasks (--task)": ("num_streams",),
}  # fmt: skip

#: flag name -> the OVMS feature it belongs to
FEATURES: dict[str, str] = {
    **_SECURITY,
    **_GENERATIVE,
    **{name: "pulling models from Hugging Face (pull mode)" for name in _PULL},
    **{name: feature for feature, names in _TASKS.items() for name in names},
}


def unserved_problem(name: str) -> str | None:
    """The one-line problem for an OVMS flag ovserve does not serve, or None for a flag OVMS lacks."""
    feature = FEATURES.get(name)
    return f"{feature} is not served by ovserve yet" if feature else None
