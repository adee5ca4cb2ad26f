"""`compare`: A/B pictures and videos for people who would rather look than read.

  panels   labelled panels side by side, a split screen, crops
  picture  one frame: bicubic, the models and the ground truth with eval's PSNR, as PNG
  video    a clip: bicubic and the model(s) side by side or split screen, as H.264
"""

from pipelines.compare.picture import NamedModel, write_picture
from pipelines.compare.video import LAYOUTS, write_video

__all__ = ["LAYOUTS", "NamedModel", "write_picture", "write_video"]
