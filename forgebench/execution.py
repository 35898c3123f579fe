"""Running units of work: the backend every stage hands its units to.

A unit is a plain module-level function and its arguments (:class:`Unit`): explicit
inputs (paths, settings, arrays) and outputs (the files it writes atomically, and a small
return value), so it can run in this process or in another one. A stage lists its units,
drops those whose outputs exist, and calls :func:`run_units`, which runs them, shows one
progress bar counting finished units, and returns one :class:`Outcome` per unit in the
order given, whatever order they finished in.

A unit that raises one of the ``expected`` error types (a video that does not decode, a
video with no face) is an :class:`Outcome` with its error and the others go on; any other
error also lets the other units finish, and is then raised, naming the unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from forgebench.errors import ForgebenchError

__all__ = ["Unit", "Outcome", "UnitError", "run_units"]


@dataclass(frozen=True)
class Unit:
    """One unit of work.

    Attributes:
        key: what it is, for progress and messages (``"faces samples/real/c23/d0"``).
        fn: a module-level function (so another process can import it).
        args: its positional arguments (plain values, paths, settings models, arrays).
        kwargs: its keyword arguments.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


@dataclass
class Outcome:
    """What one unit gave: its ``value``, or the ``error`` it raised (then ``value`` is None).

    Attributes:
        key: the unit's key.
        value: the function's return value.
        error: the exception, when it failed.
    """

    key: str
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """The unit finished without error."""
        return self.error is None


class UnitError(RuntimeError):
    """A unit failed with an unexpected error; the message names the unit, and
    ``__cause__`` is the original exception."""


def run_units(units: Sequence[Unit], desc: str, progress: bool = True,
              expected: tuple[type[BaseException], ...] = (), announce: bool = False) -> list[Outcome]:
    """Run ``units`` and return their outcomes, in the order given.

    Args:
        units: the units (already filtered to those whose outputs are missing).
        desc: label of the progress bar (one bar per call, counting finished units).
        progress: show the bar.
        expected: error types that mark a unit as failed (its :class:`Outcome` holds the
            error) without stopping the stage; a forgebench ``ForgebenchError`` subclass
            such as ``MediaError`` or ``NoFaceError``.
        announce: print each unit's key when it starts (long units: models, videos).

    Returns:
        one :class:`Outcome` per unit.

    Raises:
        Exception: the first unexpected error, after every other unit has finished: the
            original forgebench error (it already names its file), or :class:`UnitError`
            naming the unit for anything else. ``KeyboardInterrupt`` stops at once.
    """
    outcomes: list[Outcome] = []
    for unit in tqdm(units, desc=desc, unit="unit", disable=None if progress and units else True):
        if announce:
            tqdm.write(f"[forgebench] {unit.key}")
        try:
            outcomes.append(Outcome(unit.key, unit()))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded; unexpected ones re-raised below
            outcomes.append(Outcome(unit.key, error=exc))
    for outcome in outcomes:
        if outcome.error is None or isinstance(outcome.error, expected):
            continue
        if isinstance(outcome.error, ForgebenchError):  # its message names the file already
            raise outcome.error
        raise UnitError(f"{outcome.key}: {type(outcome.error).__name__}: {outcome.error}") from outcome.error
    return outcomes
