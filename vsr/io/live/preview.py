"""The live preview: an OpenCV window with the upscaled picture (optionally beside a bicubic upscale) and the
live figures."""

from __future__ import annotations

import os
import sys

import numpy as np

from vsr.errors import ConfigError


def display_problem() -> str | None:
    """Why a preview window cannot open here, or None when it can: a message naming settings in braces, for a
    `VSRError`."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("{display} needs a screen, but DISPLAY and WAYLAND_DISPLAY are unset (headless?); watch in a browser "
                "with {preview_http} 127.0.0.1:8080, or record with {outputs}")
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and "NONE" in gui[0].upper():
        return ("{display} needs OpenCV with GUI support, but this OpenCV has none (opencv-python-headless); "
                "install opencv-python")
    return None


def compose_preview(upscaled: np.ndarray, source: np.ndarray, text: str, side_by_side: bool = False,
                    max_width: int = 1920) -> np.ndarray:
    """The BGR picture the preview shows: [bicubic | model] when side by side, the figures drawn on top."""
    import cv2

    img = upscaled
    if side_by_side:
        h, w = upscaled.shape[:2]
        img = np.hstack([cv2.resize(source, (w, h), interpolation=cv2.INTER_CUBIC), upscaled])
    if img.shape[1] > max_width:
        f = max_width / img.shape[1]
        img = cv2.resize(img, (max_width, round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(img[..., ::-1])
    for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined so it reads on any picture
        cv2.putText(bgr, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, thick, cv2.LINE_AA)
    if side_by_side:
        cv2.putText(bgr, "bicubic | model", (8, bgr.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


class PreviewWindow:
    """An OpenCV window with the upscaled picture (optionally beside a bicubic upscale) and the live figures."""

    def __init__(self, title: str = "vsr live", side_by_side: bool = False, max_width: int = 1920) -> None:
        import cv2

        self.cv2 = cv2
        self.title = title
        self.side_by_side = side_by_side
        self.max_width = max_width
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise ConfigError(f"cannot open a preview window ({str(exc).strip().splitlines()[-1]})") from None

    def show(self, upscaled: np.ndarray, source: np.ndarray, text: str) -> bool:
        """Draw one frame; returns False when the user asked to quit (q, Esc, or closed the window)."""
        cv2 = self.cv2
        cv2.imshow(self.title, compose_preview(upscaled, source, text, self.side_by_side, self.max_width))
        return self.poll()

    def poll(self) -> bool:
        """Handle window events (also between frames, so a slow model leaves the window responsive);
        False when the user asked to quit."""
        cv2 = self.cv2
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except self.cv2.error:
            pass


__all__ = ["PreviewWindow", "compose_preview", "display_problem"]
