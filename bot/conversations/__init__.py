"""The flows. Importing this package registers each one for the menu."""

from bot.conversations import password, student_id  # noqa: F401
