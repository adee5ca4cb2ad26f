"""Image quality as SR papers report it: PSNR and SSIM on the luma (Y) of BT.601 YCbCr, borders cropped.

Inputs are images on the 0..255 scale (uint8, or float already rounded as the protocol requires), (H, W, 3)
RGB or (H, W) / (H, W, 1) gray. A gray image is the RGB image R = G = B = gray (what cv2.IMREAD_COLOR reads, as
BasicSR does) and goes through the same RGB -> Y formula, so its Y is 16 + 219/255 gray, not the gray itself.
"""

from __future__ import annotations

import numpy as np

from vsr.metrics.image_io import as_rgb

# MATLAB rgb2ycbcr (BT.601, studio range): Y = 16 + (65.481 R + 128.553 G + 24.966 B) for R, G, B in [0, 1].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma Y in 16..235 (float64, not rounded) of an RGB image on the 0..255 scale; gray is taken as (g, g, g)."""
    return 16.0 + as_rgb(np.asarray(img, dtype=np.float64)) @ _Y_WEIGHTS


def _crop(img: np.ndarray, crop: int) -> np.ndarray:
    return img[crop:-crop, crop:-crop] if crop > 0 else img


def _pair(sr: np.ndarray, hr: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != hr.shape:
        raise ValueError(f"images differ in shape: {sr.shape} vs {hr.shape}")
    return _crop(rgb_to_y(sr), crop), _crop(rgb_to_y(hr), crop)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two same-shape arrays (float64); inf when they are equal."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def psnr_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """PSNR on Y with `crop` pixels removed from every border (crop = scale in the SR protocol)."""
    y_sr, y_hr = _pair(sr, hr, crop)
    return psnr(y_sr, y_hr)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """The normalised 1-D Gaussian of SSIM (the 2-D window is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with g along both axes, keeping only positions where the window fits."""
    k = len(g)
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ g  # (H-k+1, W)
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g  # (H-k+1, W-k+1)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """SSIM (Wang et al. 2004) of two 2-D images: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03.

    Statistics are taken only where the whole window lies inside the image, and the SSIM map is averaged.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[0] < 11 or a.shape[1] < 11:
        raise ValueError(f"SSIM needs images of at least 11x11, got {a.shape}")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    g = gaussian_window()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a * mu_a
    var_b = _filter_valid(b * b, g) - mu_b * mu_b
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim_uniform(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM as scikit-image's `structural_similarity` computes it with its defaults (COMISR's evaluation uses it):
    a 7x7 uniform window, sample (co)variances (49/48), K1 0.01, K2 0.03 on `data_range`, the map averaged where
    the window fits."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[0] < 7 or a.shape[1] < 7:
        raise ValueError(f"SSIM needs images of at least 7x7, got {a.shape}")
    g = np.full(7, 1 / 7)
    norm = 49 / 48
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = norm * (_filter_valid(a * a, g) - mu_a * mu_a)
    var_b = norm * (_filter_valid(b * b, g) - mu_b * mu_b)
    cov = norm * (_filter_valid(a * b, g) - mu_a * mu_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """SSIM on Y with `crop` pixels removed from every border."""
    y_sr, y_hr = _pair(sr, hr, crop)
    return ssim(y_sr, y_hr)
