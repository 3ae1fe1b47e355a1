"""Django's test runner, recording each test's outcome as JSON in
``FRAMEWORK_SUITE_OUTCOMES`` (Django's suite has no machine-readable report)."""

from __future__ import annotations

import json
import os
import unittest
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from django.test.runner import DiscoverRunner

_Exc = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_WORST = ["passed", "skipped", "xfailed", "xpassed", "failed", "error"]


class RecordingResult(unittest.TextTestResult):
    # One per process: Django may build a result per suite part; the file is the union.
    outcomes: ClassVar[dict[str, str]] = {}

    def _record(self, test: unittest.TestCase, outcome: str) -> None:
        before = self.outcomes.get(test.id(), "passed")
        self.outcomes[test.id()] = max(before, outcome, key=_WORST.index)

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test: unittest.TestCase, err: _Exc) -> None:
        super().addFailure(test, err)
        self._record(test, "failed")

    def addError(self, test: unittest.TestCase, err: _Exc) -> None:
        super().addError(test, err)
        self._record(test, "error")

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped")

    def addExpectedFailure(self, test: unittest.TestCase, err: _Exc) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "xfailed")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "xpassed")

    def addSubTest(
        self, test: unittest.TestCase, subtest: unittest.TestCase, err: _Exc | None
    ) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._record(test, "failed" if failed else "error")

    def stopTestRun(self) -> None:
        super().stopTestRun()
        Path(os.environ["FRAMEWORK_SUITE_OUTCOMES"]).write_text(json.dumps(self.outcomes, indent=1))


class RecordingRunner(DiscoverRunner):  # type: ignore[misc]
    def get_resultclass(self) -> Any:
        return RecordingResult
