"""What the engine and every flow may say about the help desk.

Where to turn (an office's contact from the profile), the "Talk to a person" button,
and passing typed text to the chat's open case. The engine uses them as the flows do,
so they live beside ``bot.flow``, not among the flows (``bot/conversations``).
"""

from __future__ import annotations

from bot.flow import Context
from bot.types import Reply, Text
from core import cases
from core.i18n import N_
from core.models import CaseStatus
from core.profiles import Office

# -- offices a reply sends the user to ---------------------------------------------------

OFFICE_NAMES: dict[Office, str] = {
    "registration": N_("the registration office"),
    "helpdesk": N_("the helpdesk"),
    "alumni_centre": N_("the alumni centre"),
}


def contact_text(ctx: Context, office: Office) -> str:
    """ "Contact <office>: phone, hours, page.", from the profile's entry for ``office``.

    Without an entry the office is named alone: "Please contact the helpdesk."
    """
    contact = ctx.services.profile.contacts.get(office)
    if contact is None:
        return ctx._("Please contact {office}.", office=ctx._(OFFICE_NAMES[office]))
    details: list[str] = []
    if contact.phone:
        details.append(ctx._("phone {phone}", phone=contact.phone))
    if contact.hours:
        details.append(contact.hours.get(ctx.locale))
    if contact.url:
        details.append(contact.url)
    name = contact.name.get(ctx.locale)
    if not details:
        text = ctx._("Please contact {office}.", office=name)
    else:
        separator = "，" if ctx.locale.startswith("zh") else ", "
        text = ctx._(
            "Please contact {office}: {details}.", office=name, details=separator.join(details)
        )
    return sentences(ctx, text, contact.note.get(ctx.locale) if contact.note else "")


def sentences(ctx: Context, *parts: str) -> str:
    """Sentences as one paragraph: a space between them in English, none in Chinese."""
    return ("" if ctx.locale.startswith("zh") else " ").join(part for part in parts if part)


# -- a person at the help desk ----------------------------------------------------------------

HANDOFF_FLOW = "handoff"  # core.cases.FLOW: the "Talk to a person" flow
TALK_TO_A_PERSON = N_("Talk to a person")


def offer_person(ctx: Context) -> tuple[str, str]:
    """The "Talk to a person" button, for a flow that ends without helping (no match)."""
    return (f"flow:{HANDOFF_FLOW}", ctx._(TALK_TO_A_PERSON))


# -- the help desk's open case ------------------------------------------------------------

END_CASE = N_("End the conversation with the help desk")


async def relay_to_case(ctx: Context, text: str) -> list[Reply] | None:
    """Pass what the user typed at the menu to their open case; None if there is none."""
    case = await cases.open_case_of(ctx.session, ctx.incoming.channel, ctx.incoming.chat_id)
    if case is None or case.status == CaseStatus.CLOSED:
        return None
    now = ctx.services.clock.now()
    ctx.flow = cases.FLOW
    if not await cases.add_user_message(
        ctx.session, case, text, profile=ctx.services.profile, now=now
    ):
        ctx.audit("case_message", "rate_limited", case=case.id)
        return [
            Text(
                ctx._(
                    "You are sending messages faster than the help desk can read them. "
                    "Please wait a minute; that message was not passed on."
                )
            )
        ]
    return [
        ctx.choices(
            ctx._("Passed on to the help desk (case #{case}).", case=case.id),
            [(f"flow:{cases.RATING_FLOW}", ctx._(END_CASE))],
        )
    ]
