"""Image quality (PSNR/SSIM on Y), MATLAB-compatible bicubic resizing, the SR evaluation protocol, cost counting."""
