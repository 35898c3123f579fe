"""Networks of the ``autoencoder_swap`` generator: one shared encoder, one decoder per identity.

The architecture follows the classic "Deepfakes" face swap (the ``original`` model of the
faceswap project, https://github.com/deepfakes/faceswap, plugins/train/model/original.py),
re-written here in PyTorch:

* encoder: four 5x5 stride-2 convolutions with 128, 256, 512, 1024 channels and
  LeakyReLU(0.1), flatten, a dense layer to ``encoder_dim``, a dense layer back to
  ``s x s x 1024`` (``s = image_size / 16``) and one pixel-shuffle upscale to
  ``2s x 2s x 512``;
* decoder (one per identity): three pixel-shuffle upscales (256, 128, 64 channels) to
  ``image_size``, then a 5x5 convolution to 3 channels and a sigmoid.

Images are ``(N, 3, image_size, image_size)`` float tensors in ``[0, 1]``. ``width``
multiplies every channel count (1.0 = the original); a CPU quickstart uses a narrower
network so that it trains in minutes, the default config keeps 1.0.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ENCODER_CHANNELS = (128, 256, 512, 1024)
DECODER_CHANNELS = (256, 128, 64)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 8."""
    return max(8, int(round(channels * width)))


class Upscale(nn.Module):
    """3x3 convolution to ``4 * out_ch`` channels, ``PixelShuffle(2)``, LeakyReLU(0.1).

    ``(N, in_ch, H, W)`` -> ``(N, out_ch, 2H, 2W)`` (sub-pixel convolution, Shi et al.
    2016, as faceswap's ``UpscaleBlock``).
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch * 4, kernel_size=3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.shuffle(self.conv(x)), 0.1)


class Encoder(nn.Module):
    """Shared encoder: ``(N, 3, S, S)`` in ``[0, 1]`` -> ``(N, 512, S/8, S/8)`` features.

    Args:
        image_size: input side ``S`` in pixels, a multiple of 16 (64 in the original).
        encoder_dim: width of the dense bottleneck (1024 in the original).
        width: channel multiplier (1.0 in the original).
    """

    def __init__(self, image_size: int = 64, encoder_dim: int = 1024, width: float = 1.0) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        layers: list[nn.Module] = []
        in_ch = 3
        for ch in (scaled(c, width) for c in ENCODER_CHANNELS):
            layers += [nn.Conv2d(in_ch, ch, kernel_size=5, stride=2, padding=2), nn.LeakyReLU(0.1)]
            in_ch = ch
        self.convs = nn.Sequential(*layers)
        self.side = image_size // 16
        self.top = in_ch
        flat = self.top * self.side * self.side
        self.dense1 = nn.Linear(flat, encoder_dim)
        self.dense2 = nn.Linear(encoder_dim, flat)
        self.upscale = Upscale(self.top, scaled(512, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x).flatten(1)
        h = self.dense2(self.dense1(h))
        h = h.view(-1, self.top, self.side, self.side)
        return self.upscale(h)


class Decoder(nn.Module):
    """Per-identity decoder: ``(N, 512 * width, S/8, S/8)`` -> ``(N, 3, S, S)`` in ``[0, 1]``
    (sigmoid)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        blocks = []
        in_ch = scaled(512, width)
        for ch in (scaled(c, width) for c in DECODER_CHANNELS):
            blocks.append(Upscale(in_ch, ch))
            in_ch = ch
        self.upscales = nn.Sequential(*blocks)
        self.out = nn.Conv2d(in_ch, 3, kernel_size=5, padding=2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.upscales(z)))


class SwapAutoencoder(nn.Module):
    """Shared encoder plus one decoder per identity.

    Args:
        identities: identity ids, one decoder each (``decoders[identity]``).
        image_size: side of the model's square input/output, multiple of 16.
        encoder_dim: dense bottleneck width.
        width: channel multiplier of encoder and decoders (1.0 = original).

    ``forward(x, identity)``: ``(N, 3, S, S)`` float in ``[0, 1]`` -> the same shape,
    reconstructed through ``identity``'s decoder. Raises ``KeyError`` for an identity
    without a decoder.
    """

    def __init__(
        self, identities: list[str], image_size: int = 64, encoder_dim: int = 1024, width: float = 1.0
    ) -> None:
        super().__init__()
        self.identities = list(identities)
        self.encoder = Encoder(image_size, encoder_dim, width)
        self.decoders = nn.ModuleDict({i: Decoder(width) for i in self.identities})

    def forward(self, x: torch.Tensor, identity: str) -> torch.Tensor:
        if identity not in self.decoders:
            raise KeyError(f"no decoder for identity {identity!r}; the model has {self.identities}")
        return self.decoders[identity](self.encoder(x))


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity (Wang et al. 2004, Gaussian 11x11 window, sigma 1.5,
    C1 = 0.01^2, C2 = 0.03^2) of two ``(N, C, H, W)`` batches in ``[0, 1]``; a scalar
    tensor in ``[-1, 1]`` (1 = identical), differentiable. Borders are zero-padded."""
    coords = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, padding=window // 2, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()
