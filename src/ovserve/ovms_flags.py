"""OVMS 2026.3's flags that ovserve's flag table does not (yet) have, and the feature each belongs to.

A drop-in must not answer "Option does not exist" to a flag OVMS documents
(``docs/parameters.md`` at v2026.3; the full list is ``tests/data/ovms_2026.3_flags.tsv``).
When a flag is missing from :data:`ovserve.flags.FLAGS` -- its feature is not served --
the command line stops start-up with one line naming the flag and this feature. A flag
that lands in the flag table (with its feature) takes precedence over this fallback.
"""

from __future__ import annotations

_GENERATIVE = {
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
    "image generation (--task image_generation)": (
        "resolution", "max_resolution", "default_resolution", "max_num_images_per_prompt",
        "num_images_per_prompt", "guidance_scale", "default_num_inference_steps", "max_num_inference_steps",
        "source_loras",
    ),
    "text to speech (--task text2speech)": ("model_type",),
}  # fmt: skip

#: flag name -> the OVMS feature it belongs to (security, text generation, embeddings and rerank
#: flags are in the flag table: ovserve serves them)
FEATURES: dict[str, str] = {
    **_GENERATIVE,
    **{name: "pulling models from Hugging Face (pull mode)" for name in _PULL},
    **{name: feature for feature, names in _TASKS.items() for name in names},
}


def unserved_problem(name: str) -> str | None:
    """The one-line problem for an OVMS flag ovserve does not serve, or None for a flag OVMS lacks."""
    feature = FEATURES.get(name)
    return f"{feature} is not served by ovserve yet" if feature else None
