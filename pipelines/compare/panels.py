"""Labelled panels side by side, and a split screen: the pictures `compare` writes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_BAR = 22  # label bar height in pixels
_GAP = 4  # between panels
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Panel:
    label: str  # e.g. "bicubic"; shortened to fit
    image: np.ndarray  # (H, W, 3) uint8 RGB
    note: str = ""  # e.g. "25.13 dB", right-aligned, never shortened


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.5) -> None:
    """White text with a dark outline, readable on any picture."""
    for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(img, text, (x, y), _FONT, scale, colour, thick, cv2.LINE_AA)


def side_by_side(panels: list[Panel]) -> np.ndarray:
    """One row: each panel under a bar with its label (panels of one height; a gap between them)."""
    h = max(p.image.shape[0] for p in panels)
    width = sum(p.image.shape[1] for p in panels) + _GAP * (len(panels) - 1)
    out = np.full((h + _BAR, width, 3), 32, np.uint8)
    x = 0
    for p in panels:
        ph, pw = p.image.shape[:2]
        out[_BAR:_BAR + ph, x:x + pw] = p.image
        note_w = cv2.getTextSize(p.note, _FONT, 0.5, 1)[0][0] + 8 if p.note else 0
        _text(out, _fit(p.label, pw - note_w), x + 4, _BAR - 7)
        if p.note:
            _text(out, p.note, x + pw - note_w, _BAR - 7)
        x += pw + _GAP
    return out


def split_screen(left: Panel, right: Panel) -> np.ndarray:
    """The left half of one picture and the right half of the other, a line between, labels in the corners."""
    if left.image.shape != right.image.shape:
        raise ValueError(f"split screen needs two pictures of one size: {left.image.shape} vs {right.image.shape}")
    out = left.image.copy()
    w = out.shape[1]
    out[:, w // 2:] = right.image[:, w // 2:]
    out[:, w // 2 - 1:w // 2 + 1] = 255
    _text(out, _fit(left.label, w // 2 - 8), 6, 18)
    size = cv2.getTextSize(_fit(right.label, w // 2 - 8), _FONT, 0.5, 1)[0][0]
    _text(out, _fit(right.label, w // 2 - 8), w - size - 6, 18)
    return out


def _fit(label: str, width: int) -> str:
    """The label shortened with an ellipsis until it fits `width` pixels."""
    while len(label) > 4 and cv2.getTextSize(label, _FONT, 0.5, 1)[0][0] > width - 8:
        label = label[:-2] + "~"
    return label


def crop(img: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """x, y, w, h in this image's pixels (clipped to it); None: the whole image."""
    if box is None:
        return img
    x, y, w, h = box
    return img[max(0, y):y + h, max(0, x):x + w]
