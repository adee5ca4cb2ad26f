"""Device, precision, batching and tiling: tensors (N, 3, H, W) in [0, 1] in, upscaled tensors out."""
