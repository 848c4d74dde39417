"""What changed between two model lists: the input of a hot reload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ovserve.config.types import ModelConfig


@dataclass(frozen=True)
class ConfigDiff:
    """Model names added, removed and changed between an old and a new list.

    ``changed`` holds every name present in both lists whose settings differ;
    ``versions_only`` is the part of it where only ``version_policy`` differs, so the
    loaded versions can stay and only the policy is re-applied. Names keep list order
    (``removed`` the old list's, the others the new list's).
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    versions_only: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff(old: Sequence[ModelConfig], new: Sequence[ModelConfig]) -> ConfigDiff:
    """Compare two model lists by name (the first entry of a duplicated name counts)."""
    before = _by_name(old)
    after = _by_name(new)
    changed: list[str] = []
    versions_only: list[str] = []
    for name, model in after.items():
        previous = before.get(name)
        if previous is None or previous == model:
            continue
        changed.append(name)
        if replace(previous, version_policy=model.version_policy) == model:
            versions_only.append(name)
    return ConfigDiff(
        added=tuple(name for name in after if name not in before),
        removed=tuple(name for name in before if name not in after),
        changed=tuple(changed),
        versions_only=tuple(versions_only),
    )


def _by_name(models: Sequence[ModelConfig]) -> dict[str, ModelConfig]:
    result: dict[str, ModelConfig] = {}
    for model in models:
        result.setdefault(model.name, model)
    return result
