"""VGG19 feature extractor for perceptual losses, with torchvision's parameter names.

The layer list is written here (no torchvision): ``features.N`` indices match torchvision's
``vgg19`` so its ``vgg19-dcbb9e9d.pth`` loads strictly. The caffe ``vgg19.npy`` of the AnimeGANv2 TF
release is converted once to a safetensors file with the same names (:func:`convert_caffe_npy`).
Converted caffe weights take **RGB** (conv1_1's input channels are flipped from caffe's BGR during
conversion), so every VGG here takes RGB and differs only in normalisation:

- ``imagenet`` (torchvision weights): ``((x+1)/2 − mean) / std`` with the ImageNet RGB mean/std;
- ``caffe`` (caffe weights): ``(x+1)·127.5 − (123.68, 116.779, 103.939)`` (RGB order of the caffe mean).

No VGG weights ship with the project or reach our build machines. Offline alternatives are
explicit choices of :func:`build_perceptual`: ``random`` (a seeded random-weight VGG19) and
``teacher-encoder`` (a frozen CartoonGAN teacher's encoder); ``docs/vgg-alternatives.md`` compares them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError, WeightsMismatchError

log = logging.getLogger("animegan.vgg")

TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)

# VGG19 ("E"): channels per conv in each of the 5 blocks
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))


def _layer_names() -> list[str]:
    names = []
    for b, convs in enumerate(_BLOCKS, start=1):
        for i in range(1, len(convs) + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


#: layer name ("conv4_4", "relu4_1", "pool3", ...) -> index in ``features``
LAYERS: dict[str, int] = {name: i for i, name in enumerate(_layer_names())}


def layer_index(layer: str) -> int:
    """Index in ``features`` of a layer name; raises ConfigError for unknown names."""
    if layer not in LAYERS:
        raise ConfigError(f"unknown VGG19 layer {layer!r} (e.g. conv4_4, relu4_1, relu5_1; "
                          f"known: conv/relu{{1..5}}_{{1..4}}, pool1..pool5)")
    return LAYERS[layer]


def _make_layers(upto: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for convs in _BLOCKS:
        for out_ch in convs:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[: upto + 1])


class VGG19Features(nn.Module):
    """VGG19 ``features`` truncated after ``layer``; RGB in [-1, 1] → that layer's activations.

    ``normalization`` is ``imagenet`` or ``caffe`` (see the module docstring). Parameters are named
    ``features.N.weight`` / ``features.N.bias`` exactly as in torchvision.
    """

    def __init__(self, layer: str = "conv4_4", normalization: str = "imagenet"):
        super().__init__()
        if normalization not in ("imagenet", "caffe"):
            raise ConfigError(f"VGG normalization must be 'imagenet' or 'caffe', got {normalization!r}")
        self.layer, self.normalization = layer, normalization
        self.features = _make_layers(layer_index(layer))
        if normalization == "imagenet":
            mean, scale = torch.tensor(IMAGENET_MEAN), 0.5 / torch.tensor(IMAGENET_STD)
            mean = mean * 2 - 1  # ((x+1)/2 − m)/s  ==  (x − (2m−1)) · 0.5/s
        else:
            mean, scale = torch.tensor(CAFFE_MEAN_RGB) / 127.5 - 1, torch.full((3,), 127.5)
        self.register_buffer("shift", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.shift) * self.scale)

    def load_vgg_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load the ``features.*`` tensors this truncated network needs, strictly (names and shapes)."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        shape = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
                 if k in state and state[k].shape != v.shape]
        if missing or shape:
            raise WeightsMismatchError(source, missing, [], shape)
        self.load_state_dict({k: state[k] for k in own}, strict=True)


def hub_weights_path() -> Path:
    """Where torch's hub keeps torchvision's VGG19 file: ``torch.hub.get_dir()/checkpoints/...``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def missing_weights_message(path: Path) -> str:
    """What to do when the VGG19 file a config names is absent, for the file it actually looks for."""
    offline = "offline alternatives: --set model.vgg_weights=random or teacher-encoder"
    if Path(path) == hub_weights_path():  # model.vgg_weights = "torchvision"
        return (f"VGG19 weights not found at {path}: download {TORCHVISION_URL} and save it there; {offline}")
    if Path(path).suffix == ".safetensors":  # the official presets' converted caffe file
        return (f"VGG19 weights not found at {path} (model.vgg_weights): make this file from the AnimeGANv2 "
                f"release's caffe vgg19.npy with `animegan data vgg-convert vgg19.npy -o {path} --trust-pickle`, "
                f"or point model.vgg_weights at another VGG19 file (--set model.vgg_weights=FILE: a converted "
                f".safetensors or torchvision's {TORCHVISION_FILE}); {offline}")
    return (f"VGG19 weights not found at {path} (model.vgg_weights): save torchvision's VGG19 "
            f"({TORCHVISION_URL}) at {path}, or point model.vgg_weights at another VGG19 file "
            f"(--set model.vgg_weights=FILE); {offline}")


def read_vgg_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a torchvision ``.pth`` or a converted ``.safetensors`` VGG19 file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(missing_weights_message(path))
    if path.suffix == ".npy":
        raise ModelError(f"{path}: caffe .npy VGG files hold pickled objects; convert it once with "
                         f"`animegan data vgg-convert {path} -o vgg19.safetensors --trust-pickle` and use that")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad weights file
        raise ModelError(f"{path}: not a readable VGG19 weights file ({exc})") from None
    if not isinstance(state, dict) or not any(k.startswith("features.") for k in state):
        raise ModelError(f"{path}: no 'features.N.weight' tensors: not a torchvision-layout VGG19 state dict")
    return state


def convert_caffe_npy(src: str | Path, *, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Caffe ``vgg19.npy`` (name → [weight HWIO, bias]) to a torchvision-named state dict taking RGB.

    The file is a pickled dict: unpickling runs code stored in it, so it is read only with
    ``trust_pickle=True`` (pass it only for a file from a source you trust, such as the AnimeGANv2
    release). conv1_1's input channels are flipped from caffe's BGR to RGB.
    """
    src = Path(src)
    if not trust_pickle:
        raise ModelError(f"{src}: a caffe .npy holds pickled Python objects that run code when loaded; "
                         f"pass --trust-pickle (trust_pickle=True) only for a file from a source you trust")
    if not src.is_file():
        raise ModelError(f"{src}: no such file")
    try:
        raw = np.load(str(src), allow_pickle=True, encoding="latin1").item()
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{src}: not a caffe VGG19 .npy dict ({exc})") from None
    state: dict[str, torch.Tensor] = {}
    for name, index in LAYERS.items():
        if not name.startswith("conv"):
            continue
        if name not in raw:
            raise ModelError(f"{src}: missing {name!r} (found: {', '.join(sorted(raw)[:8])} ...)")
        weight, bias = raw[name][0], raw[name][1]
        w = torch.from_numpy(np.ascontiguousarray(np.asarray(weight, dtype=np.float32).transpose(3, 2, 0, 1)))
        if name == "conv1_1":
            w = w.flip(1).contiguous()  # BGR input channels -> RGB
        state[f"features.{index}.weight"] = w
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(bias, dtype=np.float32).reshape(-1).copy())
    return state


class TeacherEncoderFeatures(nn.Module):
    """A frozen CartoonGAN generator's encoder as a perceptual feature: RGB [-1, 1] → features.

    Output of the down-sampling stages plus ``n_res`` residual blocks (H/4, 4·base channels).
    """

    def __init__(self, generator: nn.Module, n_res: int = 4):
        super().__init__()
        self.generator, self.n_res = generator, n_res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator.encode(x, n_res=self.n_res, rgb=True)[-1]  # the teacher works in BGR


def teacher_encoder(weights: str | Path, n_res: int = 4) -> TeacherEncoderFeatures:
    """The encoder of a CartoonGAN teacher read from a ``.npy`` folder (the published CartoonGAN release)."""
    from .cartoongan import CartoonGANGenerator, load_npy_folder

    path = Path(weights)
    if not path.is_dir():
        raise ModelError(f"{path}: teacher-encoder needs a folder of a CartoonGAN's published .npy tensors "
                         "(see `animegan models info cartoongan_shinkai`)")
    gen = CartoonGANGenerator()
    gen.load_state_dict(load_npy_folder(str(path)), strict=True)
    return TeacherEncoderFeatures(gen, n_res)


def _file_normalization(path: Path) -> str:
    """``caffe`` for files converted by :func:`convert_caffe_npy` (metadata) or named ``*caffe*``."""
    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
        except Exception:  # noqa: BLE001 - unreadable files fail later with a clear message
            meta = {}
        if meta.get("normalization") in ("caffe", "imagenet"):
            return meta["normalization"]
    return "caffe" if "caffe" in path.name.lower() else "imagenet"


def build_perceptual(weights: str | Path = "torchvision", *, layer: str = "conv4_4",
                     normalization: str = "auto", teacher: str | Path | None = None,
                     n_res: int = 4, seed: int = 0) -> nn.Module:
    """A frozen (eval, no grad) feature network for content/style losses, chosen by config.

    ``weights``: ``torchvision`` (the hub cache file), a path (``.pth`` / ``.safetensors``),
    ``random`` (VGG19 with seeded random weights) or ``teacher-encoder`` (needs ``teacher``, a
    CartoonGAN ``.npy`` folder; ``layer``/``normalization`` do not apply). ``normalization`` ``auto``
    is ``caffe`` for converted caffe files (safetensors metadata, or ``caffe`` in the name), else ``imagenet``.
    """
    w = str(weights)
    if w == "teacher-encoder":
        if teacher is None:
            raise ConfigError("vgg weights 'teacher-encoder' needs a teacher .npy folder (config: teacher)")
        net: nn.Module = teacher_encoder(teacher, n_res)
    else:
        if normalization == "auto":
            normalization = _file_normalization(Path(w))
        net = VGG19Features(layer, normalization)
        if w == "random":
            gen = torch.Generator().manual_seed(seed)
            for m in net.features:
                if isinstance(m, nn.Conv2d):
                    # He init keeps activations from vanishing through 16 random layers
                    with torch.no_grad():
                        m.weight.normal_(0.0, (2.0 / (m.in_channels * 9)) ** 0.5, generator=gen)
                        m.bias.zero_()
            log.warning("perceptual features: random-weight VGG19 (seed %d), no pretrained weights", seed)
        else:
            path = hub_weights_path() if w == "torchvision" else Path(w)
            net.load_vgg_state(read_vgg_state(path), str(path))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


__all__ = ["LAYERS", "TORCHVISION_URL", "TeacherEncoderFeatures", "VGG19Features", "build_perceptual",
           "convert_caffe_npy", "hub_weights_path", "layer_index", "read_vgg_state", "teacher_encoder"]
