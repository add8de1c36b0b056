"""Augmentation of phone photos for visual-search training (torchvision), drawn from an explicit random stream.

A shopper's photo differs from the catalog image in framing (the product off centre, partly cut, at another
distance), in light (store lighting, white balance) and in mirror-symmetric pose. :class:`PhoneAugment` draws, per
photo, a random resized crop (a share ``scale`` of the area, aspect ``ratio``), a horizontal flip and a colour
jitter of brightness, contrast, saturation and hue — ``torchvision.transforms.v2``'s RandomResizedCrop,
RandomHorizontalFlip and ColorJitter, applied through their functional forms so that every parameter comes from
the ``torch.Generator`` passed in rather than torch's global stream: the same (seed, epoch, batch) gives the same
pixels, and a run resumed from a checkpoint sees the batches an uninterrupted run would.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PhoneAugment:
    size: int                                   # output side in pixels (the encoder's input)
    scale: tuple[float, float] = (0.35, 1.0)    # share of the photo's area a crop keeps
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio of a crop
    flip: float = 0.5                           # probability of a horizontal flip
    brightness: float = 0.3                     # factors drawn from [1 - x, 1 + x]
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03                           # shift drawn from [-x, x] (of a full turn)

    def params(self, height: int, width: int, g: torch.Generator) -> dict:
        """One photo's draw from ``g`` (nine uniform numbers): crop box, flip and colour factors. A crop whose
        drawn side exceeds the photo's is clipped to it (RandomResizedCrop would draw again)."""
        u = torch.rand(9, generator=g).tolist()
        share = self.scale[0] + (self.scale[1] - self.scale[0]) * u[0]
        ratio = math.exp(math.log(self.ratio[0]) + (math.log(self.ratio[1]) - math.log(self.ratio[0])) * u[1])
        w = max(1, min(width, int(round(math.sqrt(height * width * share * ratio)))))
        h = max(1, min(height, int(round(math.sqrt(height * width * share / ratio)))))
        top, left = int(u[2] * (height - h + 1)), int(u[3] * (width - w + 1))
        jitter = lambda x, v: 1.0 + x * (2 * v - 1)  # noqa: E731 - a factor drawn from [1 - x, 1 + x]
        return {"box": (min(top, height - h), min(left, width - w), h, w), "flip": u[4] < self.flip,
                "brightness": jitter(self.brightness, u[5]), "contrast": jitter(self.contrast, u[6]),
                "saturation": jitter(self.saturation, u[7]), "hue": self.hue * (2 * u[8] - 1)}

    def __call__(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """uint8 ``[N, H, W, 3]`` photos → uint8 ``[N, size, size, 3]`` augmented copies."""
        import torchvision.transforms.v2.functional as TF  # torchvision: only when photos are augmented

        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"PhoneAugment takes uint8 [N, H, W, 3] photos, got {images.dtype} "
                             f"{tuple(images.shape)}")
        out = []
        for img in images.permute(0, 3, 1, 2):
            p = self.params(img.shape[-2], img.shape[-1], g)
            img = TF.resized_crop(img, *p["box"], size=[self.size, self.size], antialias=True)
            if p["flip"]:
                img = TF.horizontal_flip(img)
            img = TF.adjust_brightness(img, p["brightness"])
            img = TF.adjust_contrast(img, p["contrast"])
            img = TF.adjust_saturation(img, p["saturation"])
            img = TF.adjust_hue(img, p["hue"])
            out.append(img)
        return torch.stack(out).permute(0, 2, 3, 1).contiguous()
