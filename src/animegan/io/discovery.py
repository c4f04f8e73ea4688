"""Finding the images a batch run works on, and naming their outputs.

Inputs are files, folders (walked recursively), glob patterns (expanded here too, because Windows
shells and quoted patterns leave them to the program) or ``-`` for stdin. Every image keeps its
path relative to the folder or pattern root it came from, so subfolders are mirrored in the output
folder and two ``photo.jpg`` in different subfolders never collide.

An input or the output folder may also be an object-store URI (``s3://``, ``file://``...): this
module names and compares them as strings (:func:`is_uri`, :func:`join_location`, :func:`location_key`);
listing them is the caller's (``discover_inputs(..., expand_uri=)``), so one planner serves both.

Nothing here opens an image or prints: problems come back as :class:`~animegan.errors.InputError`
values, one per bad input, so the caller can report each and carry on with the rest.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import quote, unquote, urlsplit

from ..errors import InputError

#: what a folder walk or a glob picks up (a file named explicitly is tried whatever its extension)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

#: output formats ``--ext`` accepts, and the file extension each writes
OUTPUT_EXTENSIONS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}

#: under ``--ext auto`` these keep their extension; anything else (bmp, tiff) becomes PNG
_KEPT_UNDER_AUTO = (".png", ".jpg", ".jpeg", ".webp")

STDIN = "-"
_GLOB_CHARS = set("*?[")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: a location: a local path, or an object-store URI kept as the string the user wrote
Location = Path | str


@dataclass(frozen=True)
class InputItem:
    """One image to process.

    ``path`` is ``None`` for stdin, a URI string for an object-store input. ``relative`` is where the
    output goes below the output folder (the file's name for a file given directly, its path below
    the root for a folder, a glob or a URI prefix; a ``PurePosixPath`` for a URI).
    """

    path: Path | str | None
    relative: PurePath

    @property
    def is_stdin(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        return "<stdin>" if self.path is None else str(self.path)


@dataclass
class Discovery:
    """What :func:`discover_inputs` found: the images, and one error per input that gave none."""

    items: list[InputItem] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the name has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, *, recursive: bool = True, limit: int | None = None) -> list[Path]:
    """The image files (:data:`IMAGE_EXTENSIONS`) in ``folder``, sorted by path; the first ``limit``.

    ``recursive`` walks subfolders. Hidden files and folders (names starting with ``.``) are
    skipped, as in :func:`discover_inputs`. ``limit`` None or 0: all of them. Raises
    :class:`InputError` naming the folder when it is not a folder or holds no image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    if recursive:
        files = sorted(_walk_images(root, []))
    else:
        files = sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_image_name(p) and p.is_file())
    if not files:
        raise InputError(f"{root}: no images found ({', '.join(IMAGE_EXTENSIONS)})")
    return files[:limit] if limit else files


def has_glob_magic(spec: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in spec)


def is_uri(value: object) -> bool:
    """Whether ``value`` is a URI with a scheme (``s3://...``, ``file:///...``), not a plain path."""
    return isinstance(value, str) and _SCHEME.match(value) is not None


def join_location(base: str, relative: str) -> str:
    """``base`` (a URI or a path) and a ``/``-separated relative path (percent-encoded after a URI)."""
    relative = relative.lstrip("/")
    return base.rstrip("/") + "/" + (quote(relative, safe="/") if is_uri(base) else relative)


def location_key(location: str | os.PathLike) -> Path | str:
    """What two names of one file or object compare equal by: a resolved path for paths and
    ``file://`` URIs, ``scheme://netloc/path`` (decoded, no query, no trailing ``/``) for other URIs."""
    if not is_uri(location):
        return Path(location).resolve()
    parts = urlsplit(str(location))
    path = unquote(parts.path)
    if parts.scheme.lower() == "file":
        return Path(path).resolve()
    return f"{parts.scheme.lower()}://{parts.netloc}{path.rstrip('/')}"


def _is_within_key(key: Path | str, folder: Path | str) -> bool:
    if isinstance(key, Path) and isinstance(folder, Path):
        return _is_within(key, folder)
    if isinstance(key, str) and isinstance(folder, str):
        return key == folder or key.startswith(folder + "/")
    return False


def discover_inputs(specs: Sequence[str], exclude: Iterable[str | os.PathLike] = (), *,
                    expand_uri: Callable[[str], Sequence[tuple[str, str]]] | None = None) -> Discovery:
    """Expand files, folders, globs and ``-`` into a list of images, in a stable sorted order.

    ``exclude`` lists folders (paths or URIs) never walked into (the output folder, so that
    ``-o photos/anime`` inside ``photos`` never picks up its own results on a re-run). Hidden files
    and folders (names starting with ``.``, which includes our temporary ``.name.part.ext`` files)
    are skipped in walks. A path named twice is processed once. ``-`` must be the only input.

    A URI input is given to ``expand_uri``, which returns its images as ``(uri, relative name)``
    (``/``-separated) or raises :class:`InputError`; without it a URI is an error. Glob patterns
    are not expanded in URIs.
    """
    found = Discovery()
    if STDIN in specs:
        if len(specs) != 1:
            found.errors.append(InputError("'-' (stdin) must be the only input"))
            return found
        found.items.append(InputItem(None, Path("stdin")))
        return found
    excluded_keys = [location_key(p) for p in exclude]
    excluded = [key for key in excluded_keys if isinstance(key, Path)]
    seen: set[Path | str] = set()

    def add(path: Path | str, relative: PurePath) -> None:
        key = location_key(path)
        if key not in seen:
            seen.add(key)
            found.items.append(InputItem(path, relative))

    for spec in specs:
        if is_uri(spec):
            if expand_uri is None:
                found.errors.append(InputError(f"{spec}: object-store URIs are not supported here"))
                continue
            try:
                listed = expand_uri(spec)
            except InputError as exc:
                found.errors.append(exc)
                continue
            root = location_key(spec)  # as in a walk: only folders below the root are left out
            below = [ex for ex in excluded_keys if ex != root and _is_within_key(ex, root)]
            for uri, relative in listed:
                if not any(_is_within_key(location_key(uri), ex) for ex in below):
                    add(uri, PurePosixPath(relative))
            continue
        path = Path(spec)
        if path.is_file():
            add(path, Path(path.name))
        elif path.is_dir():
            images = list(_walk_images(path, excluded))
            if not images:
                found.errors.append(InputError(f"{spec}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})"))
            for image in images:
                add(image, image.relative_to(path))
        elif has_glob_magic(spec):
            matched = _expand_glob(spec, excluded)
            if not matched:
                found.errors.append(InputError(f"{spec}: no image matches this pattern"))
            for image, relative in matched:
                add(image, relative)
        elif path.exists():
            found.errors.append(InputError(f"{spec}: not a regular file or folder"))
        else:
            found.errors.append(InputError(f"{spec}: no such file or folder"))
    return found


def output_extension(item: InputItem, ext: str = "auto") -> str:
    """The extension (with its dot) an output gets: ``--ext``, or under ``auto`` the input's own.

    ``auto`` keeps PNG, JPEG and WebP; other inputs (BMP, TIFF, stdin) become PNG. The kept formats
    can all hold what the image holds (JPEG inputs have no alpha), so the name is known before the
    image is opened and ``--skip-existing`` can decide without decoding anything.
    """
    ext = ext.lower().lstrip(".")
    if ext != "auto":
        if ext not in OUTPUT_EXTENSIONS:
            raise InputError(f"ext {ext}: unknown format (choose auto, {', '.join(OUTPUT_EXTENSIONS)})", params=("ext",))
        return OUTPUT_EXTENSIONS[ext]
    if item.path is None:
        return ".png"
    # the input's own spelling (IMG.JPG -> IMG_anime.JPG): on case-insensitive file systems a
    # respelled extension could otherwise name the input itself without matching it here
    own = item.relative.suffix  # the input's own name's (``relative`` ends with it, URIs too)
    return own if own.lower() in _KEPT_UNDER_AUTO else ".png"


def output_path(item: InputItem, out_dir: str | os.PathLike, suffix: str = "", ext: str = "auto") -> Location:
    """``OUT/<subfolders>/<stem><suffix><ext>`` for one input: a path, or a URI when ``out_dir`` is one."""
    rel = item.relative
    name = f"{rel.stem}{suffix}{output_extension(item, ext)}"
    if is_uri(out_dir):
        return join_location(str(out_dir), (PurePosixPath(rel.parent.as_posix()) / name).as_posix())
    return Path(out_dir) / rel.parent / name


def plan_outputs(items: Sequence[InputItem], out_dir: str | os.PathLike, suffix: str = "",
                 ext: str = "auto") -> tuple[list[tuple[InputItem, Location]], list[InputError]]:
    """Pair each input with its output path; refuse names that would overwrite an input or collide.

    An input whose output is the input itself is refused for the whole run (an
    :class:`InputError` raised, naming ``--suffix``): the output folder is the input folder and no
    suffix was given. An input that is the output of another input (``a_anime.jpg`` beside
    ``a.jpg`` when re-running with ``--suffix _anime`` into the input folder) is a result of an
    earlier run, not a photo: it is left out. Two inputs that map onto one output name (``a.jpg``
    and ``a.png`` under ``--ext png``, or two ``x.jpg`` given from different folders) are never
    silently overwritten: the later one comes back as an error and is not planned.
    Inputs and ``out_dir`` may be URIs (outputs are then URIs below it), compared by :func:`location_key`.
    """
    targets = [output_path(item, out_dir, suffix, ext) for item in items]
    keys = [location_key(t) for t in targets]
    for item, target, key in zip(items, targets, keys):
        if item.path is not None and (key == location_key(item.path) or _same_file(target, item.path)):
            raise InputError(f"{item}: the output {target} would overwrite this input; pass --suffix "
                             "(for example --suffix _anime) or choose another output folder with -o")
    outputs = set(keys)
    planned: list[tuple[InputItem, Location]] = []
    errors: list[InputError] = []
    taken: dict[Path | str, InputItem] = {}
    for item, target, key in zip(items, targets, keys):
        if item.path is not None and location_key(item.path) in outputs:
            continue  # an earlier run's output sitting among the inputs
        if key in taken:
            errors.append(InputError(f"{item}: its output {target} is also the output of {taken[key]}; "
                                     "rename one of them or run them separately"))
            continue
        taken[key] = item
        planned.append((item, target))
    return planned, errors


def _walk_images(root: Path, excluded: list[Path]) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (excluded and _resolved(here / d) in excluded))
        for name in sorted(filenames):
            if not name.startswith(".") and is_image_name(name) and (here / name).is_file():
                yield here / name


def _glob_root(pattern: str) -> Path:
    """The leading part of a pattern without wildcards: outputs mirror the folders below it."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if has_glob_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _expand_glob(pattern: str, excluded: list[Path]) -> list[tuple[Path, Path]]:
    root = _glob_root(pattern)
    out: list[tuple[Path, Path]] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        path = Path(match)
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if any(_is_within(_resolved(path), ex) for ex in excluded):
            continue
        if path.is_dir():
            out.extend((image, image.relative_to(root)) for image in _walk_images(path, excluded))
        elif path.is_file() and is_image_name(path):
            out.append((path, path.relative_to(root)))
    return out


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _same_file(a: Location, b: Location) -> bool:
    """True when both names reach one file (case-insensitive file systems, hard links); local paths only."""
    if is_uri(a) or is_uri(b):
        return False
    try:
        return Path(a).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).resolve()
