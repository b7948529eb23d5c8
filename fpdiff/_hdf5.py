"""HDF5 files as fpdiff writes and reads them: atomic writes, fixed-length text, bounded reads.

Shared by the score files (:mod:`fpdiff.scores.io`) and the results and
checkpoint files of ``fpdiff run`` (:mod:`fpdiff.app.files`). Files are
written atomically (:func:`atomic_path`), hold fixed-length UTF-8 text only
(:func:`fixed_string`: no global heap, whose damage can make libhdf5 loop),
and are in the HDF5 1.10 format (:data:`LIBVER`), whose metadata carry
checksums; a dataset is checked before it is read (:func:`check_storage`).
"""

import contextlib
import math
import os
import secrets

import numpy as np

from ._validation import format_bytes

#: largest number of elements a dataset may declare (a corrupt header must not make the loader allocate it)
MAX_ELEMENTS = 2**31
#: most a dataset declaring over :data:`COMPRESSION_CHECK_BYTES` may expand from its stored size (a small file
#: that declares gigabytes of compressed zeros must not make the loader allocate them)
MAX_COMPRESSION = 100
COMPRESSION_CHECK_BYTES = 2**24
#: HDF5 file format of the files written: 1.10 checksums the superblock, object headers and chunk indexes
#: (1.8's chunk B-trees have none: a flipped filter-mask bit there skips the data checksum); readers need HDF5 >= 1.10
LIBVER = ("v110", "v110")


#: what h5py raises for damage inside a file it could open
DAMAGE = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    The temporary file gets the permissions of a new file (``0o666`` less the
    umask) and is flushed to disk before the rename.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            handle = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            continue
    os.close(handle)
    try:
        yield temporary
        handle = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def fixed_string(text):
    """``text`` as a fixed-length UTF-8 HDF5 string (no global heap)."""
    return np.bytes_(text.encode("utf-8"))


def check_storage(dataset, where, fail):
    """Reject data held outside the file, too large to read, or never (completely) written."""
    size = dataset.size
    if size > MAX_ELEMENTS:
        fail(where, f"declares {size} elements, more than the {MAX_ELEMENTS} allowed")
    if dataset.external:
        fail(where, "keeps its data in external raw file(s); a score file must be self-contained")
    if dataset.is_virtual:
        fail(where, "is a virtual dataset (data mapped from other files); a score file must be self-contained")
    if size == 0:
        return
    if dataset.chunks is None:
        stored, needed = dataset.id.get_storage_size(), dataset.nbytes
        if stored < needed:
            fail(where, f"stores {stored} of its {needed} bytes: never written, or truncated")
    else:
        needed = math.prod(-(-n // c) for n, c in zip(dataset.shape, dataset.chunks))
        stored = dataset.id.get_num_chunks()
        if stored < needed:
            fail(where, f"only {stored} of its {needed} chunks were written")
        stored = dataset.id.get_storage_size()
        if dataset.nbytes > COMPRESSION_CHECK_BYTES and dataset.nbytes > MAX_COMPRESSION * stored:
            fail(where, f"declares {format_bytes(dataset.nbytes)} stored in {format_bytes(stored)}, compressed "
                        f"more than {MAX_COMPRESSION}:1; no score table compresses so well: the header is damaged "
                        "or the file was made to exhaust memory")


def decode_text(value):
    """An attribute as text (UTF-8 decoded; undecodable bytes replaced, so the comparison fails with a message)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    return str(value)


def shorten(value, limit=200):
    """``str(value)`` cut to ``limit`` characters (a corrupt file must not make a megabyte error message)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
