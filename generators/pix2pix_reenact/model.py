"""pix2pix networks (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks"): the U-Net generator and the 70x70 PatchGAN discriminator.

Module structure and parameter names follow the authors' PyTorch implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), so that their
``<epoch>_net_G.pth`` / ``<epoch>_net_D.pth`` state_dicts load into these classes
(:func:`load_pix2pix_state_dict`); the names and shapes are checked against
``shared/reference/pix2pix_unet256_state_dict.txt`` by the tests. The code is written
here from the paper and that layout.

Images are ``(N, C, H, W)`` float tensors in ``[-1, 1]`` (the authors' normalisation);
the generator ends with ``tanh``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from forgebench.errors import DataError
from forgebench.fileio import load_checkpoint


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down-sampling conv, the inner levels (``submodule``),
    up-sampling transposed conv, and a skip connection concatenating the level's input
    with its output (except at the outermost level).

    Layer order (indices are part of the state_dict names):
    outermost ``[down conv, submodule, ReLU, up conv, Tanh]``; innermost
    ``[LeakyReLU, down conv, ReLU, up conv, BatchNorm]``; other levels
    ``[LeakyReLU, down conv, BatchNorm, submodule, ReLU, up conv, BatchNorm(, Dropout 0.5)]``.
    Convolutions are 4x4, stride 2, padding 1; convolutions followed by BatchNorm have no
    bias (as in the authors' code with ``norm='batch'``).

    Args:
        outer_nc: channels of this level's output (and of its input when ``input_nc`` is None).
        inner_nc: channels after the down-sampling conv.
        input_nc: channels of the input (default ``outer_nc``).
        submodule: the next inner level (None for the innermost).
        outermost, innermost: position of this level.
        use_dropout: dropout 0.5 after the up-sampling of an intermediate level.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=False)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=False)
            layers = [downrelu, downconv, uprelu, upconv, nn.BatchNorm2d(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=False)
            layers = [downrelu, downconv, nn.BatchNorm2d(inner_nc), submodule, uprelu, upconv, nn.BatchNorm2d(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, input_nc, H, W)`` -> ``(N, outer_nc, H, W)`` at the outermost level, else
        ``(N, input_nc + outer_nc, H, W)`` (skip connection)."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The pix2pix U-Net generator (``unet_256``: ``num_downs=8``; ``unet_128``: 7).

    Channels per level from the outside in: ``ngf, 2 ngf, 4 ngf, 8 ngf, ...``; the
    ``num_downs - 5`` intermediate levels at ``8 ngf`` carry dropout 0.5 when
    ``use_dropout``. An input of side ``2 ** num_downs`` is reduced to 1x1 at the
    bottleneck.

    Args:
        input_nc: input channels (3 for an RGB landmark sketch).
        output_nc: output channels (3 for RGB).
        num_downs: number of down-samplings (>= 5); the input side must be a multiple of
            ``2 ** num_downs``.
        ngf: filters of the outermost conv (64 in the paper).
        use_dropout: dropout 0.5 in the inner blocks (the paper's generator: True).

    Forward: ``(N, input_nc, H, W)`` in ``[-1, 1]`` -> ``(N, output_nc, H, W)`` in
    ``[-1, 1]``.

    Raises:
        ValueError: ``num_downs < 5`` or ``ngf < 1``.
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64, use_dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 5 or ngf < 1:
            raise ValueError(f"UnetGenerator needs num_downs >= 5 and ngf >= 1, got {num_downs}, {ngf}")
        self.num_downs = num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See the class docstring."""
        side = 2**self.num_downs
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(
                f"UnetGenerator with {self.num_downs} down-samplings needs sides that are multiples of {side}, got {tuple(x.shape)}"
            )
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator (``n_layers=3``: the paper's 70x70 receptive field).

    ``[conv s2, LeakyReLU 0.2]``, then ``n_layers - 1`` of ``[conv s2, BatchNorm,
    LeakyReLU]`` doubling the filters up to ``8 ndf``, one ``[conv s1, BatchNorm,
    LeakyReLU]`` and a final 1-channel conv s1; all 4x4 with padding 1.

    Args:
        input_nc: input channels (sketch + image concatenated: 6).
        ndf: filters of the first conv (64).
        n_layers: down-sampling convolutions after the first (3).

    Forward: ``(N, input_nc, H, W)`` -> ``(N, 1, H', W')`` patch logits (``H' = H/8 - 2``).
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See the class docstring."""
        return self.model(x)


def unet_for_size(image_size: int, ngf: int = 64, use_dropout: bool = True) -> UnetGenerator:
    """The authors' named U-Net for a crop size: ``unet_256`` (8 down-samplings) for 256 px,
    ``unet_128`` (7) for 128 px; other multiples of 32 get ``log2(image_size)`` levels
    (the bottleneck is 1x1). Input and output are RGB.

    Raises:
        ValueError: ``image_size`` is not a power of two between 32 and 512.
    """
    num_downs = int(image_size).bit_length() - 1
    if image_size < 32 or image_size > 512 or 2**num_downs != image_size:
        raise ValueError(f"pix2pix U-Net needs a power-of-two image size in [32, 512], got {image_size}")
    return UnetGenerator(3, 3, num_downs, ngf=ngf, use_dropout=use_dropout)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The paper's initialisation: conv weights ~ N(0, gain), conv biases 0, BatchNorm
    weights ~ N(1, gain) and biases 0. Draws from torch's global RNG (seed it first)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


class GANLoss(nn.Module):
    """Adversarial loss on PatchGAN logits: ``lsgan`` (least squares, Mao et al. 2017:
    mean squared error to 1/0) or ``vanilla`` (binary cross-entropy with logits, the
    original GAN objective).

    Call: ``loss(logits, target_is_real: bool) -> scalar tensor``.

    Raises:
        ValueError: unknown ``mode``.
    """

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in ("lsgan", "vanilla"):
            raise ValueError(f"gan mode must be 'lsgan' or 'vanilla', got {mode!r}")
        self.loss = nn.MSELoss() if mode == "lsgan" else nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return self.loss(logits, target)


def load_pix2pix_state_dict(
    net: nn.Module, state_dict: Mapping[str, Any], source: str | os.PathLike = "state_dict"
) -> None:
    """Load a state_dict of the authors' layout into ``net``, strictly, tolerating only
    missing BatchNorm ``num_batches_tracked`` entries (files saved with PyTorch < 0.4.1).

    Args:
        net: a :class:`UnetGenerator` or :class:`NLayerDiscriminator` of matching size.
        state_dict: ``{name: tensor}``; a ``module.`` prefix (DataParallel) is stripped.
        source: file name used in error messages.

    Raises:
        DataError: unexpected or other missing keys, or shape mismatches (names ``source``).
    """
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in state_dict.items()}
    own = net.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    wrong = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        raise DataError(
            f"{source}: not a state_dict of this pix2pix network "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {wrong[:3]})"
        )
    for k, v in own.items():
        if k not in sd:  # num_batches_tracked of an old file
            sd[k] = torch.zeros_like(v)
    net.load_state_dict(sd, strict=True)


def load_pix2pix_file(net: nn.Module, path: str | os.PathLike) -> None:
    """Read an authors' ``*_net_G.pth`` / ``*_net_D.pth`` (a plain state_dict) with
    ``torch.load(weights_only=True)`` and load it with :func:`load_pix2pix_state_dict`.

    Raises:
        DataError: missing or unreadable file, not a state_dict, or one that does not fit.
    """
    path = Path(path)
    sd = load_checkpoint(path, "pix2pix weights file")
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DataError(f"{path}: not a state_dict (name -> tensor)")
    load_pix2pix_state_dict(net, sd, path)
