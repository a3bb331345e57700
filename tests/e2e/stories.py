"""What a user does the same way on every platform, for the LINE, Telegram and Slack
end-to-end tests: each runs these against its own stand-in and adds what only it does."""

from __future__ import annotations

from typing import Protocol

from bot.services import Services
from tests.factories import LIN_ID_NUMBER, LIN_STUDENT_ID
from tests.outbox import code_in, password_link_in
from tests.smtp import SmtpSink


class PlatformUser(Protocol):
    """A user of one platform's stand-in: types, presses buttons, reads the bot's texts."""

    async def say(self, text: str) -> None: ...

    async def press(self, label: str) -> None: ...

    def texts(self) -> str: ...


async def look_up_the_student_id(user: PlatformUser, *, menu: str) -> None:
    """Lin (``factories.add_lin``) finds his student ID from his ID number and birthday."""
    await user.say(menu)
    assert "Demo University" in user.texts()
    await user.press("Look up my student ID")
    await user.press("Master's programme")
    await user.say(LIN_ID_NUMBER)
    await user.say("85/01/02")
    assert f"Your student ID is {LIN_STUDENT_ID}." in user.texts()


async def forget_the_password(
    user: PlatformUser, services: Services, sink: SmtpSink, *, menu: str
) -> None:
    """Lin, with an account, asks for a reset link: it is mailed to his campus mailbox."""
    await user.say(menu)
    await user.press("I forgot my password")
    await user.say(LIN_STUDENT_ID)
    await user.say(LIN_ID_NUMBER)
    assert "a2******01@grad.demo.edu.tw" in user.texts()
    assert await services.mail_worker.run_once() == 1
    (mail,) = await sink.wait_for(1)
    assert mail["To"] == "a211300001@grad.demo.edu.tw"
    assert password_link_in(mail.get_content())


async def link_with_the_mailed_code(
    user: PlatformUser, services: Services, sink: SmtpSink, *, menu: str, flow: str, account: str
) -> None:
    """Choose ``flow``, which needs a linked chat, and link it to ``account`` with the code
    mailed to the account's campus mailbox."""
    await user.say(menu)
    await user.press(flow)
    await user.say(account)
    await services.mail_worker.run_once()
    (mail,) = await sink.wait_for(1)
    await user.say(code_in(mail.get_content()))
