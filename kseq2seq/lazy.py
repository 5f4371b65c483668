"""Level 0: a package's public names imported on first use (PEP 562).

`import kseq2seq` and the command line's `--help` then load no TensorFlow;
`kseq2seq.Translator` (or `from kseq2seq import Translator`) imports its
module the first time it is read, and is cached as an ordinary attribute.
"""

import importlib


def lazy_attributes(package, names):
    """`(__getattr__, __dir__)` for `package` from `{public name: "module:attribute" or "module"}`."""

    def __getattr__(name):
        if name not in names:
            return _submodule(package, name)
        module, _, attribute = names[name].partition(":")
        value = importlib.import_module(module)
        if attribute:
            value = getattr(value, attribute)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(names) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__


def _submodule(package, name):
    """`package.name` for any submodule (`kseq2seq.records`), as an eager package would have imported it."""
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.{name}":
            raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
