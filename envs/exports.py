"""Lazy re-exports for the packages' `__init__`s (PEP 562): a public name loads its module on first use.

The packages re-export their public names (`from dynamics import load_checkpoint`), but importing a
package must stay cheap: it runs on every import of one of its modules, the CLI's included. In
`envs`, the bottom of the import stack, so that every package can use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package` for its lazily loaded public names.

    Args:
        package: the package's `__name__`.
        names: public name -> "module" that defines it under that name, or "module:attribute".

    Raises:
        AttributeError: from `__getattr__`, for a name that is neither defined nor in `names`.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = names[name].partition(":")
        value = namespace[name] = getattr(importlib.import_module(module), attribute or name)
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *names])

    return __getattr__, __dir__
