"""An ``argparse.ArgumentParser`` that answers typos with "did you mean".

``img2img trian`` -> ``invalid choice: 'trian' (choose from ...); did you mean 'train'?`` and
``img2img train --stpes 8`` -> ``unrecognized arguments: --stpes 8 (--stpes: did you mean --steps?)``,
with the usage of the subcommand the flag was given to. Every usage error exits with status 2
(argparse's), like the commands' other usage errors.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import Any, Sequence

USAGE_ERROR = 2  # the exit status of every usage error (argparse's)

_INVALID_CHOICE = re.compile(r"invalid choice: (?P<q>['\"]?)(?P<word>.*?)(?P=q) \(choose from (?P<choices>.*)\)$")
_EXTRAS_PARSER = "_unrecognized_by"  # namespace attribute: the innermost parser that was left with arguments


def close_matches(word: str, candidates: Sequence[str]) -> list[str]:
    """The candidates closest to ``word``: the best match and those nearly as close."""
    matches = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    ratio = lambda c: difflib.SequenceMatcher(None, word, c).ratio()  # noqa: E731
    return [m for m in matches if ratio(m) >= ratio(matches[0]) - 0.1] if matches else []


class HelpfulParser(argparse.ArgumentParser):
    """``ArgumentParser`` with "did you mean" for unknown flags, subcommands and choices.

    Subparsers made by :meth:`add_subparsers` are of this class too. Unrecognized arguments
    are reported by the (sub)parser that could not place them, so the suggestions and the usage
    line are the subcommand's.
    """

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> tuple[Any, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)  # for the hints of a "required" error
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(namespace, _EXTRAS_PARSER):  # a subparser runs (and returns) first
            setattr(namespace, _EXTRAS_PARSER, self)
        return namespace, extras

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        parser = getattr(namespace, _EXTRAS_PARSER, self)
        if hasattr(namespace, _EXTRAS_PARSER):
            delattr(namespace, _EXTRAS_PARSER)
        if extras:
            parser.error(parser.unrecognized_message(extras))
        return namespace

    def unrecognized_message(self, extras: list[str]) -> str:
        hints = self.flag_hints(extras)
        return f"unrecognized arguments: {' '.join(extras)}" + (f" ({hints})" if hints else "")

    def flag_hints(self, args: Sequence[str]) -> str:
        """``"--stpes: did you mean --steps?"`` for each flag in ``args`` this parser does not know."""
        options = [option for option in self._option_string_actions if option.startswith("--")]
        hints = []
        for arg in args:
            flag = arg.split("=", 1)[0]
            if not flag.startswith("--") or len(flag) < 3 or any(option.startswith(flag) for option in options):
                continue  # not a long flag, or one argparse knows (abbreviations included)
            matches = close_matches(flag, options)
            if matches:
                hints.append(f"{flag}: did you mean {' or '.join(matches)}?")
        return "; ".join(hints)

    def error(self, message: str) -> Any:
        found = _INVALID_CHOICE.search(message)
        if found:
            choices = [c.strip().strip("'\"") for c in found["choices"].split(",")]
            matches = close_matches(found["word"], choices)
            if matches:
                message += f"; did you mean {' or '.join(repr(m) for m in matches)}?"
        elif message.startswith("the following arguments are required"):  # often a misspelt required flag
            hints = self.flag_hints(getattr(self, "_given", []))
            if hints:
                message += f" ({hints})"
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")
