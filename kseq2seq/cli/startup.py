"""Level 5: starting TensorFlow for a command, without its C++ start-up notices.

TensorFlow's native code writes lines such as "Could not find cuda drivers"
and "failed call to cuInit" straight to file descriptor 2 while it loads and
finds its devices, before `TF_CPP_MIN_LOG_LEVEL` is read for some of them.
`start_tensorflow` sends descriptor 2 to a temporary file meanwhile and
writes back every captured line that is not one of those known notices, so
a real error is never lost. `--verbose` shows them all.
"""

import contextlib
import os
import re
import sys
import tempfile

# Start-up notices of TensorFlow's native code on machines without a GPU (and TensorFlow's malloc patch).
NOISE = re.compile(r"absl::InitializeLog\(\) is called|oneDNN custom operations are on|Could not find cuda drivers"
                   r"|failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning"
                   r"|cpu_feature_guard|To enable the following instructions|Memory patch applied")


@contextlib.contextmanager
def quiet_native_stderr():
    """Descriptor 2 goes to a temporary file inside the block; lines other than `NOISE` are written back."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not NOISE.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def start_tensorflow(verbose=False):
    """Imports TensorFlow and sets up the process (malloc thresholds), quietly unless `verbose`."""
    from kseq2seq.runtime import settle_malloc

    if verbose:
        settle_malloc()
        return
    # Later native notices (INFO, WARNING) are filtered by TensorFlow itself once it reads this.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        settle_malloc()
