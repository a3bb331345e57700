"""The web app: the password page, the card verifier and the platform webhooks."""

from bot.web.app import create_app
from bot.web.security import install_log_redaction

__all__ = ["create_app", "install_log_redaction"]
