"""The flags of the models to serve: config.json or one model, its shape and versions, stateful
models, OVMS 2025-2026's input preprocessing, and the config management commands."""

from __future__ import annotations

from ovserve.flags.flag import STATEFUL, Flag, shown

MODEL_FLAGS: tuple[Flag, ...] = (
    Flag(
        "config_path", "str", "", "config.json of the models to serve (multi-model mode)", group="multi model"
    ),
    Flag(
        "model_name",
        "str",
        "",
        "Name of the model (single-model mode, with model_path)",
        group="single model",
    ),
    Flag(
        "model_path",
        "str",
        "",
        "Model directory with numbered versions: local (relative to cwd), s3://, gs://, az:// or azfs://; "
        "or one local model file (.xml, .onnx, .pdmodel, .pdiparams, .pb, .tflite), served as version 1",
        group="single model",
    ),
    Flag(
        "batch_size",
        "str",
        "model's",
        "Batch size: N, -1, min:max or auto; ignored when shape is set",
        group="single model",
    ),
    Flag(
        "shape",
        "str",
        "model's",
        'Shape: auto, (1,3,224,224) with -1 or min:max dims, or JSON {"input": "(1,3,224,224)"}',
        group="single model",
    ),
    Flag(
        "layout",
        "str",
        "model's",
        'Layout: NHWC:NCHW, NHWC, or JSON {"input": "NHWC:NCHW"}',
        group="single model",
    ),
    Flag(
        "model_version_policy",
        "str",
        '{"latest": {"num_versions": 1}}',
        "Versions to serve: JSON latest/all/specific policy",
        group="single model",
    ),
    Flag("nireq", "uint32", "0 = auto", "Size of the model's infer-request pool", group="single model"),
    Flag(
        "target_device",
        "str",
        "CPU",
        "Device: CPU, GPU, NPU, AUTO, MULTI:..., HETERO:...",
        group="single model",
    ),
    Flag(
        "plugin_config",
        "str",
        "",
        'OpenVINO plugin config as JSON, e.g. {"NUM_STREAMS": "1"}',
        group="single model",
    ),
    Flag(
        "stateful",
        "bool",
        "false",
        "Stateful model: requests form sequences (sequence_id, sequence_control_input)",
        group="single model",
    ),
    Flag(
        "idle_sequence_cleanup",
        "bool",
        shown(STATEFUL.idle_sequence_cleanup),
        "Stateful only: the sequence cleaner drops this model's idle sequences",
        group="single model",
    ),
    Flag(
        "low_latency_transformation",
        "bool",
        shown(STATEFUL.low_latency_transformation),
        "Stateful only: apply OpenVINO's LowLatency2 transformation at load",
        group="single model",
    ),
    Flag(
        "max_sequence_number",
        "uint32",
        shown(STATEFUL.max_sequence_number),
        "Stateful only: how many sequences may be open at once",
        group="single model",
    ),
    # --- OVMS 2025-2026: input preprocessing and config management --------------------------
    Flag(
        "mean",
        "str",
        "",
        "Subtracted from input values, built into the model: 0.5 or [r,g,b] (one per channel); needs layout",
        group="single model",
    ),
    Flag(
        "scale",
        "str",
        "",
        "Input values are divided by it, built into the model: 255 or [r,g,b]; needs layout",
        group="single model",
    ),
    Flag(
        "color_format",
        "str",
        "",
        "Color conversion built into the model, MODEL:CLIENT as OVMS reads it, e.g. BGR:RGB "
        "(RGB, BGR, GRAY, NV12, NV12_2, I420, I420_3); needs layout",
        group="single model",
    ),
    Flag(
        "precision",
        "str",
        "",
        "Input precision conversion built into the model, CLIENT:MODEL, e.g. uint8:fp32; needs layout",
        group="single model",
    ),
    Flag(
        "model_repository_path",
        "str",
        "$OVMS_MODEL_REPOSITORY_PATH",
        "Model repository: listed by --list_models; --add_to_config's model path is <it>/<model_name> "
        "when --model_path is not given",
        group="config management",
    ),
    Flag(
        "list_models",
        "bool",
        "false",
        "Print the models and graphs found under --model_repository_path and exit",
        group="config management",
    ),
    Flag(
        "add_to_config",
        "bool",
        "false",
        "Add --model_name (with --model_path or --model_repository_path, and model flags) to "
        "--config_path's config.json and exit",
        group="config management",
    ),
    Flag(
        "remove_from_config",
        "bool",
        "false",
        "Remove --model_name from --config_path's config.json and exit",
        group="config management",
    ),
)
