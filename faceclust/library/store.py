"""The encodings file: the tutorial's pickle, read safely and written atomically.

On disk it stays what the original ``encode_faces.py`` wrote, so old files and old tools keep
working: a list of ``{"imagePath": str, "loc": (top, right, bottom, left), "encoding":
ndarray(128,)}`` dicts. A face found in a video has one key more, ``"time"``: the second of the
frame it was seen in (``imagePath`` is the video's path); and a face encoded by this version,
``"sharpness"`` (faces/sharpness.py), which files written before lack. Inside the program the
records are :class:`~faceclust.records.Face`.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import os
import pickle
import zipfile
from itertools import pairwise
from numbers import Integral

import numpy as np

from ..errors import EncodingsFileError
from ..records import EMBEDDING_SIZE, Face
from ..runtime.collector import cycle_collector_paused
from ..runtime.fileio import atomic_write_bytes
from ..runtime.malloc_tuning import return_free_memory

# Protocol 4 is read by every Python 3 from 3.4 on and by numpy 1.x.
PICKLE_PROTOCOL = 4
# Pickles of more faces than this are read in float32: clustering.EXACT_AGGLOMERATIVE_FACES,
# past which the clustering computes in float32 (a test keeps the two equal).
FLOAT32_FROM_FACES = 10_000


def _numpy_core():
    # numpy 2 moved numpy.core to numpy._core; pickles name whichever wrote them.
    import numpy

    return getattr(numpy, "_core", None) or numpy.core


def _allowed_globals() -> dict[tuple[str, str], object]:
    import codecs

    core = _numpy_core()
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes as _codecs.encode(text, "latin1") under protocol 2.
        ("_codecs", "encode"): codecs.encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = core.multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds numpy arrays and plain Python values only; any other global is refused."""

    def __init__(self, stream: io.BufferedIOBase):
        super().__init__(stream)
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it asks to run {module}.{name}") from None


def load_faces(path: str | os.PathLike[str]) -> list[Face]:
    """Read an encodings file without executing anything in it, and check every record.

    A name ending in ``.npz`` is read as the compact columnar store, anything else as the
    tutorial's pickle.
    """
    return load_faces_and_matrix(path)[0]


def load_faces_and_matrix(path: str | os.PathLike[str]) -> tuple[list[Face], np.ndarray]:
    """:func:`load_faces`, and the ``(n, 128)`` matrix whose rows the faces' encodings are
    (float64 from a pickle, float32 from the compact store): one copy of the vectors, not two."""
    name = os.fspath(path)
    if name.lower().endswith(NPZ_SUFFIX):
        return _load_npz(name)
    try:
        with open(name, "rb") as stream, cycle_collector_paused():
            data = _RestrictedUnpickler(stream).load()
    except FileNotFoundError:
        raise EncodingsFileError(f"encodings file not found: {name}") from None
    except IsADirectoryError:
        raise EncodingsFileError(f"encodings file is a folder: {name}") from None
    except PermissionError:
        raise EncodingsFileError(f"cannot read encodings file {name}: permission denied") from None
    except pickle.UnpicklingError as error:
        message = str(error)
        if message.startswith("it asks to run"):
            raise EncodingsFileError(
                f"refusing to load {name}: {message}; an encodings file holds only "
                "numbers, boxes and paths, so this one was not written by encode_faces.py"
            ) from None
        if "truncated" in message:
            raise EncodingsFileError(f"{name} is truncated") from None
        raise EncodingsFileError(f"{name} is not an encodings file ({message})") from None
    except EOFError:
        raise EncodingsFileError(f"{name} is truncated or empty") from None
    except Exception as error:
        # Whatever else malformed bytes make the unpickler raise (ValueError, RecursionError,
        # MemoryError, ...): nothing in it ran, and the file is not one we can use.
        raise EncodingsFileError(
            f"{name} is not an encodings file ({type(error).__name__}: {error})"
        ) from None
    faces, matrix = _records_to_faces_and_matrix(data, name)
    # The records, their vector arrays above all, are freed here, in the middle of the heap.
    del data
    return_free_memory()
    return faces, matrix


def records_to_faces(data: object, source: str = "encodings") -> list[Face]:
    """Check the tutorial's list of dicts and turn it into :class:`Face` records."""
    return _records_to_faces_and_matrix(data, source)[0]


def _records_to_faces_and_matrix(data: object, source: str) -> tuple[list[Face], np.ndarray]:
    """The records checked as a whole where numpy can (vectors, boxes), one by one where it
    cannot; a failure is reported by :func:`_record_to_face` for the first bad record."""
    if not isinstance(data, list):
        raise EncodingsFileError(f"{source}: expected a list of face records, found {type(data).__name__}")

    def invalid(index: int) -> EncodingsFileError:
        try:
            _record_to_face(data[index])
        except (TypeError, ValueError, KeyError) as error:
            return EncodingsFileError(f"{source}: face record {index} is invalid: {error}")
        return EncodingsFileError(f"{source}: face record {index} is invalid")  # pragma: no cover

    columns = _columns(data)
    if columns is None:
        # Some record is not as it should be: find the first, one by one, to say which.
        first_bad = next(index for index in range(len(data)) if _columns(data[index : index + 1]) is None)
        raise invalid(first_bad)
    paths, boxes, vectors = columns
    if not data:
        return [], np.empty((0, EMBEDDING_SIZE))
    # A large file's vectors go straight into float32, as the compact store's do: past the
    # clustering's exact limit everything computes in float32 anyway, and a million faces
    # would otherwise hold 1 GB of float64 beside the 0.5 GB float32 copy the graph makes.
    dtype = np.float32 if len(vectors) > FLOAT32_FROM_FACES else np.float64
    matrix = np.stack(vectors, dtype=dtype, casting="unsafe")
    finite = np.isfinite(matrix).all(axis=1)
    # Boxes are plain ints in every file encode_faces.py wrote: one pass over their types, and
    # the slower check for other integer types (numpy's) only if some are not.
    if {type(value) for box in boxes for value in box} <= {int}:
        box_array = np.array(boxes, dtype=np.int64)
    else:
        integral = np.fromiter(
            (all(isinstance(v, Integral) and not isinstance(v, bool) for v in box) for box in boxes),
            dtype=bool,
            count=len(boxes),
        )
        if not integral.all():
            raise invalid(int(np.argmin(integral)))
        box_array = np.array(boxes, dtype=object).astype(np.int64)
    top, right, bottom, left = box_array.T
    good = finite & (top >= 0) & (top < bottom) & (left >= 0) & (left < right)
    if not good.all():
        raise invalid(int(np.argmin(good)))
    columns_of = {}
    for key in OPTIONAL_NUMBERS:
        values = _optional_numbers(data, key)
        if values is None:
            raise invalid(
                next(i for i in range(len(data)) if _optional_numbers(data[i : i + 1], key) is None)
            )
        columns_of[key] = values
    with cycle_collector_paused():
        faces = list(
            map(
                Face,
                paths,
                map(tuple, box_array.tolist()),
                matrix,
                columns_of["time"],
                columns_of["sharpness"],
            )
        )
    return faces, matrix


# The keys a record may have beyond the tutorial's three, each a number of at least 0 or absent:
# the second of a video's frame, and how sharp the face is.
OPTIONAL_NUMBERS = ("time", "sharpness")


def _optional_numbers(data: list[dict], key: str) -> list[float | None] | None:
    """Each record's ``key`` (one of :data:`OPTIONAL_NUMBERS`) or None where it has none; None
    if one is not a finite number, at least 0."""
    values = list(map(operator.methodcaller("get", key), data))
    present = [value for value in values if value is not None]
    if not present:
        return values
    if not all(isinstance(value, float | int) and not isinstance(value, bool) for value in present):
        return None
    if not (np.isfinite(present).all() and min(present) >= 0):
        return None
    return [None if value is None else float(value) for value in values]


def _columns(data: list) -> tuple[tuple, tuple, tuple] | None:
    """The records' paths, boxes and vectors, if every record is a dict with a non-empty string
    path, a box of four values and a vector of EMBEDDING_SIZE numbers; None otherwise. Checked
    a column at a time with C-level maps: a Python loop over a million records took 3 s."""
    if not data or {type(record) for record in data} != {dict}:
        return None if data else ((), (), ())
    try:
        paths, boxes, vectors = zip(
            *map(operator.itemgetter("imagePath", "loc", "encoding"), data), strict=True
        )
    except KeyError:
        return None
    if (
        set(map(type, paths)) != {str}
        or not all(paths)
        or not set(map(type, boxes)) <= {tuple, list}
        or set(map(len, boxes)) != {4}
        or set(map(type, vectors)) != {np.ndarray}
        or set(map(operator.attrgetter("shape"), vectors)) != {(EMBEDDING_SIZE,)}
        or any(dtype.kind not in "fiu" for dtype in set(map(operator.attrgetter("dtype"), vectors)))
    ):
        return None
    return paths, boxes, vectors


def _record_to_face(record: object) -> Face:
    if not isinstance(record, dict):
        raise TypeError(f"expected a dict, found {type(record).__name__}")
    image_path = record["imagePath"]
    if not isinstance(image_path, str) or not image_path:
        raise TypeError("imagePath must be a non-empty string")
    box = record["loc"]
    if not isinstance(box, (tuple, list)) or len(box) != 4:
        raise ValueError("loc must be four integers (top, right, bottom, left)")
    if not all(isinstance(value, Integral) and not isinstance(value, bool) for value in box):
        raise TypeError("loc must be four integers (top, right, bottom, left)")
    top, right, bottom, left = (int(value) for value in box)
    if not (0 <= top < bottom and 0 <= left < right):
        raise ValueError(f"loc {tuple(box)} is not a box with top < bottom and left < right")
    encoding = record["encoding"]
    if not isinstance(encoding, np.ndarray) or encoding.shape != (EMBEDDING_SIZE,):
        raise ValueError(f"encoding must be an array of {EMBEDDING_SIZE} numbers")
    if encoding.dtype.kind not in "fiu":
        raise TypeError(f"encoding has dtype {encoding.dtype}, expected floats")
    vector = encoding.astype(np.float64)
    if not np.isfinite(vector).all():
        raise ValueError("encoding holds NaN or infinite values")
    time = record.get("time")
    if time is not None and _optional_numbers([record], "time") is None:
        raise ValueError("time must be a number of seconds, at least 0")
    sharpness = record.get("sharpness")
    if sharpness is not None and _optional_numbers([record], "sharpness") is None:
        raise ValueError("sharpness must be a number, at least 0")
    return Face(
        image_path,
        (top, right, bottom, left),
        vector,
        None if time is None else float(time),
        None if sharpness is None else float(sharpness),
    )


def faces_to_records(faces: list[Face]) -> list[dict]:
    """The tutorial's list of dicts for ``faces``."""
    records = [
        {
            "imagePath": face.image_path,
            "loc": tuple(int(value) for value in face.box),
            "encoding": np.asarray(face.encoding, dtype=np.float64),
        }
        for face in faces
    ]
    for record, face in zip(records, faces, strict=True):
        if face.time is not None:
            record["time"] = face.time
        if face.sharpness is not None:
            record["sharpness"] = face.sharpness
    return records


def save_faces(path: str | os.PathLike[str], faces: list[Face]) -> None:
    """Write ``faces`` atomically: as the compact store if the name ends in ``.npz``, else as
    the tutorial's pickle."""
    if os.fspath(path).lower().endswith(NPZ_SUFFIX):
        atomic_write_bytes(path, _npz_bytes(faces))
        return
    data = pickle.dumps(faces_to_records(faces), protocol=PICKLE_PROTOCOL)
    atomic_write_bytes(path, data)


# The compact store: one .npz (a zip of .npy arrays, no pickle inside) with the embeddings as
# an (n, 128) float32 matrix, the boxes as (n, 4) int32, and the image paths as a table of
# unique paths (UTF-8, joined) with per-face indices into it; ``times`` (float64, NaN for a
# photo's face) only when some face was seen in a video, and ``sharpness`` (float64, NaN where not
# measured) when some face's was measured. Half the size of the pickle and
# read in one go; float32 keeps 7 significant digits, far finer than the distances used.
NPZ_SUFFIX = ".npz"
NPZ_FORMAT = 1


def _npz_bytes(faces: list[Face]) -> bytes:
    paths: dict[str, int] = {}
    path_index = np.array([paths.setdefault(face.image_path, len(paths)) for face in faces], dtype=np.int32)
    encoded = [path.encode("utf-8") for path in paths]
    offsets = np.cumsum([0] + [len(item) for item in encoded], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array([NPZ_FORMAT], dtype=np.int32),
        encodings=np.array([face.encoding for face in faces], dtype=np.float32).reshape(
            len(faces), EMBEDDING_SIZE
        ),
        boxes=np.array([face.box for face in faces], dtype=np.int32).reshape(len(faces), 4),
        path_index=path_index,
        path_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        path_offsets=offsets,
        **_optional_column("times", [face.time for face in faces]),
        **_optional_column("sharpness", [face.sharpness for face in faces]),
    )
    return buffer.getvalue()


def _optional_column(name: str, values: list[float | None]) -> dict[str, np.ndarray]:
    """``{name: values}`` as float64 with NaN for None, or nothing when every value is None."""
    if all(value is None for value in values):
        return {}
    return {name: np.array([np.nan if value is None else value for value in values], dtype=np.float64)}


def _read_npz(name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, each member read in one call.

    ``np.load`` reads a zip member 256 KB at a time through Python, 3 s for a million faces;
    one read of the member and a view of its bytes takes a tenth of that. Object arrays (the
    only kind that would need pickle) are refused.
    """
    arrays = {}
    with zipfile.ZipFile(name) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                raise ValueError(f"unexpected member {member}")
            data = archive.read(member)
            stream = io.BytesIO(data)
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version in ((2, 0), (3, 0)):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            if dtype.hasobject:
                raise ValueError(f"{member} holds Python objects")
            count = int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
            arrays[member[: -len(".npy")]] = array.reshape(shape, order="F" if fortran_order else "C")
    return arrays


def _load_npz(name: str) -> tuple[list[Face], np.ndarray]:
    try:
        arrays = _read_npz(name)
    except FileNotFoundError:
        raise EncodingsFileError(f"encodings file not found: {name}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise EncodingsFileError(f"{name} is not a compact encodings file ({error})") from None
    try:
        if arrays["format"].tolist() != [NPZ_FORMAT]:
            raise ValueError(f"unknown format {arrays['format'].tolist()}")
        encodings, boxes = arrays["encodings"], arrays["boxes"]
        path_index, offsets = arrays["path_index"], arrays["path_offsets"]
        blob = arrays["path_bytes"].tobytes()
        count = len(encodings)
        if (
            encodings.shape != (count, EMBEDDING_SIZE)
            or boxes.shape != (count, 4)
            or path_index.shape != (count,)
        ):
            raise ValueError("array shapes do not match")
        if encodings.dtype.kind != "f" or boxes.dtype.kind not in "iu" or path_index.dtype.kind not in "iu":
            raise ValueError("array types are wrong")
        if not np.isfinite(encodings).all():
            raise ValueError("encodings hold NaN or infinite values")
        top, right, bottom, left = (boxes[:, column] for column in range(4))
        if not ((top >= 0) & (top < bottom) & (left >= 0) & (left < right)).all():
            raise ValueError("a box is not top < bottom and left < right")
        if np.any(np.diff(offsets) < 0) or offsets[0] != 0 or offsets[-1] != len(blob):
            raise ValueError("the path table is damaged")
        bounds = offsets.tolist()
        paths = [blob[start:end].decode("utf-8") for start, end in pairwise(bounds)]
        if not all(paths):
            raise ValueError("an image path is empty")
        if count and (path_index.min() < 0 or path_index.max() >= len(paths)):
            raise ValueError("a path index is out of range")
        optional = {name: arrays.get(name) for name in ("times", "sharpness")}
        for name, values in optional.items():
            if values is None:
                continue
            if values.shape != (count,) or values.dtype.kind != "f" or (values[~np.isnan(values)] < 0).any():
                raise ValueError(f"the {name} are damaged")
            if np.isinf(values).any():
                raise ValueError(f"a value of {name} is infinite")
    except (KeyError, ValueError, IndexError, UnicodeDecodeError) as error:
        raise EncodingsFileError(f"{name} is not a valid compact encodings file ({error})") from None
    # Each face's encoding is a read-only row of the stored matrix, in its own precision
    # (float32 as written here): converting a million rows to float64 doubled the load time.
    vectors = encodings
    box_rows = map(tuple, boxes.tolist())
    with cycle_collector_paused():
        faces = list(map(Face, map(paths.__getitem__, path_index.tolist()), box_rows, vectors))
    for name, field_name in (("times", "time"), ("sharpness", "sharpness")):
        if optional[name] is not None:
            faces = [
                face if value != value else dataclasses.replace(face, **{field_name: value})  # NaN: none
                for face, value in zip(faces, optional[name].tolist(), strict=True)
            ]
    return faces, vectors
