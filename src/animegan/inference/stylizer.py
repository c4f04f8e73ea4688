"""The one inference entry point: :class:`Stylizer` (create once, reuse in loops) and helpers.

A Stylizer owns preprocess → forward → postprocess: mode and alpha handling, ``max_side``
downscale, face crop, padding to the network's size multiple, tiling with whole-image
normalisation statistics above the pixel budget, the colour-and-tone stage (``palette``,
:mod:`.color`), brightness match, strength and side-by-side.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..device import ExecutionPolicy, resolve_policy
from ..errors import InputError
from ..hub import zoo
from ..hub.download import sha256_file
from ..hub.loading import load_generator_file
from ..hub.weights import ModelInfo
from ..io.images import ImageSource, open_image, save_image
from ..nn import generator_config
from . import processing as proc
from .backends import Backend, create_backend
from .color import apply_palette, apply_palette_with_stats, rgb_to_yuv
from .onnx_graph import is_onnx_file
from .options import StylizeOptions
from .tiling import auto_tile_side, run_tiled, stats_input, stats_input_banded, tiled_rows

log = logging.getLogger("animegan")

ModelSource = str | os.PathLike | nn.Module | None
#: what :class:`Stylizer` accepts: a model source, or a generator already loaded with its info
LoadedModel = tuple[nn.Module, ModelInfo]


def load_model(name_or_path: ModelSource = None) -> tuple[nn.Module, ModelInfo]:
    """A generator in eval mode and its :class:`ModelInfo`.

    ``name_or_path``: None (the default zoo model), a zoo name, a weights file, or an
    ``nn.Module`` (returned as is, with info built from its ``arch`` and ``config``).
    """
    if isinstance(name_or_path, nn.Module):
        arch = str(getattr(name_or_path, "arch", type(name_or_path).__name__))
        return name_or_path.eval(), ModelInfo(arch=arch, config=generator_config(name_or_path),
                                              provenance="in-memory module")

    model, info = load_generator_file(weights_path(name_or_path))
    return model.eval(), info


def weights_path(name_or_path: str | os.PathLike | None = None) -> Path:
    """The weights file a model name (zoo name or alias, None for the default) or path stands for."""
    if name_or_path is not None and Path(name_or_path).exists():
        return Path(name_or_path)

    return zoo.resolve_model(name_or_path if name_or_path is not None else zoo.default_model_name())


def module_digest(module: nn.Module) -> str:
    """sha256 of a module's state dict, floats hashed as fp32 (the same for bf16/fp16 copies of fp32 weights)."""
    import hashlib

    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.float()
        digest.update(key.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


class _PaddedReader:
    """Windows of an 8-bit image as if padded by :func:`~.processing.pad_to_multiple` (``rows_at`` and
    ``cols_at`` map each padded row and column to the source one it copies), converted one at a time:
    the large-image path never holds the whole image in float."""

    def __init__(self, img: Image.Image, rows_at: np.ndarray, cols_at: np.ndarray):
        self.img, self.rows_at, self.cols_at = img, rows_at, cols_at
        self.width, self.height = img.size
        self.mode = proc.split_image(img.crop((0, 0, 1, 1))).mode

    def planes(self, top: int, bottom: int) -> proc.Planes:
        """Rows [top, bottom) of the photo."""
        return proc.split_image(self.img.crop((0, top, self.width, bottom)))

    def __call__(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        """A window of the padded photo, as the network's input tensor."""
        ri, ci = self.rows_at[r0:r1], self.cols_at[c0:c1]
        top, left = int(ri.min()), int(ci.min())
        rgb = proc.split_image(self.img.crop((left, top, int(ci.max()) + 1, int(ri.max()) + 1))).rgb
        if r1 > self.height or c1 > self.width:
            rgb = rgb[ri - top][:, ci - left]
        return proc.to_tensor(rgb)


class Stylizer:
    """Stylizes images, batches and video frames with one model on one device.

    ``model``: as for :func:`load_model`, or an already loaded ``(module, ModelInfo)`` pair (what
    :func:`load_model` returns: the Stylizer then uses that info as is and loads nothing).
    ``device``: auto, cpu or cuda; ``precision``: auto, fp32, bf16 or fp16 (see
    :mod:`animegan.device`; ``fp32`` on CPU is exactly a bare forward). ``backend``: "torch",
    "onnx", or a ready :class:`~.backends.Backend`. ``options``: the defaults for every call (each
    call may pass its own; a :class:`StylizeOptions` is valid by construction, so none is checked
    again here). Calls from several threads at once are safe with the torch backend (tiled runs
    work on a private copy of the model).
    """

    def __init__(self, model: ModelSource | LoadedModel = None, *, device: str = "auto",
                 precision: str = "auto", backend: str | Backend = "torch", options: StylizeOptions | None = None):
        self.options = options if options is not None else StylizeOptions()
        #: the weights file (or ONNX graph) the model came from; None for a module or a ready backend
        self.weights_path: Path | None = None
        loaded: LoadedModel | None = None
        if isinstance(model, tuple):
            if len(model) != 2 or not isinstance(model[0], nn.Module) or not isinstance(model[1], ModelInfo):
                raise InputError("model: a tuple must be (module, ModelInfo), as load_model returns")
            loaded = (model[0].eval(), model[1])
            model = model[0]
        self._module: nn.Module | None = model if isinstance(model, nn.Module) else None
        self._model_id: str | None = None
        if isinstance(backend, str):
            if is_onnx_file(model):
                if backend != "onnx":
                    log.info("%s is an ONNX graph: running it with the onnx backend", model)
                    backend = "onnx"
                # an exported (or INT8) graph file: no PyTorch generator to load
                self.policy: ExecutionPolicy = resolve_policy(device, precision)
                self.weights_path = Path(model)
                self.backend: Backend = create_backend(backend, Path(model), self.policy)
                self.info = getattr(self.backend, "info", None) or ModelInfo(arch="onnx")
            else:
                if loaded is not None:
                    module, self.info = loaded
                else:
                    if self._module is None:  # load first: a bad model name is the only thing reported
                        self.weights_path = weights_path(model)
                    module, self.info = load_model(self._module if self._module is not None else self.weights_path)
                self.policy = resolve_policy(device, precision)
                self.backend = create_backend(backend, module, self.policy)
        else:
            self.backend = backend
            self.policy = getattr(backend, "policy", None) or resolve_policy(device, precision)
            self.info = getattr(backend, "info", None) or ModelInfo(arch=getattr(backend, "name", "custom"))
        self._warned_untied = False
        describe = getattr(self.backend, "describe", None)
        log.info("stylizer: %s (%s) via %s on %s", self.info.style or "model", self.info.arch,
                 self.backend.name, describe() if callable(describe) else self.policy.describe())

    def model_id(self) -> str:
        """A stable identity of the model: what a resumable video run or a cache keys on.

        A weights file (or ONNX graph): its sha256, with the architecture and config it declares.
        An in-memory module: the sha256 of its weights hashed as fp32, so the id does not depend
        on the precision the Stylizer runs at (a bf16 copy of the same weights has the same id).
        A ready backend: its name and whatever ModelInfo it carries.
        """
        if self._model_id is None:
            import json


            if self.weights_path is not None:
                digest = "sha256:" + sha256_file(self.weights_path)
            elif self._module is not None:
                digest = "weights-sha256:" + module_digest(self._module)
            elif isinstance(getattr(self.backend, "model", None), nn.Module):
                digest = "weights-sha256:" + module_digest(self.backend.model)  # type: ignore[attr-defined]
            else:
                digest = "backend:" + str(getattr(self.backend, "name", type(self.backend).__name__))
            config = json.dumps(self.info.config, sort_keys=True, default=str)
            self._model_id = f"{digest} {self.info.arch} {config}"
        return self._model_id

    # ---- public API -------------------------------------------------------------------------

    def stylize(self, img: Image.Image, options: StylizeOptions | None = None) -> Image.Image:
        """One PIL image in, the stylized PIL image out (same size and mode unless options change it)."""
        opts = self._opts(options)
        tile = self._large_tile(img, opts)
        if tile is not None:
            return self._stylize_large(img, opts, tile)
        planes = self._prepare(img, opts)
        out = self.forward_rgb(planes.rgb[None], opts)[0]
        return self._finish(planes, out, opts)

    def stylize_batch(self, images: Sequence[Image.Image], options: StylizeOptions | None = None
                      ) -> list[Image.Image]:
        """Like :meth:`stylize` for many images: same-size images share forward passes, up to
        ``options.batch_size`` images and ``options.pixel_budget`` pixels per pass."""
        opts = self._opts(options)
        results: list[Image.Image | None] = [None] * len(images)
        prepared: dict[int, proc.Planes] = {}
        for i, img in enumerate(images):
            tile = self._large_tile(img, opts) if isinstance(img, Image.Image) else None
            if tile is not None:  # tiled anyway: one at a time, in bands (bounded memory)
                results[i] = self._stylize_large(img, opts, tile)
            else:
                prepared[i] = self._prepare(img, opts)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, planes in prepared.items():
            groups.setdefault(planes.size, []).append(i)
        for (width, height), indices in groups.items():
            per_chunk = max(1, min(opts.batch_size, opts.pixel_budget // (width * height)))
            for k in range(0, len(indices), per_chunk):
                chunk = indices[k:k + per_chunk]
                outs = self.forward_rgb(np.stack([prepared[i].rgb for i in chunk]), opts)
                for i, out in zip(chunk, outs, strict=True):
                    results[i] = self._finish(prepared[i], out, opts)
        return [r for r in results if r is not None]

    def stylize_frames(self, frames: np.ndarray, options: StylizeOptions | None = None) -> np.ndarray:
        """Video frames N×H×W×3 uint8 RGB in, the same shape out (no PIL; geometry options ignored)."""
        opts = self._opts(options)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputError(f"frames: expected N×H×W×3 uint8, got shape {frames.shape} {frames.dtype}")
        height, width = frames.shape[1:3]
        per_chunk = max(1, opts.pixel_budget // (width * height))
        out = np.empty_like(frames)
        for k in range(0, len(frames), per_chunk):
            rgb = frames[k:k + per_chunk].astype(np.float32) / 255.0
            styled = self.forward_rgb(rgb, opts)
            for j in range(len(rgb)):
                out[k + j] = proc.to_uint8(self._adjust(styled[j], rgb[j], opts))
        return out

    def stylize_file(self, src: ImageSource, dst: str | os.PathLike, options: StylizeOptions | None = None
                     ) -> Path:
        """Open ``src``, stylize it, save to ``dst`` atomically; returns the path written.

        ``max_side`` is applied once: :func:`~animegan.io.images.open_image` only pre-reduces a large
        image for memory (JPEG DCT scaling, whole-factor shrinking; never below ``max_side``), and
        :meth:`stylize` does the exact downscale (a no-op when the image is already within it).
        """
        opts = self._opts(options)
        img = open_image(src, max_pixels=opts.max_pixels, max_side=opts.max_side)
        return save_image(self.stylize(img, opts), dst, ext=opts.ext, quality=opts.quality)

    def forward_rgb(self, rgb: np.ndarray, options: StylizeOptions | None = None) -> np.ndarray:
        """The network on N×H×W×3 floats in [0, 1] → same shape: padding, tiling, cropping included."""
        opts = self._opts(options)
        return proc.from_tensor(self.forward_tensor(proc.to_tensor(rgb), opts))

    def forward_tensor(self, x: torch.Tensor, options: StylizeOptions | None = None) -> torch.Tensor:
        """The network on N×3×H×W in [-1, 1] → same shape, tiled when over the budget."""
        opts = self._opts(options)
        height, width = x.shape[-2:]
        multiple = max(1, int(self.backend.size_multiple))
        # tiny images (a side of a few pixels) are padded up to what the network's reflection pads need
        least = int(getattr(self.backend, "min_side", 0) or proc.network_min_side(multiple))
        xp = proc.pad_to_multiple(x, multiple, least)
        tile = self._tile_side(xp.shape[-2], xp.shape[-1], opts, multiple)
        if tile is None:
            y = self.backend(xp)
        else:
            y = torch.cat([self._tiled(xp[i:i + 1], tile, opts, multiple) for i in range(xp.shape[0])])
        return y[:, :, :height, :width]

    # ---- internals --------------------------------------------------------------------------

    def _opts(self, options: StylizeOptions | None) -> StylizeOptions:
        return self.options if options is None else options

    def _tile_side(self, height: int, width: int, opts: StylizeOptions, multiple: int) -> int | None:
        """Tile side to use, or None to run the image whole."""
        if opts.tile == -1:
            return None
        if opts.tile > 0:
            return opts.tile if max(height, width) > opts.tile else None
        if height * width <= opts.pixel_budget:
            return None
        pad = max(opts.tile_pad, int(getattr(self.backend, "min_tile_pad", 0)))
        return auto_tile_side(opts.pixel_budget, pad, multiple)

    def _tiled(self, x: torch.Tensor, tile: int, opts: StylizeOptions, multiple: int) -> torch.Tensor:
        backend, pad, freeze = self._tiling_backend(opts, lambda: stats_input(x, opts.pixel_budget, multiple))
        log.debug("tiling %s×%s in tiles of %s (pad %s)", x.shape[-1], x.shape[-2], tile, pad)
        with freeze:
            return run_tiled(backend, x, tile, pad, multiple)

    def _tiling_backend(self, opts: StylizeOptions, stats_input_of: Callable[[], torch.Tensor]
                        ) -> tuple[Backend, int, contextlib.AbstractContextManager]:
        """The backend tiles run on (a private copy), the tile pad, and the context that freezes the
        whole image's normalisation statistics (recorded from ``stats_input_of()``)."""
        isolated = getattr(self.backend, "isolated", None)
        backend = isolated() if isolated is not None else self.backend
        pad = max(opts.tile_pad, int(getattr(backend, "min_tile_pad", 0)))
        record = getattr(backend, "record_norm_stats", None)
        freeze = getattr(backend, "frozen_norm_stats", None)
        if record is None or freeze is None:
            if not self._warned_untied:
                log.warning("backend %s cannot share normalisation statistics between tiles; "
                            "tiles may differ in tone", backend.name)
                self._warned_untied = True
            return backend, pad, contextlib.nullcontext()
        return backend, pad, freeze(record(stats_input_of()))

    # ---- the large-image path: the image stays 8-bit, float only per tile and per band of rows ----

    def _large_tile(self, img: Image.Image, opts: StylizeOptions) -> int | None:
        """The tile side when ``img`` is stylized in bands (it would be tiled, and nothing needs the
        whole image in float: no downscale, no face crop, no chroma smoothing), else None."""
        if not isinstance(img, Image.Image) or opts.face:
            return None
        width, height = img.size
        if opts.max_side is not None and max(width, height) > opts.max_side:
            return None
        if round(opts.chroma_smoothing * min(width, height)) >= 1:  # the guided filter spans the image
            return None
        multiple, least = self._size_rule()
        pad_h, pad_w, _ = proc.pad_amounts(height, width, multiple, least)
        return self._tile_side(height + pad_h, width + pad_w, opts, multiple)

    def _size_rule(self) -> tuple[int, int]:
        multiple = max(1, int(self.backend.size_multiple))
        return multiple, int(getattr(self.backend, "min_side", 0) or proc.network_min_side(multiple))

    def _stylize_large(self, img: Image.Image, opts: StylizeOptions, tile: int) -> Image.Image:
        """:meth:`stylize` for an image that is tiled, in bounded memory: the same pixels.

        The photo stays the decoded 8-bit image; each tile is read, converted and padded on its own,
        the blended output comes out in bands of finished rows (:func:`~.tiling.tiled_rows`) and is
        kept as 16-bit fixed point (1/65535, far below the 1/255 of the output) while the colour
        stage's whole-image statistics are summed; then the colour stage, brightness match and
        strength run band by band and each band is pasted into the 8-bit result. Peak memory: the
        input, that 16-bit copy and the output, plus what one tile's forward pass needs.
        """
        width, height = img.size
        multiple, least = self._size_rule()
        pad_h, pad_w, pad_mode = proc.pad_amounts(height, width, multiple, least)
        read = _PaddedReader(img, proc.padded_index(height, pad_h, pad_mode), proc.padded_index(width, pad_w, pad_mode))
        hp, wp = height + pad_h, width + pad_w
        band_pixels = min(1 << 20, tile * tile)  # float work per band: about one tile's worth
        backend, pad, freeze = self._tiling_backend(
            opts, lambda: stats_input_banded(read, hp, wp, opts.pixel_budget, multiple, band_pixels))
        result = Image.new(read.mode, (2 * width if opts.side_by_side else width, height))
        # the colour stage and the brightness match need whole-image figures of the output first
        direct = opts.palette >= 1.0 and not opts.match_brightness
        raw = None if direct else np.empty((height, width, 3), np.uint16)
        out_yuv, photo_yuv = proc.ChannelStats(), proc.ChannelStats()
        log.debug("tiling %s×%s in tiles of %s (pad %s), in bands", width, height, tile, pad)
        rows = max(1, band_pixels // width)
        with freeze:
            for first, band in tiled_rows(backend, read, hp, wp, tile, pad, multiple):
                # a finished band is a tile row high and the image wide: work on it in smaller bands
                for top in range(first, min(height, first + band.shape[2]), rows):
                    bottom = min(height, first + band.shape[2], top + rows)
                    out = proc.from_tensor(band[:, :, top - first:bottom - first, :width])[0]
                    if raw is None:
                        self._paste_band(result, top, read.planes(top, bottom), out, opts, None)
                        continue
                    out_yuv.add(rgb_to_yuv(out))
                    photo_yuv.add(rgb_to_yuv(read.planes(top, bottom).rgb))
                    raw[top:bottom] = np.round(out * 65535.0)
                del band
        if raw is not None:
            self._tone_bands(result, raw, read, opts, out_yuv, photo_yuv, rows)
        return result

    def _tone_bands(self, result: Image.Image, raw: np.ndarray, read: _PaddedReader, opts: StylizeOptions,
                    out_yuv: proc.ChannelStats, photo_yuv: proc.ChannelStats, rows: int) -> None:
        """The second pass of :meth:`_stylize_large`: the colour stage with the whole image's statistics,
        the brightness match with its whole-image ratio, strength; band by band into ``result``."""
        height = raw.shape[0]
        out_figures, photo_figures = out_yuv.figures(), photo_yuv.figures()

        def toned(top: int, bottom: int) -> tuple[proc.Planes, np.ndarray]:
            photo = read.planes(top, bottom)
            return photo, apply_palette_with_stats(raw[top:bottom].astype(np.float32) / 65535.0, photo.rgb,
                                                   opts.palette, out_figures, photo_figures)

        bands = [(top, min(height, top + rows)) for top in range(0, height, rows)]
        brightness = None
        # the colour stage runs twice per band with the brightness match: keeping its result for the
        # paste pass would hold the whole image in float, which this path exists to avoid
        if opts.match_brightness:  # the mean luma of the colour stage's result, then the ratio
            luma = proc.ChannelStats()
            for top, bottom in bands:
                luma.add((toned(top, bottom)[1] @ proc.LUMA)[..., None])
            out_luma, ref_luma = float(luma.mean[0]), float(photo_yuv.mean[0])
            brightness = None if out_luma <= 1e-6 else ref_luma / out_luma
        for top, bottom in bands:
            photo, band = toned(top, bottom)
            self._paste_band(result, top, photo, band, opts, brightness)

    @staticmethod
    def _paste_band(result: Image.Image, top: int, photo: proc.Planes, toned: np.ndarray,
                    opts: StylizeOptions, brightness: float | None) -> None:
        """Brightness, strength, side by side and the output mode for one band, pasted at row ``top``."""
        if brightness is not None:  # processing.match_brightness with the whole image's ratio
            toned = np.clip(toned * brightness, 0.0, 1.0).astype(np.float32)
        band = proc.Planes(proc.blend_strength(toned, photo.rgb, opts.strength), photo.alpha, photo.mode)
        if opts.side_by_side:
            band = proc.side_by_side(photo, band)
        result.paste(proc.merge_image(band), (0, top))

    @staticmethod
    def _prepare(img: Image.Image, opts: StylizeOptions) -> proc.Planes:
        """The image as float planes, downscaled to ``max_side`` (the one place the exact downscale
        happens; only when the image is larger) and face-cropped."""
        if not isinstance(img, Image.Image):
            raise InputError(f"expected a PIL image, got {type(img).__name__} (use stylize_file for paths)")
        planes = proc.limit_side(proc.split_image(img), opts.max_side)
        if opts.face:
            planes = proc.face_crop(planes, opts.face_size, detect=opts.face_detect)
        return planes

    @staticmethod
    def _adjust(out: np.ndarray, ref: np.ndarray, opts: StylizeOptions) -> np.ndarray:
        # the colour-and-tone stage first (docs/colour.md): every entry point passes through here
        out = apply_palette(out, ref, opts.palette, opts.chroma_smoothing)
        if opts.match_brightness:
            out = proc.match_brightness(out, ref)
        return proc.blend_strength(out, ref, opts.strength)

    def _finish(self, planes: proc.Planes, out: np.ndarray, opts: StylizeOptions) -> Image.Image:
        result = proc.Planes(self._adjust(out, planes.rgb, opts), planes.alpha, planes.mode)
        if opts.side_by_side:
            result = proc.side_by_side(planes, result)
        return proc.merge_image(result)


_LAST: tuple[Any, Stylizer] | None = None


def stylize_image(image_or_path: Image.Image | ImageSource, model: ModelSource = None, *,
                  device: str = "auto", precision: str = "auto", **options: Any) -> Image.Image:
    """Stylize one image (a PIL image, path, bytes or file object) and return a PIL image.

    ``options`` are :class:`StylizeOptions` fields. The last Stylizer built for a model name is
    kept for the next call; for loops, create a :class:`Stylizer` yourself.
    """
    global _LAST
    try:
        opts = StylizeOptions(**options)
    except TypeError as exc:
        raise InputError(f"stylize_image: {exc}") from None
    key = None if isinstance(model, nn.Module) else (str(model), device, precision)
    if key is not None and _LAST is not None and _LAST[0] == key:
        stylizer = _LAST[1]
    else:
        stylizer = Stylizer(model, device=device, precision=precision)
        _LAST = (key, stylizer) if key is not None else None
    if not isinstance(image_or_path, Image.Image):
        image_or_path = open_image(image_or_path, max_pixels=opts.max_pixels, max_side=opts.max_side)
    return stylizer.stylize(image_or_path, opts)
