"""The flows. Importing this package registers each one for the menu."""

from bot.conversations import card, link, mailbox, password, student_id  # noqa: F401
