"""The LINE rich menu: the main menu drawn with Pillow in each language, and its setup.

Each area is a postback (``m:<flow>`` or ``m:/command``) that the adapter turns into
the same step as the chat menu's button. The titles come from the catalogs; the CJK
glyphs from Noto Sans CJK (Debian's fonts-noto-cjk, installed by ``.ci/run``) or the
font the settings name.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from linebot.v3.messaging import (
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from PIL import Image, ImageDraw, ImageFont

from bot.adapters.line_messages import MAX_LABEL, MENU, MENU_NAMES
from bot.flow import menu_flows
from core.i18n import N_, Translator

WIDTH, HEIGHT = 2500, 1686  # LINE's large rich menu
COLUMNS = 2
DEBIAN_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CHAT_BAR = N_("Menu")
BACKGROUND, LINES, INK = "#f5f7fa", "#c9d1dc", "#1f2d3d"


def items(t: Translator) -> list[tuple[str, str]]:
    """(postback target, title) of each area: the menu's flows, language and help."""
    flows = [(f.name, t._(f.title)) for f in menu_flows()]
    return [*flows, ("/language", t._(N_("Language / 語言"))), ("/help", t._(N_("Help")))]


def load_font(path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path`` (or Debian's Noto Sans CJK), its Traditional Chinese face."""
    path = path or DEBIAN_FONT
    if not path.exists():
        raise FileNotFoundError(
            f"no font at {path}: install fonts-noto-cjk or set HELPDESK_LINE_MENU_FONT"
        )
    for index in range(16):  # a collection (.ttc) holds one face per region
        try:
            font = ImageFont.truetype(str(path), size, index=index)
        except OSError:
            break
        if "TC" in (font.getname()[0] or ""):
            return font
    return ImageFont.truetype(str(path), size)


def _grid(count: int) -> list[tuple[int, int, int, int]]:
    rows = math.ceil(count / COLUMNS)
    width, height = WIDTH // COLUMNS, HEIGHT // rows
    return [((n % COLUMNS) * width, (n // COLUMNS) * height, width, height) for n in range(count)]


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    # Words for English; characters for Chinese, which has no spaces.
    tokens = text.split(" ") if " " in text else list(text)
    joiner = " " if " " in text else ""
    for token in tokens:
        candidate = f"{line}{joiner}{token}" if line else token
        if draw.textlength(candidate, font=font) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = token
    lines.append(line)
    return lines


def render(t: Translator, font_path: Path | None = None) -> bytes:
    """The menu image (PNG) with each title in its area."""
    entries = items(t)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = load_font(font_path, 72)
    for (x, y, w, h), (_target, title) in zip(_grid(len(entries)), entries, strict=True):
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=LINES, width=4)
        lines = _wrap(draw, title, font, w - 120)
        line_height = 90
        top = y + (h - line_height * len(lines)) // 2
        for n, line in enumerate(lines):
            draw.text(
                (x + w // 2, top + n * line_height + line_height // 2),
                line,
                font=font,
                fill=INK,
                anchor="mm",
            )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def request(t: Translator, locale: str) -> RichMenuRequest:
    """The rich menu's areas: each a postback into the flow or command it shows."""
    entries = items(t)
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=x, y=y, width=w, height=h),
            action=PostbackAction(
                label=title[:MAX_LABEL], data=MENU + target, display_text=title[:300]
            ),
        )
        for (x, y, w, h), (target, title) in zip(_grid(len(entries)), entries, strict=True)
    ]
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=MENU_NAMES[locale],
        chat_bar_text=t._(CHAT_BAR)[:14],
        areas=areas,
    )
