"""OVMS's text-generation options reach GenAI's SchedulerConfig."""

from __future__ import annotations

from ovserve.backends.genai.llm import scheduler_config
from ovserve.config.genai import GenerativeConfig


def test_options_map_onto_the_scheduler() -> None:
    options = GenerativeConfig(
        task="text_generation",
        max_num_seqs=7,
        cache_size=3,
        enable_prefix_caching=False,
        dynamic_split_fuse=False,
        max_num_batched_tokens=99,
        cache_interval_multiplier=4,
    )
    config = scheduler_config(options)
    assert (config.max_num_seqs, config.cache_size, config.max_num_batched_tokens) == (7, 3, 99)
    assert (config.enable_prefix_caching, config.dynamic_split_fuse, config.cache_interval_multiplier) == (
        False,
        False,
        4,
    )
    default = scheduler_config(GenerativeConfig(task="text_generation"))
    assert default.max_num_seqs == 256 and default.enable_prefix_caching and default.dynamic_split_fuse
