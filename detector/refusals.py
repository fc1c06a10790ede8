"""Refusals raised by the pure modules (intake, archives): a stable code and an English message
marked for translation, which the Django side shows in the reader's language. No Django here."""

from __future__ import annotations

from collections.abc import Callable


def gettext_noop(message: str) -> str:
    """Mark ``message`` for makemessages without translating it; it is translated where shown."""
    return message


class Refusal(Exception):
    """Input refused by a pure module. ``code`` is stable; ``message`` is the English text.

    ``message`` is ``template % params`` (just ``template`` without params), so a caller can
    show it in another language with ``translated(gettext)``.
    """

    def __init__(self, code: str, message: str, params: dict | None = None):
        self.code = code
        self.template = message
        self.params = params
        self.message = message % params if params is not None else message
        super().__init__(self.message)

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The message in the active language, given a translation function such as Django's gettext."""
        text = gettext(self.template)
        return text % self.params if self.params is not None else text
