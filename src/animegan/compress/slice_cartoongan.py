"""A narrower CartoonGAN cut out of a trained one: the start point of the shipped style students.

:func:`slice_cartoongan` keeps, at every junction of the network, the channels that matter most to
the layers that read them (mean absolute input activation on real photos times the L1 norm of the
reading weights) and copies those rows and columns of every tensor into a CartoonGAN with a smaller
``base_channels`` (and optionally fewer residual blocks, the first ones kept). Instance norm after
almost every conv re-normalises what the dropped channels took away, so the sliced network starts
close to the original. :func:`reconstruct` then refits every conv of the slice in closed form
(ridge least squares, layer by layer in network order): given the sliced network's own input to
the layer, reproduce the original layer's pre-norm output on the kept channels, the way channel
pruning by reconstruction does. A short distillation (:mod:`animegan.compress.distill`,
``student_init = "teacher-slice"``) recovers the rest.

The residual stream (``conv03_2`` -> every block's add -> ``deconv01_1``) is one channel set: it is
shared by all additions, so its importance sums over every reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from ..nn.cartoongan import CartoonGANConfig, CartoonGANGenerator


def _layout(n_res: int) -> list[tuple[str, str | None, str | None]]:
    """(layer, input group, output group) for every conv and norm; None: image channels."""
    rows: list[tuple[str, str | None, str | None]] = [
        ("conv01_1", None, "g1"), ("in01_1", "g1", "g1"),
        ("conv02_1", "g1", "g2"), ("conv02_2", "g2", "g3"), ("in02_1", "g3", "g3"),
        ("conv03_1", "g3", "g4"), ("conv03_2", "g4", "R"), ("in03_1", "R", "R")]
    for i in range(4, 4 + n_res):
        b = f"b{i}"
        rows += [(f"conv{i:02d}_1", "R", b), (f"in{i:02d}_1", b, b),
                 (f"conv{i:02d}_2", b, "R"), (f"in{i:02d}_2", "R", "R")]
    rows += [("deconv01_1", "R", "g5"), ("deconv01_2", "g5", "g6"), ("in12_1", "g6", "g6"),
             ("deconv02_1", "g6", "g7"), ("deconv02_2", "g7", "g8"), ("in13_1", "g8", "g8"),
             ("deconv03_1", "g8", None)]
    return rows


def _group_widths(c: int, n_res: int) -> dict[str, int]:
    widths = {"g1": c, "g2": 2 * c, "g3": 2 * c, "g4": 4 * c, "R": 4 * c,
              "g5": 2 * c, "g6": 2 * c, "g7": c, "g8": c}
    widths |= {f"b{i}": 4 * c for i in range(4, 4 + n_res)}
    return widths


def _in_dim(layer: nn.Module) -> int:
    return 0 if isinstance(layer, nn.ConvTranspose2d) else 1


def channel_importance(model: CartoonGANGenerator, photos: torch.Tensor,
                       n_res: int | None = None) -> dict[str, torch.Tensor]:
    """Per group, per channel: sum over the convs reading the group of mean|input| × L1 of their weights.

    ``photos``: N×3×H×W RGB in [-1, 1] (real photos, sides multiples of 4).
    """
    n_res = model.config.n_res_blocks if n_res is None else n_res
    readers: dict[str, list[str]] = {}
    for name, gin, _ in _layout(n_res):
        if gin is not None and name.startswith(("conv", "deconv")):
            readers.setdefault(gin, []).append(name)
    means = _capture(model, [n for names in readers.values() for n in names], photos,
                     lambda inputs, _out: inputs[0].abs().mean(dim=(0, 2, 3)))
    out = {}
    for group, names in readers.items():
        score = None
        for name in names:
            layer = getattr(model, name)
            dim = _in_dim(layer)
            w = layer.weight.detach().abs().transpose(0, dim).reshape(layer.weight.shape[dim], -1).sum(1)
            s = means[name] * w
            score = s if score is None else score + s
        out[group] = score  # type: ignore[assignment]
    return out


def slice_cartoongan(model: CartoonGANGenerator, photos: torch.Tensor, base_channels: int,
                     n_res_blocks: int | None = None, *, refit: bool = True) -> CartoonGANGenerator:
    """A CartoonGAN of ``base_channels`` (and ``n_res_blocks``, the first kept) cut out of ``model``.

    ``refit``: also run :func:`reconstruct` on ``photos`` (recommended; off gives the bare slice).
    """
    if getattr(model, "arch", "") != "cartoongan":
        raise ModelError("slice_cartoongan: the source network is not a CartoonGAN generator")
    src_c, src_n = model.config.base_channels, model.config.n_res_blocks
    n_res = src_n if n_res_blocks is None else n_res_blocks
    if not 1 <= base_channels <= src_c:
        raise ModelError(f"slice_cartoongan: base_channels must be in 1..{src_c}, got {base_channels}")
    if not 1 <= n_res <= src_n:
        raise ModelError(f"slice_cartoongan: n_res_blocks must be in 1..{src_n}, got {n_res}")
    scores = channel_importance(model, photos, n_res)
    widths = _group_widths(base_channels, n_res)
    keep = {g: torch.sort(torch.topk(scores[g], widths[g]).indices).values for g in widths}
    student = CartoonGANGenerator(CartoonGANConfig(base_channels, n_res))
    state = {}
    for name, gin, gout in _layout(n_res):
        layer = getattr(model, name)
        if name.startswith("in"):
            state[f"{name}.scale"] = layer.scale.detach()[keep[gout]]  # type: ignore[index]
            state[f"{name}.shift"] = layer.shift.detach()[keep[gout]]  # type: ignore[index]
            continue
        w = layer.weight.detach()
        in_dim = _in_dim(layer)
        out_dim = 1 - in_dim
        if gin is not None:
            w = w.index_select(in_dim, keep[gin])
        b = layer.bias.detach()
        if gout is not None:
            w = w.index_select(out_dim, keep[gout])
            b = b[keep[gout]]
        state[f"{name}.weight"], state[f"{name}.bias"] = w.clone(), b.clone()
    student.load_state_dict(state, strict=True)
    if refit:
        reconstruct(student, model, keep, photos)
    return student.eval()


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted layer has run."""


def _capture(model: nn.Module, names: list[str], photos: torch.Tensor,
             pick: Callable[[Any, torch.Tensor], torch.Tensor], *, stop: bool = False) -> dict[str, torch.Tensor]:
    """``pick(inputs, output)`` of every layer in ``names`` on ``photos``, from one forward pass.

    ``stop``: end the pass as soon as every named layer has run (the rest of the network is skipped).
    """
    got: dict[str, torch.Tensor] = {}
    hooks = []
    for name in names:
        def hook(_m: nn.Module, inputs: Any, out: torch.Tensor, key: str = name) -> None:
            got[key] = pick(inputs, out).detach()
            if stop and len(got) == len(names):
                raise _Stop
        hooks.append(getattr(model, name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(photos)
    except _Stop:
        pass
    finally:
        for h in hooks:
            h.remove()
    return got


def _as_conv_problem(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Patches N×(C·k·k)×L whose product with the layer's conv-form weight gives its output."""
    k = layer.kernel_size[0]
    if isinstance(layer, nn.ConvTranspose2d):
        # a stride-s transposed conv is a plain conv over the zero-inserted input with a flipped kernel
        s, p, op = layer.stride[0], layer.padding[0], layer.output_padding[0]
        n, c, h, w = x.shape
        up = x.new_zeros(n, c, (h - 1) * s + 1, (w - 1) * s + 1)
        up[:, :, ::s, ::s] = x
        lo, hi = k - 1 - p, k - 1 - p + op
        return F.unfold(F.pad(up, (lo, hi, lo, hi)), k)
    return F.unfold(x, k, padding=layer.padding, stride=layer.stride)


def _set_conv_form(layer: nn.Module, w2d: torch.Tensor, bias: torch.Tensor) -> None:
    """Write an (out × in·k·k) conv-form weight back into ``layer`` (transposed convs flipped back)."""
    k = layer.kernel_size[0]
    with torch.no_grad():
        if isinstance(layer, nn.ConvTranspose2d):
            w = w2d.reshape(layer.out_channels, layer.in_channels, k, k).flip(2, 3).transpose(0, 1)
        else:
            w = w2d.reshape(layer.out_channels, layer.in_channels, k, k)
        layer.weight.copy_(w.to(layer.weight.dtype))
        layer.bias.copy_(bias.to(layer.bias.dtype))


def _conv_form(layer: nn.Module) -> torch.Tensor:
    w = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1).flip(2, 3)
    return w.reshape(w.shape[0], -1)


def reconstruct(student: CartoonGANGenerator, source: CartoonGANGenerator, keep: dict[str, torch.Tensor],
                photos: torch.Tensor, *, samples: int = 40000, ridge: float = 1e-3, seed: int = 0) -> None:
    """Refit each conv of ``student`` (sliced from ``source`` with ``keep``) by ridge least squares.

    In network order, each layer gets the student's own input (earlier layers already refit) and
    the source's pre-norm output on the kept output channels as target, over ``samples`` random
    positions of ``photos``; the solution is shrunk towards the sliced weights (``ridge``, relative
    to the mean patch energy), so rarely seen patches keep the original behaviour.
    """
    gen = torch.Generator().manual_seed(seed)
    n_res = student.config.n_res_blocks
    layers = [(name, gin, gout) for name, gin, gout in _layout(n_res)
              if not name.startswith("in") and gin is not None]  # norms keep scale/shift; conv01 sees RGB
    targets = _capture(source, [name for name, _, _ in layers], photos, lambda _inputs, out: out)
    for name, _gin, gout in layers:
        layer_s = getattr(student, name)
        seen = _capture(student, [name], photos, lambda inputs, _out: inputs[0], stop=True)[name]
        x = _as_conv_problem(layer_s, seen)
        y = targets.pop(name)
        if gout is not None:
            y = y.index_select(1, keep[gout])
        n, d, L = x.shape
        y = y.reshape(n, y.shape[1], -1)
        idx = torch.randperm(n * L, generator=gen)[:samples]
        ni, li = idx // L, idx % L  # pick positions without materialising the transposed patch matrix
        xs = torch.cat([x[ni, :, li], torch.ones(len(idx), 1)], 1).double()
        ys = y[ni, :, li].double()
        w0 = torch.cat([_conv_form(layer_s), layer_s.bias.detach()[:, None]], 1).double().T  # (d+1)×out
        lam = ridge * float(xs.pow(2).sum(1).mean())
        a = xs.T @ xs + lam * torch.eye(d + 1, dtype=torch.float64)
        sol = torch.linalg.solve(a, xs.T @ ys + lam * w0)
        _set_conv_form(layer_s, sol[:-1].T.float(), sol[-1].float())
