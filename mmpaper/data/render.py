"""Rendering the world's pictures: a category's silhouette in a colour and a pattern, with jitter, background,
clutter, occlusion and noise, as small uint8 RGB images. Every random draw comes from the generator passed in, so
the world's one random stream decides every pixel (:func:`render`); a world whose ``image_streams`` is ``blocks``
gives each block of images a stream of its own instead, so the blocks render in parallel on every core and the
pixels do not depend on how many cores there are (:func:`render_blocks`)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..provenance import cores
from .vocabulary import CATEGORIES, CATEGORY_NAMES, COLOUR_NAMES, COLOURS, PATTERN_NAMES


def _silhouette(kind: str, w: float, h: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of a category's silhouette on coordinates in [-1, 1] (broadcast arrays)."""
    ax, ay = np.abs(x) / w, np.abs(y) / h
    if kind == "rect":
        return (ax < 1) & (ay < 1)
    if kind == "ellipse":
        return ax**2 + ay**2 < 1
    if kind == "ring":
        r = ax**2 + ay**2
        return (r < 1) & (r > 0.35)
    if kind == "diamond":
        return ax + ay < 1
    if kind == "triangle":  # apex at the top
        t = (y / h + 1) / 2
        return (ay < 1) & (ax < t)
    if kind == "trapezoid":
        t = (y / h + 1) / 2
        return (ay < 1) & (ax < 0.45 + 0.55 * t)
    if kind == "tee":
        return ((ay < 1) & (ax < 0.35)) | ((y / h < -0.45) & (y / h > -1) & (ax < 1))
    if kind == "cross":
        return ((ax < 0.3) & (ay < 1)) | ((ay < 0.3) & (ax < 1))
    # the shapes below add the one detail that tells a kind of product from another of the same outline, as a
    # handle tells a mug from a ring: every category is recognisable from its picture, as in catalog photos
    u, v = x / w, y / h  # signed, y grows downwards
    if kind == "legs":  # trousers, shorts: a waistband and two legs
        return (ax < 1) & (ay < 1) & ((v < -0.55) | (ax > 0.12))
    if kind == "ell":  # boots, socks: a shaft and a foot pointing right
        return ((u > -1) & (u < 0.1) & (ay < 1)) | ((u > -1) & (u < 1) & (v > 0.45) & (v < 1))
    if kind == "holed":  # phone case: a rounded slab with a camera hole
        return (ax < 1) & (ay < 1) & ~(((u + 0.45) ** 2 + (v + 0.6) ** 2) < 0.09)
    if kind == "bag":  # backpack, handbag: a body and a handle arch on top
        body = (ax < 1) & (v > -0.45) & (v < 1)
        r = (u / 0.55) ** 2 + ((v + 0.45) / 0.5) ** 2
        return body | ((r < 1) & (r > 0.45) & (v < -0.45))
    if kind == "mug":  # a body with a handle on the right
        body = (u > -1) & (u < 0.45) & (ay < 1)
        r = ((u - 0.5) / 0.45) ** 2 + (v / 0.5) ** 2
        return body | ((r < 1) & (r > 0.35))
    if kind == "teapot":  # a round body with a spout on the left and a knob on top
        body = (u / 0.75) ** 2 + (v / 0.8) ** 2 < 1
        spout = (u < -0.6) & (u > -1.05) & (np.abs(v + 0.2) < 0.15)
        return body | spout | ((ax < 0.15) & (v < -0.7) & (v > -1))
    if kind == "halfdisc":  # bowl: the lower half of a disc, open on top
        return (ax ** 2 + ay ** 2 < 1) & (v > -0.1)
    if kind == "dome":  # beanie: the upper half of a disc, with a turned-up band
        return (ax ** 2 + ay ** 2 < 1) & (v < 0.35)
    if kind == "arc":  # headphones: a headband arc and two ear cups
        r = ax ** 2 + ay ** 2
        band = (r < 1) & (r > 0.6) & (v < 0.1)
        cups = (ax > 0.62) & (ax < 1) & (v > 0.0) & (v < 0.75)
        return band | cups
    if kind == "lamp":  # a shade on a thin stem and a base
        t = (v + 1) / 1.1
        shade = (v > -1) & (v < 0.1) & (ax < 0.35 + 0.65 * t)
        return shade | ((ax < 0.08) & (v >= 0.1) & (v < 0.85)) | ((ax < 0.6) & (v >= 0.85) & (v < 1))
    if kind == "vase":  # a round belly and a narrow neck
        return ((u / 0.9) ** 2 + ((v - 0.35) / 0.65) ** 2 < 1) | ((ax < 0.32) & (v > -1) & (v < 0))
    if kind == "bottle":  # a slender body, a shoulder and a cap
        return ((ax < 1) & (v > -0.45) & (v < 1)) | ((ax < 0.45) & (v > -1) & (v <= -0.45))
    if kind == "cushion":  # a pillow: a slab with pinched corners
        return (ax < 1) & (ay < 1) & (ax ** 4 + ay ** 4 < 0.75)
    if kind == "fringe":  # a rug: a slab with tassels at both ends
        return ((ax < 0.85) & (ay < 1)) | ((ax >= 0.85) & (ax < 1) & (ay < 1) & ((np.floor(v * 4) % 2) == 0))
    if kind == "roll":  # a rolled yoga mat: a long band and its roll at the right end
        return ((u > -1) & (u < 0.6) & (np.abs(v) < 0.35)) | (((u - 0.65) / 0.35) ** 2 + (v / 0.75) ** 2 < 1)
    if kind == "plug":  # a charger: a block with two prongs on top
        return ((ax < 0.8) & (v > -0.3) & (v < 1)) | ((np.abs(ax - 0.4) < 0.1) & (v > -1) & (v <= -0.3))
    if kind == "buckle":  # a belt: a long strap and a square buckle in the middle
        return ((ax < 1) & (ay < 0.55)) | ((ax < 0.12) & (ay < 1) & ~((ax < 0.06) & (ay < 0.5)))
    if kind == "shoe":  # sneakers: a low profile, a rounded toe on the right and a sole
        return ((u > -1) & (u < 0.55) & (ay < 1) & ((v > -0.2) | (u < -0.2))) | \
            ((((u - 0.55) / 0.45) ** 2 + ((v - 0.35) / 0.65) ** 2) < 1)
    raise ValueError(f"unknown silhouette {kind!r}")


def _pattern_mask(pattern: np.ndarray, px: np.ndarray, py: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Where the pattern's second tone goes, per image (pattern codes index PATTERN_NAMES). Each pattern is drawn
    only for the images that have it."""
    phase = phase.reshape(-1, 1, 1)
    size = px.shape[-1]
    drawn = {
        "striped": lambda ph: np.broadcast_to(((py + ph) // 3) % 2 == 0, (len(ph), size, size)),
        "dotted": lambda ph: (((px + ph) % 5) < 2) & (((py + ph) % 5) < 2),
        "checked": lambda ph: (((px + ph) // 4 + (py + ph) // 4) % 2) == 0,
        "diagonal": lambda ph: (((px + py + ph) // 3) % 2) == 0,
    }
    out = np.zeros((len(pattern), size, size), dtype=bool)
    for name, draw in drawn.items():
        rows = np.flatnonzero(pattern == PATTERN_NAMES.index(name))
        if rows.size:
            out[rows] = draw(phase[rows])
    return out


# images composed at a time: their float64 intermediates (a few tens of MB) stay in cache-sized, reused buffers
# instead of whole-catalog arrays
CHUNK_ELEMENTS = 1 << 21


def render(category: np.ndarray, colour: np.ndarray, pattern: np.ndarray, rng: np.random.Generator,
           size: int = 32, *, background: np.ndarray | None = None, scale: tuple[float, float] = (0.8, 1.0),
           shift: float = 0.12, noise: float = 8.0, clutter: int = 0, occlusion: float = 0.0,
           out: np.ndarray | None = None, noise_dtype=np.float64) -> np.ndarray:
    """Render ``[N, size, size, 3]`` uint8 images of objects given by category, colour and pattern codes (into
    ``out`` when given). ``noise_dtype=np.float32`` draws the pixel noise in single precision (half the cost of
    the draws, other pixels).

    The draws come from ``rng`` in one fixed order: every image's scale, shift, pattern phase, background, clutter
    boxes and occlusion patch, then the pixel noise image after image. Images are composed a chunk at a time;
    the pixels do not depend on the chunk size."""
    n = len(category)
    s = rng.uniform(*scale, n)
    dx, dy = rng.uniform(-shift, shift, (2, n))
    phase = rng.integers(0, 6, n)
    if background is None:
        background = rng.uniform(215, 250, (n, 1)).repeat(3, 1)
    boxes = [(rng.integers(0, size - 4, (2, n)), rng.integers(3, size // 3, (2, n)), rng.uniform(0, 255, (n, 3)))
             for _ in range(clutter)]  # random rectangles behind the object: corner, extent, colour
    side = int(round(size * np.sqrt(occlusion))) if occlusion > 0 else 0
    patch = rng.integers(0, size - side + 1, (2, n)) if occlusion > 0 else None  # a grey square's corner
    out = np.empty((n, size, size, 3), dtype=np.uint8) if out is None else out
    step = max(1, CHUNK_ELEMENTS // (size * size * 3))
    for a in range(0, n, step):
        c = slice(a, min(n, a + step))
        out[c] = _compose(category[c], colour[c], pattern[c], size, s[c], dx[c], dy[c], phase[c], background[c],
                          [(xy[:, c], wh[:, c], col[c]) for xy, wh, col in boxes],
                          None if patch is None else patch[:, c], side,
                          _noise(rng, noise, (c.stop - c.start, size, size, 3), noise_dtype))
    return out


def _noise(rng: np.random.Generator, scale: float, shape: tuple, dtype) -> np.ndarray:
    if dtype == np.float64:
        return rng.normal(0, scale, shape)
    out = rng.standard_normal(shape, dtype=dtype)
    out *= dtype(scale)
    return out


def _compose(category, colour, pattern, size, s, dx, dy, phase, background, boxes, patch, side, noise):
    """The pixels of a chunk of images from their drawn parameters and noise (no random draws here)."""
    n = len(category)
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    px = np.arange(size)[None, None, :]
    py = np.arange(size)[None, :, None]
    s, dx, dy = s[:, None, None], dx[:, None, None], dy[:, None, None]
    x = (coords[None, None, :] - dx) / s
    y = (coords[None, :, None] - dy) / s
    mask = np.zeros((n, size, size), dtype=bool)
    for c, name in enumerate(CATEGORY_NAMES):
        rows = np.flatnonzero(category == c)
        if rows.size:
            kind, w, h = CATEGORIES[name][1]
            mask[rows] = _silhouette(kind, w, h, x[rows], y[rows])
    rgb = np.array([COLOURS[c][0] for c in COLOUR_NAMES], dtype=np.float32)[colour]        # [N, 3]
    dark = rgb.mean(axis=1) < 90
    second = np.where(dark[:, None], np.minimum(rgb + 140, 255), rgb * 0.35)             # the pattern's tone
    tone = _pattern_mask(pattern, px, py, phase)
    # the background in float32; float64 once clutter boxes (drawn in float64) are painted, as np.where would
    # promote it. Painting in place writes exactly what np.where would return.
    img = np.broadcast_to(background[:, None, None, :], (n, size, size, 3)).astype(np.float32)
    if boxes:
        img = img.astype(np.float64)
    for (x0, y0), (ww, hh), col in boxes:
        box = (px >= x0[:, None, None]) & (px < (x0 + ww)[:, None, None]) & \
              (py >= y0[:, None, None]) & (py < (y0 + hh)[:, None, None])
        np.copyto(img, col[:, None, None, :], where=box[..., None])
    obj = np.where(tone[..., None], second[:, None, None, :], rgb[:, None, None, :])
    np.copyto(img, obj, where=mask[..., None])
    if patch is not None:
        x0, y0 = patch
        box = (px >= x0[:, None, None]) & (px < (x0 + side)[:, None, None]) & \
              (py >= y0[:, None, None]) & (py < (y0 + side)[:, None, None])
        np.copyto(img, 150.0, where=box[..., None])
    img += noise
    return np.clip(img, 0, 255).astype(np.uint8)


IMAGE_BLOCK = 1024  # images per random stream in render_blocks: part of what a "blocks" world is


def render_blocks(category: np.ndarray, colour: np.ndarray, pattern: np.ndarray, key: list[int], size: int = 32,
                  *, background: np.ndarray | None = None, out: np.ndarray | None = None, workers: int | None = None,
                  **kwargs) -> np.ndarray:
    """What :func:`render` draws, block by block: images ``[b·IMAGE_BLOCK, (b+1)·IMAGE_BLOCK)`` draw from their
    own generator, ``numpy.random.default_rng([*key, b])``, so ``workers`` threads (default: every core) render
    blocks at once (NumPy releases the GIL in its array loops and its generators) and the pixels are the same
    with any number of them. The pixel noise is drawn in float32. ``background`` (per image) and the other
    arguments are :func:`render`'s."""
    n = len(category)
    out = np.empty((n, size, size, 3), dtype=np.uint8) if out is None else out

    def block(b: int) -> None:
        c = slice(b * IMAGE_BLOCK, min(n, (b + 1) * IMAGE_BLOCK))
        render(category[c], colour[c], pattern[c], np.random.default_rng([*key, b]), size,
               background=None if background is None else background[c], out=out[c], noise_dtype=np.float32,
               **kwargs)

    n_blocks = -(-n // IMAGE_BLOCK)
    workers = max(1, min(workers or cores(), n_blocks))
    if workers == 1:
        for b in range(n_blocks):
            block(b)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, range(n_blocks)))
    return out
