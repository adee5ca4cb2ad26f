"""Text subtitles between container formats: SubRip (Matroska), mov_text (MP4/MOV) and WebVTT (WebM).

Each container holds its own text format; the cue text and timing carry over, styling does not (mov_text keeps
plain text: SubRip/WebVTT tags such as <i> are removed).
"""

from __future__ import annotations

import re

TEXT_CODECS = {"subrip", "mov_text", "webvtt"}
TARGET_BY_FORMAT = {"mp4": "mov_text", "mov": "mov_text", "matroska": "subrip", "webm": "webvtt"}
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def cue_text(codec: str, payload: bytes) -> str | None:
    """The text of one subtitle packet, or None for an empty cue (mov_text fills gaps with those)."""
    if codec == "mov_text":
        if len(payload) < 2:
            return None
        n = int.from_bytes(payload[:2], "big")
        text = payload[2: 2 + n].decode("utf-8", errors="replace")
    else:
        text = payload.decode("utf-8", errors="replace")
    return text if text.strip() else None


def cue_payload(codec: str, text: str) -> bytes:
    if codec == "mov_text":
        data = _TAGS.sub("", text).encode("utf-8")[:65535]
        return len(data).to_bytes(2, "big") + data
    return text.encode("utf-8")
