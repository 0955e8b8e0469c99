"""The two kinds of failure the program tells apart.

- ``UserError``: the user's mistake (a bad file, an empty mask, a parameter out of range, a model that cannot be
  had). Its message is one line that says what is wrong and what to do; the CLI prints it and exits with code 2,
  the app shows it as gr.Error. It is a ValueError, so ``except ValueError`` callers keep working.
- ``ContractViolation``: a result whose pixels outside the mask differ from the input's. That is never the
  user's fault: it is a bug, and the entry point that found it fails closed (no image is returned or written).

Anything else that escapes is an internal error: logged with its traceback (one logger per module) and shown to
the user as a short "internal error" line.
"""

from __future__ import annotations


class UserError(ValueError):
    """Invalid input or a request that cannot be served; the message is one line meant for the user."""


class ContractViolation(RuntimeError):
    """A result changed pixels outside the mask; the entry point refuses to return or write it."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line (whitespace collapsed, at most ``limit`` characters)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
