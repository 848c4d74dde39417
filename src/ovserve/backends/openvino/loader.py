"""Loading one model version: read, reshape, add layout pre/post-processing, compile."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import openvino as ov

from ovserve.backends.openvino import preprocessing
from ovserve.backends.openvino.files import find_model_file
from ovserve.backends.openvino.mapping import exposed_names
from ovserve.backends.openvino.messages import first_line
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.backends.openvino.shapes import ShapeCheck
from ovserve.backends.openvino.stateful import StatefulOpenVINOServable, prepare_stateful
from ovserve.backends.openvino.types import dims_of, partial_shape, port_name, spec_of
from ovserve.config.types import LayoutSpec, ModelConfig, ShapeSpec
from ovserve.core.ids import ServableId
from ovserve.errors import LoadError
from ovserve.tensors import Dim

log = logging.getLogger(__name__)

MAX_NIREQ = 100_000
#: without a configured ``nireq``, the pool holds this many infer requests per one OpenVINO
#: reports as optimal (one per stream): a stream that ends a request finds the next one
#: already queued inside OpenVINO instead of idling until the event loop starts it
DEFAULT_POOL_DEPTH = 4

#: legacy OVMS/OpenVINO plugin keys and their current names
_LEGACY_KEYS = {"CPU_THREADS_NUM": "INFERENCE_NUM_THREADS", "CPU_BIND_THREAD": "AFFINITY"}


def plugin_properties(plugin_config: Mapping[str, str]) -> dict[str, str]:
    """OVMS's defaults and legacy-key translations applied to a model's plugin config."""
    props: dict[str, str] = {}
    for key, value in plugin_config.items():
        if key in ("CPU_THROUGHPUT_STREAMS", "GPU_THROUGHPUT_STREAMS"):
            if value.endswith("_THROUGHPUT_AUTO"):
                props["PERFORMANCE_HINT"] = "THROUGHPUT"
            else:
                props["NUM_STREAMS"] = value
        elif key == "CPU_BIND_THREAD":
            props["AFFINITY"] = {"YES": "CORE", "NO": "NONE"}.get(value, value)
        else:
            props[_LEGACY_KEYS.get(key, key)] = value
    if "NUM_STREAMS" not in props and "PERFORMANCE_HINT" not in props:
        props["PERFORMANCE_HINT"] = "LATENCY"
    return props


class OpenVINOLoader:
    """Builds one version of one model; :meth:`load` is blocking and runs off the event loop."""

    def __init__(
        self,
        core: ov.Core,
        config: ModelConfig,
        version: int,
        version_dir: Path,
        inline_inference_us: int = 0,
    ) -> None:
        self.core = core
        self.inline_inference_us = inline_inference_us
        self.config = config
        self.version = version
        self.version_dir = version_dir

    def load(self) -> OpenVINOServable:
        sid = ServableId(self.config.name, self.version)
        path = find_model_file(self.version_dir)
        try:
            model = self.core.read_model(str(path))
        except Exception as exc:
            raise LoadError(f"File not found or cannot open: {path}: {first_line(exc)}") from exc
        input_names = [port_name(p, f"input_{i}") for i, p in enumerate(model.inputs)]
        output_names = [port_name(p, f"output_{i}") for i, p in enumerate(model.outputs)]
        mapping_dir = self.version_dir.parent if self.version_dir.is_file() else self.version_dir
        input_names, output_names = exposed_names(model, input_names, output_names, mapping_dir, self.config)
        layouts = self._layouts(input_names, output_names)
        self._reshape(model, input_names, layouts)
        model = self._preprocess(model, input_names, output_names, layouts)
        if self.config.stateful is not None:  # after reshaping, just before compiling, as OVMS
            prepare_stateful(model, self.config.name, self.config.stateful.low_latency_transformation)
        props = plugin_properties(self.config.plugin_config)
        try:
            compiled = self.core.compile_model(model, self.config.target_device, props)
        except Exception as exc:
            raise LoadError(f"Cannot compile model into target device: {first_line(exc)}") from exc
        nireq, parallelism = self._nireq(compiled)
        inputs = [spec_of(port, name) for port, name in zip(model.inputs, input_names, strict=True)]
        outputs = [spec_of(port, name) for port, name in zip(model.outputs, output_names, strict=True)]
        log.info("loaded %s from %s on %s, nireq %d, %s", sid, path, self.config.target_device, nireq, props)
        stateless = self.config.stateful is None
        # the shape check guards OpenVINOServable.run; a stateful step (run_step) does not use it
        checked = stateless and any(not dim.is_static for spec in inputs for dim in spec.dims)
        kind = OpenVINOServable if stateless else StatefulOpenVINOServable
        servable = kind(
            sid,
            compiled,
            inputs,
            outputs,
            nireq,
            passthrough_outputs(compiled),
            self.inline_inference_us,
            ShapeCheck(sid, model, input_names) if checked else None,
            parallelism,
        )
        _warm_up(servable)
        return servable

    # -- steps -------------------------------------------------------------------------
    def _layouts(self, input_names: list[str], output_names: list[str]) -> dict[str, LayoutSpec]:
        layout = self.config.layout
        if layout is None:
            return {}
        if isinstance(layout, LayoutSpec):
            if len(input_names) != 1:
                raise LoadError(
                    "The provided layout is in wrong format: an anonymous layout needs a single-input model"
                )
            return {input_names[0]: layout}
        known = {n.lower(): n for n in input_names + output_names}
        resolved = {}
        for name, spec in layout.items():
            if name.lower() not in known:
                raise LoadError(
                    f"The provided layout is in wrong format: the model has no tensor named {name}"
                )
            resolved[known[name.lower()]] = spec
        return resolved

    def _reshape(self, model: ov.Model, input_names: list[str], layouts: dict[str, LayoutSpec]) -> None:
        shape = self.config.shape
        shapes: dict[str, ShapeSpec | str] = {}
        if shape is not None:
            if isinstance(shape, Mapping):
                for name, spec in shape.items():
                    if name not in input_names:
                        raise LoadError(
                            f"The provided shape is in wrong format: the model has no input named {name}"
                        )
                    shapes[name] = spec
            else:
                if len(input_names) != 1:
                    raise LoadError(
                        "The provided shape is in wrong format: an anonymous shape needs a single-input model"
                    )
                shapes[input_names[0]] = shape
        batch = self.config.batch_size
        new_shapes: dict[int, ov.PartialShape] = {}
        for index, (port, name) in enumerate(zip(model.inputs, input_names, strict=True)):
            current = port.get_partial_shape()
            wanted = shapes.get(name)
            if wanted == "auto":
                new_shapes[index] = ov.PartialShape([ov.Dimension(-1)] * current.rank.get_length())
            elif wanted is not None:
                new_shapes[index] = partial_shape(wanted)  # type: ignore[arg-type]
            elif batch is not None and current.rank.is_static and current.rank.get_length() > 0:
                axis = _batch_axis(layouts.get(name))
                dims = list(dims_of(current))
                dims[axis] = Dim.any() if batch == "auto" else batch
                new_shapes[index] = partial_shape(tuple(dims))
        if new_shapes:
            try:
                model.reshape({model.inputs[i]: s for i, s in new_shapes.items()})
            except Exception as exc:
                raise LoadError(
                    f"Model could not be reshaped with requested shape: {first_line(exc)}"
                ) from exc

    def _preprocess(
        self, model: ov.Model, input_names: list[str], output_names: list[str], layouts: dict[str, LayoutSpec]
    ) -> ov.Model:
        if not layouts and self.config.preprocess is None:
            return model
        ppp = ov.preprocess.PrePostProcessor(model)
        try:
            for index, name in enumerate(input_names):
                spec = layouts.get(name)
                if spec is None:
                    continue
                if spec.source is not None:
                    ppp.input(index).tensor().set_layout(ov.Layout(spec.target))
                    ppp.input(index).model().set_layout(ov.Layout(spec.source))
                else:
                    ppp.input(index).model().set_layout(ov.Layout(spec.target))
            for index, name in enumerate(output_names):
                spec = layouts.get(name)
                if spec is None:
                    continue
                if spec.source is not None:
                    ppp.output(index).model().set_layout(ov.Layout(spec.source))
                    ppp.output(index).tensor().set_layout(ov.Layout(spec.target))
                else:
                    ppp.output(index).model().set_layout(ov.Layout(spec.target))
        except Exception as exc:
            raise LoadError(f"The provided layout is in wrong format: {first_line(exc)}") from exc
        return preprocessing.build(
            ppp, len(input_names), self.config.preprocess, "The provided layout is in wrong format"
        )

    def _nireq(self, compiled: ov.CompiledModel) -> tuple[int, int]:
        """The infer-request pool's size and how many calls (batches) the model runs at once.

        A configured ``nireq`` is both, as in OVMS. Without one, OVMS takes OpenVINO's optimal
        number of infer requests (one per stream with the THROUGHPUT hint): that stays the
        model's parallelism (dynamic batching's batches in flight), but the pool holds
        :data:`DEFAULT_POOL_DEPTH` times as many, so that OpenVINO always has the next request
        of each stream queued (docs/architecture.md, "The default nireq").
        """
        nireq = self.config.nireq
        if nireq > 0:
            if nireq > MAX_NIREQ:
                raise LoadError(f"Nireq parameter too high: {nireq} > {MAX_NIREQ}")
            return nireq, nireq
        try:
            optimal = max(int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), 1)
        except Exception:
            optimal = 1
        return min(optimal * DEFAULT_POOL_DEPTH, MAX_NIREQ), min(optimal, MAX_NIREQ)


def passthrough_outputs(compiled: ov.CompiledModel) -> dict[int, int]:
    """Output index -> input index for outputs the compiled graph wires straight to an input.

    OpenVINO 2026.4 can return stale data for such outputs when the input's shape grows
    between calls, so the servable answers them from the input itself (they are equal).
    """
    try:
        runtime = compiled.get_runtime_model()
    except Exception:
        return {}
    params = [p.get_friendly_name() for p in runtime.get_parameters()]
    found = {}
    for index, result in enumerate(runtime.get_results()):
        source = result.input_value(0).get_node()
        if source.get_type_name() == "Parameter" and source.get_friendly_name() in params:
            found[index] = params.index(source.get_friendly_name())
    return found


def _warm_up(servable: OpenVINOServable) -> None:
    """Warm ``servable`` up; a failure is logged and the version serves anyway.

    OVMS loads a model without running it; a warm-up is only an optimisation, so it must
    never make a load fail that OVMS would accept.
    """
    try:
        servable.warm_up()
    except Exception as exc:
        log.warning(
            "%s: the warm-up inference on zeros failed (serving anyway): %s", servable.id, first_line(exc)
        )


def _batch_axis(layout: LayoutSpec | None) -> int:
    if layout is None:
        return 0
    letters = layout.target.replace("...", "").replace("[", "").replace("]", "")
    return letters.index("N") if "N" in letters and "," not in letters else 0
