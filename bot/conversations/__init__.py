"""The flows. Importing this package registers each one for the menu."""

from bot.conversations import (  # noqa: F401
    alumni_application,
    card,
    handoff,
    link,
    mailbox,
    mailbox_application,
    password,
    student_id,
)
