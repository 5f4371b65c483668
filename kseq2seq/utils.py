"""Level 0: small helpers shared by every module: argument checks, file writes, special token ids."""

import os
import shutil
import tempfile

# Every tokenizer's first four tokens; layers and decoders rely on these ids.
PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3


def decode_utf8(data, name):
    """Bytes -> text; not UTF-8 is a ValueError naming `name` (a file, "standard input") and the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(f"{name}, line {line}: expected UTF-8 text. Received byte "
                         f"{data[error.start:error.start + 1]!r} ({error.reason})") from None


def read_utf8(path):
    """A file's text, decoded as `decode_utf8` does (the error names the file and the line)."""
    with open(path, "rb") as f:
        return decode_utf8(f.read(), path)


def config_fields(obj, *names, **renamed):
    """A `get_config` fragment: `{name: obj.name}` for `names`, `{key: obj.attribute}` for `key="attribute"`."""
    return {**{name: getattr(obj, name) for name in names},
            **{key: getattr(obj, attribute) for key, attribute in renamed.items()}}


def set_dtype_policy(model, dtype):
    """Functional models take the global dtype policy and ignore `dtype`; a restored one needs the policy it was
    saved with (its layers got it explicitly). With mixed_float16, compiling (and so loading) then adds loss
    scaling."""
    if dtype is not None:
        model.dtype_policy = dtype


def check_positive_int(name, value, minimum=1):
    """Raise a ValueError naming `name` unless `value` is an int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected {name} to be an integer >= {minimum}. Received: {name}={value!r}")
    return value


def check_bool(name, value):
    """Raise a ValueError naming `name` unless `value` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"Expected {name} to be True or False. Received: {name}={value!r}")
    return value


def check_fraction(name, value, low=0.0, high=1.0, include_high=False):
    """Raise a ValueError unless low <= value < high (or <= high with include_high)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value
    ok = ok and (value <= high if include_high else value < high)
    if not ok:
        bracket = "]" if include_high else ")"
        raise ValueError(f"Expected {name} in [{low}, {high}{bracket}. Received: {name}={value!r}")
    return value


def check_one_of(name, value, choices):
    """Raise a ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"Expected {name} to be one of {sorted(choices, key=repr)}. Received: {name}={value!r}")
    return value


def atomic_directory(final_path, write_fn, overwrite=False):
    """Call `write_fn(tmp_dir)` and rename the result to `final_path`.

    A failure inside `write_fn` removes the temporary folder, so `final_path`
    is either the complete new content, the untouched old content, or absent.
    """
    final_path = os.path.abspath(final_path)
    if os.path.exists(final_path) and not overwrite:
        raise FileExistsError(
            f"Expected a path that does not exist yet (or overwrite=True). Received: {final_path}"
        )
    parent = os.path.dirname(final_path)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        write_fn(tmp_dir)
        if os.path.exists(final_path):
            backup = tmp_dir + "-old"
            os.rename(final_path, backup)
            os.rename(tmp_dir, final_path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(tmp_dir, final_path)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final_path


def constructor_args(cls, config):
    """The entries of `config` that `cls.__init__` takes by name (a preset holds fields for several parts)."""
    import inspect

    names = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs", "dtype", "name"}
    return {key: value for key, value in config.items() if key in names}
