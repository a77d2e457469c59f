"""Reading Python pickles of numpy arrays (the CIFAR-10/100 batches) without running their code.

A pickle is a program: ``pickle.load`` imports and calls whatever the file names, so a crafted
dataset file from an untrusted mirror runs arbitrary code the moment it loads.
:class:`RestrictedUnpickler` resolves only the few names that pickled numpy arrays are made of
and refuses every other one (:class:`UnsafeDatasetFile`) before anything is called; the
containers, strings and numbers of the format need no name at all.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


class DatasetFileError(ValueError):
    """A dataset file does not hold what its format holds (truncated, wrong keys or shapes)."""


class UnsafeDatasetFile(DatasetFileError):
    """A dataset file asks to import or call something its format never needs."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles ``bytes`` at protocol 2, for latin-1 only (another
    codec name would make ``codecs`` look up, and import, an encoding module)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafeDatasetFile(f"calls _codecs.encode({type(text).__name__}, {encoding!r}): "
                                f"only latin-1 text is decoded")
    return text.encode("latin1")


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # protocols 2-4 (numpy's own object)
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]  # protocol 5

#: ``(module, name) -> object``: everything a pickled numpy array needs, as written by numpy 1.x
#: (``numpy.core``: the real CIFAR files) and 2.x (``numpy._core``), at any protocol
ALLOWED: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED` names (Python 2 strings decoded as
    latin-1, as in the CIFAR files)."""

    def __init__(self, file) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeDatasetFile(
                f"asks for {module}.{name}, which a dataset of numpy arrays never needs: "
                f"refused, nothing was run (allowed: "
                f"{', '.join(sorted({f'{m}.{n}' for m, n in ALLOWED}))})") from None

    def persistent_load(self, pid) -> object:
        raise UnsafeDatasetFile(f"holds a persistent id ({pid!r}): refused")


def load_pickle(path: str | Path) -> object:
    """The object pickled in ``path``, read by :class:`RestrictedUnpickler`. A name outside
    :data:`ALLOWED` raises :class:`UnsafeDatasetFile`, a truncated or malformed file
    :class:`DatasetFileError`; both name the file."""
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f).load()
        except UnsafeDatasetFile as err:
            raise UnsafeDatasetFile(f"{path} {err}") from None
        except Exception as err:  # malformed input: pickle and numpy raise many types
            raise DatasetFileError(f"{path} is not a readable pickle (truncated or malformed: "
                                   f"{type(err).__name__}: {err})") from err
