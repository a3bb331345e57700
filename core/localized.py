"""Texts an institution publishes in both languages the bot speaks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A frozen settings model that refuses unknown fields (a typo in a profile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(Strict):
    """A text the institution publishes, in both languages the bot speaks."""

    zh_TW: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, locale: str) -> str:
        return self.zh_TW if locale == "zh_TW" else self.en
