"""The flows. Importing this package registers each one for the menu."""

from bot.conversations import student_id  # noqa: F401
