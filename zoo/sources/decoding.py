"""Image files to uint8 arrays, for the folder reader: sizes read from the headers before anything is
decoded, grey or colour decided from the pixels' colours (a palette's own entries), 16-bit grey scaled to
8 bits, and every failure one line naming the file."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import DataError, first_line, shown

MAX_PIXELS = 2**26  # per image (8192 x 8192): a larger declared size is refused before it is decoded
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit grey PNGs open as one of these
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", *SIXTEEN_BIT)


def _image(file: Path):
    """``file`` opened lazily (its header read, no pixels), its declared size checked."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(file)
    except Image.DecompressionBombError as exc:
        raise DataError(f"Image {shown(file)} is too large to decode ({first_line(exc)})") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DataError(f"Image {shown(file)} cannot be read ({first_line(exc)})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise DataError(f"Image {shown(file)} declares {width}x{height} pixels, more than zoo decodes "
                        f"({MAX_PIXELS:,} per image); resize it first")
    if image.mode not in MODES:
        image.close()
        raise DataError(f"Image {shown(file)} has mode {image.mode}; zoo reads grey (8 or 16 bits), RGB and palette images")
    return image


def one_size(files: List[Path], resize: Optional[Sequence[int]]) -> Tuple[int, int]:
    """(H, W) every image will have: ``resize``, or the one size all the files declare (else one line)."""
    sizes: Dict[Tuple[int, int], Path] = {}
    for file in files:
        with _image(file) as image:
            sizes.setdefault((image.size[1], image.size[0]), file)
        if len(sizes) > 1 and resize is None:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(f"Images of two sizes: {fa.name} is {a[0]}x{a[1]}, {fb.name} is {b[0]}x{b[1]}; resize them "
                            f"to one size, or declare the data set in a registry file with \"resize\": [H, W]")
    return (int(resize[0]), int(resize[1])) if resize is not None else next(iter(sizes))


def _palette_is_colour(image) -> bool:
    """Whether a palette image shows any colour: one of the palette entries it uses is not grey."""
    palette = image.getpalette() or []
    used = image.getcolors(256)
    indices = [i if isinstance(i, int) else i[0] for _, i in used] if used else range(len(palette) // 3)
    return any(len(set(palette[3 * i:3 * i + 3])) > 1 for i in indices if 3 * i + 2 < len(palette))


def is_colour(file: Path) -> bool:
    with _image(file) as image:
        if image.mode in ("RGB", "RGBA"):
            return True
        return image.mode in ("P", "PA") and _palette_is_colour(image)


def open_image(file: Path, resize: Optional[Sequence[int]], colour: bool):
    """One image as a uint8 (H, W) or (H, W, 3) numpy array."""
    import numpy as np
    from PIL import Image

    try:
        with _image(file) as image:
            image.load()
            size = (int(resize[1]), int(resize[0])) if resize is not None else None
            if image.mode in SIXTEEN_BIT:  # 0..65535 -> 0..255 (convert("L") would clip to {0, 255})
                image = image.convert("I")
                values = np.asarray(image.resize(size, Image.BILINEAR) if size else image, dtype=np.int64)
                if values.size and (values.min() < 0 or values.max() > 65535):
                    raise DataError(f"Image {shown(file)} holds values outside 0..65535; zoo reads 8- and 16-bit images")
                grey = np.rint(values / 257).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2) if colour else grey
            image = image.convert("RGB" if colour else "L")
            if size is not None:
                image = image.resize(size, Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"Image {shown(file)} cannot be read ({first_line(exc)})") from None


def decode(files: List[Path], resize: Optional[Sequence[int]], colour: bool) -> torch.Tensor:
    """The images of ``files`` stacked: uint8 (N, H, W), or (N, 3, H, W) when ``colour``."""
    import numpy as np

    arrays = [open_image(file, resize, colour) for file in files]
    stacked = torch.from_numpy(np.stack(arrays))
    return stacked.permute(0, 3, 1, 2).contiguous() if stacked.dim() == 4 else stacked
