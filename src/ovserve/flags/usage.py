"""The help text (``ovserve --help``): every flag of the table, grouped as ``ovms --help`` groups them."""

from __future__ import annotations

from ovserve.flags.flag import GROUPS, Flag
from ovserve.flags.table import FLAGS
from ovserve.ovms_flags import FEATURES


def usage() -> str:
    """The help text: every flag with its default, a one-line description and its status.

    Grouped as ``ovms --help`` groups them (:data:`GROUPS`); config management last,
    under its own usage lines, as OVMS prints it.
    """
    lines = [
        "ovserve - a model server for OpenVINO models, drop-in for OpenVINO Model Server",
        "",
        "Usage:",
        "  ovserve --config_path CONFIG_PATH [OPTION...]",
        "  ovserve --model_name MODEL_NAME --model_path MODEL_PATH [OPTION...]",
        "",
        "Syntax: --flag value or --flag=value; a bool flag is true when given, or --flag=true|false.",
        "[not effective yet] marks flags accepted for OVMS compatibility whose feature is not built yet.",
        "",
        "  -h, --help".ljust(58) + "Show this help and exit",
        "      --version".ljust(58) + "Show the version and exit",
    ]
    for group in GROUPS:
        flags = [flag for flag in FLAGS if flag.group == group]
        if not flags:
            continue
        if group == "config management":
            lines += ["", *_CONFIG_MANAGEMENT_USAGE]
        if group != "server":
            lines += ["", f" {group} options:"]
        lines += [_help_line(flag) for flag in flags]
    return "\n".join(lines + _unserved_lines())


def _unserved_lines() -> list[str]:
    """OVMS 2026.3's flags that are not in the table, by feature: they stop start-up, naming it."""
    known = {flag.name for flag in FLAGS}
    by_feature: dict[str, list[str]] = {}
    for name, feature in FEATURES.items():
        if name not in known:
            by_feature.setdefault(feature, []).append(f"--{name}")
    if not by_feature:
        return []
    lines = ["", " OVMS 2026.3 options not served by ovserve yet (each stops start-up, naming its feature):"]
    for feature, names in by_feature.items():
        lines += [f"      {feature}:", f"          {', '.join(names)}"]
    return lines


_CONFIG_MANAGEMENT_USAGE = (
    "config management commands (edit config.json and exit):",
    "  ovserve --add_to_config --config_path CONFIG_PATH --model_name MODEL_NAME "
    "--model_repository_path MODEL_REPO_PATH",
    "  ovserve --add_to_config --config_path CONFIG_PATH --model_name MODEL_NAME --model_path MODEL_PATH",
    "  ovserve --remove_from_config --config_path CONFIG_PATH --model_name MODEL_NAME",
    "  ovserve --list_models --model_repository_path MODEL_REPO_PATH",
)


def _help_line(flag: Flag) -> str:
    left = f"      --{flag.name}" + ("" if flag.kind == "bool" else f" {flag.name.upper()}")
    text = flag.help
    default = flag.shown_default()
    if default:
        text += f" (default: {default})"
    if not flag.effective:
        text += " [not effective yet]"
    return left.ljust(58) + text if len(left) < 58 else f"{left}\n{'':58}{text}"
