"""Pipelines: OVMS's DAGs (``pipeline_config_list``) and MediaPipe graphs, each served as one servable.

A pipeline is just another :class:`~ovserve.core.servable.Servable`: the request path
resolves, pins and calls it as it does a model. Its nodes (:mod:`ovserve.pipelines.nodes`)
are model versions served by the same manager, C custom nodes (:mod:`.custom_node`) and
Python nodes (:mod:`.python_node`, with the ``pyovms`` module OVMS's Python nodes import).
This package depends only on ``ovserve.core``, the config types and the leaf modules.
"""
