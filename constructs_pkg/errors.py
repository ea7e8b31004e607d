"""The error every invalid setting is reported with."""

from __future__ import annotations

from collections.abc import Sequence


class ValidationError(ValueError):
    """Shadow-test settings that SageMaker would refuse, all of them listed at once.

    ``problems`` holds one ``prop.path: what is wrong`` line per problem.
    """

    def __init__(self, construct_path: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{construct_path}: invalid shadow test settings:\n{listing}")
