"""The output folder of ``fpdiff run``: its lock, and which files a run may read, write and delete.

A run holds the folder's lock (:func:`output_lock`) from start to end, so a
second run into the same folder stops with an error instead of mixing its
files with the first's. fpdiff reads and deletes only its own files:
checkpoints named as its tasks (:data:`CHECKPOINT_NAME`) and the temporary
files of its atomic writes (what a killed run leaves); anything else in the
folder is left alone, and a ``results.h5`` of a different experiment is
replaced only when asked (``overwrite=True``, ``--overwrite``).
"""

import contextlib
import errno
import os
import re

import filelock

from ..errors import InputError
from .._hdf5 import shorten

#: the lock file in the output folder, held while a run writes there (:func:`output_lock`)
LOCK_NAME = ".fpdiff.lock"


#: names of the checkpoint files fpdiff writes in ``<folder>/checkpoints``: nothing else there is read or deleted
CHECKPOINT_NAME = re.compile(r"(?:density|particles|point)-[0-9]+\.h5")


#: the files fpdiff writes in the output folder itself
OUTPUT_NAMES = ("results.h5", "reverse.png", "sweep.png")


#: a temporary file of :func:`fpdiff._hdf5.atomic_path` writing ``target``: ``.<target>.<12 hex digits>.tmp``
TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.tmp")


_held_locks = set()


@contextlib.contextmanager
def output_lock(folder):
    """Hold the lock of the output folder ``folder`` (created if missing) while the block runs.

    The lock is the OS lock (``flock``, through the ``filelock`` library) of
    the file :data:`LOCK_NAME` in the folder. The OS releases it when the
    process ends in any way (``kill -9`` included), so a run that died never
    blocks the next one; the (empty) file stays in the folder. It is
    re-entrant within a process (``fpdiff run`` holds it around the run and
    its figures). On a file system without ``flock`` (some network file
    systems) the run stops with an :class:`InputError` saying so, unless the
    installed ``filelock`` falls back to a marker file there (recent
    versions do).

    Raises
    ------
    InputError
        Another process holds the lock (another run writes into the folder);
        the folder is a file or cannot be created or written; the lock file
        is a symbolic link.
    """

    folder = os.fspath(folder)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise InputError(f"the output folder {folder!r} is a file, not a folder: choose another output folder "
                         "(--out, or [output].folder in the experiment file)")
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _held_locks:
        yield
        return
    path = os.path.join(folder, LOCK_NAME)
    if os.path.islink(path):
        raise InputError(f"{path!r} is a symbolic link: fpdiff does not lock (or write) through links; remove it")
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:  # an OSError (TimeoutError): before the one below
        raise InputError(f"another fpdiff run is writing into {folder!r} (it holds {path!r}): wait until it ends, "
                         "or give this run another output folder (--out)") from None
    except NotImplementedError:  # older filelock on a file system without flock (ENOSYS)
        raise InputError(f"the file system of {folder!r} cannot lock files ({path!r}), and fpdiff locks its output "
                         "folder so that two runs never mix their files: choose an output folder on a local disk "
                         "(--out)") from None
    except OSError as error:
        raise _write_failure(path, error) from None
    _held_locks.add(key)
    try:
        yield
    finally:
        _held_locks.discard(key)
        lock.release()


@contextlib.contextmanager
def writing(path):
    """Turn an ``OSError`` met while writing ``path`` (full or read-only disk, no permission) into an InputError."""
    try:
        yield
    except OSError as error:
        raise _write_failure(path, error) from None


def _write_failure(path, error):
    """The InputError for an OSError met writing ``path``: what happened and what to do."""
    resume = "; the tasks already finished stay checkpointed: rerun with --resume"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "the disk is full (or over quota): free some space" + resume
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "the folder is not writable: choose a writable output folder (--out)"
    elif error.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        advice = "a file stands where fpdiff needs a folder (or the reverse): choose another output folder (--out)"
    else:
        advice = "is the disk full or read-only? Free some space, or choose a writable output folder (--out)" + resume
    return InputError(f"cannot write {os.fspath(path)!r} ({shorten(error)}): {advice}")


def _checkpoint_folder(folder):
    """``<folder>/checkpoints``, refused when it is a symbolic link or a file."""
    path = os.path.join(folder, "checkpoints")
    if os.path.islink(path):
        raise InputError(f"{path!r} is a symbolic link (to {os.readlink(path)!r}): fpdiff does not write its "
                         "checkpoints through a link (they would be written, and deleted, in another folder); "
                         "remove the link (what it points to is kept), or choose another output folder (--out)")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise InputError(f"{path!r} is a file: fpdiff keeps its checkpoints in a folder of that name; move the file "
                         "away, or choose another output folder (--out)")
    return path


def _remove_temporaries(folder, checkpoints):
    """Remove the temporary files of fpdiff's atomic writes that a killed run left in ``folder`` and ``checkpoints``.

    Only files named as :func:`fpdiff._hdf5.atomic_path` names them, for the
    files fpdiff writes there; called with the folder's lock held, so no
    fpdiff run is writing them.
    """
    for where, owned in ((folder, OUTPUT_NAMES.__contains__), (checkpoints, CHECKPOINT_NAME.fullmatch)):
        if not os.path.isdir(where):
            continue
        for entry in os.listdir(where):
            match = TEMPORARY_NAME.fullmatch(entry)
            path = os.path.join(where, entry)
            if match and owned(match["target"]) and os.path.isfile(path) and not os.path.islink(path):
                with writing(path):
                    os.remove(path)


def _remove_checkpoints(checkpoints, names):
    """Delete the checkpoints ``names`` (task names), then the folder if nothing else is in it."""
    for name in names:
        with writing(checkpoints), contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(checkpoints, f"{name}.h5"))
    if not os.listdir(checkpoints):
        with writing(checkpoints):
            os.rmdir(checkpoints)
