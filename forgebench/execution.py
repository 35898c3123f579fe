"""Running units of work: the backends every stage hands its units to.

A unit is a plain module-level function and its arguments (:class:`Unit`): explicit
inputs (paths, settings, arrays) and outputs (the files it writes atomically, and a small
return value), so it runs in this process, in a worker process or on another machine
alike. A stage lists its units, drops those whose outputs exist, and calls
:func:`run_units` with the backend of its config (:func:`backend_for`, config section
``execution``):

- ``local`` with ``workers: 1``: every unit in the main process;
- ``local`` with more workers (the default: one per CPU core, one torch/OpenMP thread
  each): a pool of worker processes on this machine (:mod:`concurrent.futures`, started
  with ``spawn``), kept for the whole run, started early by the stage verbs
  (:meth:`Backend.start`); with ``gpus_per_worker`` > 0 each worker sees its own GPUs
  (``CUDA_VISIBLE_DEVICES``);
- ``ray``: Ray tasks with ``num_cpus`` = ``threads_per_worker`` and ``num_gpus`` =
  ``gpus_per_worker``, on a local Ray started here (``ray.address: null``) or a cluster
  (``auto`` or ``ray://host:port``), resubmitted ``ray.max_retries`` times when a worker
  is lost. The run directory must be on storage every node sees.

:func:`run_units` counts finished units on a progress bar (with an ETA): inside
:func:`stage_progress` every call of a stage counts on the stage's one bar (its total grows
by each call's units, the current step shown beside it), otherwise each call has its own;
it returns one :class:`Outcome` per unit in the order given, whatever order they
finished in. A unit that raises one of the ``expected`` error types (a video that does
not decode) is an outcome with its error and the others go on; any other error also lets
the other units finish, and is then raised, naming the unit. Units seed themselves from
the run seed and what they concern, so results do not depend on the backend or the
number of workers (for a given ``threads_per_worker``).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import contextvars
import gc
import importlib.util
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from forgebench.config import ExecutionSettings
from forgebench.errors import ConfigError, ForgebenchError

__all__ = [
    "Unit",
    "Outcome",
    "OutcomeHandler",
    "UnitError",
    "Backend",
    "SerialBackend",
    "LocalBackend",
    "RayBackend",
    "backend_for",
    "costliest_first",
    "cpu_count",
    "run_units",
    "set_threads",
    "stage_progress",
]

#: Environment variables that size a process's thread pools (OpenMP, MKL, OpenBLAS).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Unit:
    """One unit of work.

    Attributes:
        key: what it is, for progress and messages (``"faces samples/real/c23/d0"``).
        fn: a module-level function (so another process can import it).
        args: its positional arguments (plain values, paths, settings models, arrays).
        kwargs: its keyword arguments.
        cost: its expected cost relative to the other units of the same call (e.g. the
            fakes that wait on a model, the fake sets a detector trains on). Worker
            backends start the costliest units first (longest-processing-time-first), so
            a long unit does not run alone at the end while the other workers idle;
            outcomes still come back in the order of the list, and no result depends on it.
    """

    key: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0

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


#: What :func:`run_units` calls with each :class:`Outcome` as its unit finishes.
OutcomeHandler = Callable[[Outcome], None]


class UnitError(RuntimeError):
    """A unit failed with an unexpected error; the message names the unit, and
    ``__cause__`` is the original exception."""


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def set_threads(n: int) -> None:
    """Size this process's torch and OpenMP thread pools to ``n`` threads: the environment
    variables for libraries started later (torch takes ``OMP_NUM_THREADS`` when it is first
    imported), ``torch.set_num_threads`` when torch is loaded already. Importing torch here
    would cost every worker process seconds, also those whose units never use it (the
    extract stage's)."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(int(n))
    torch = sys.modules.get("torch")
    if torch is not None:  # loaded already: resize its pool; else it reads OMP_NUM_THREADS when it starts
        torch.set_num_threads(int(n))


def _call(unit: Unit) -> Any:
    """Run one unit (in a worker process)."""
    return unit()


class Backend:
    """Where units run. Subclasses implement :meth:`run`.

    Attributes:
        workers: units that run at the same time.
        threads: torch / OpenMP threads of each worker.
    """

    workers: int = 1
    threads: int = 1

    @property
    def serial(self) -> bool:
        """Units run one after another in the main process (their own progress bars may show)."""
        return False

    def run(
        self, units: Sequence[Unit], bar: tqdm, announce: bool, on_outcome: OutcomeHandler | None = None
    ) -> list[Outcome]:
        """Run ``units``, calling ``on_outcome`` (in this process) and updating ``bar`` as each
        finishes; outcomes in the order given."""
        raise NotImplementedError

    def start(self, preload: Sequence[str] = ()) -> None:
        """Start the worker processes now rather than at the first :meth:`run`, each importing
        the modules ``preload`` names (those its units' functions live in) while this process
        goes on: the ``forgebench`` stage verbs call it before importing their stage, so the
        workers' start-up (an interpreter, seconds of imports) overlaps the main process's
        instead of following it. No-op for backends without a pool of their own (serial, Ray)
        and for a pool already started."""

    def close(self) -> None:
        """Release worker processes (no-op for the serial backend)."""


class SerialBackend(Backend):
    """Every unit in the main process, one after another, with ``threads`` torch threads."""

    def __init__(self, threads: int = 1) -> None:
        self.workers, self.threads = 1, int(threads)

    @property
    def serial(self) -> bool:
        return True

    def run(
        self, units: Sequence[Unit], bar: tqdm, announce: bool, on_outcome: OutcomeHandler | None = None
    ) -> list[Outcome]:
        torch = sys.modules.get("torch")
        if torch is None:  # not loaded (the extract stage): a unit that loads it reads OMP_NUM_THREADS (set_threads)
            return self._run(units, bar, announce, on_outcome)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._run(units, bar, announce, on_outcome)
        finally:
            torch.set_num_threads(before)

    def _run(
        self, units: Sequence[Unit], bar: tqdm, announce: bool, on_outcome: OutcomeHandler | None
    ) -> list[Outcome]:
        outcomes = []
        for unit in units:
            if announce:
                tqdm.write(f"[forgebench] {unit.key}")
            try:
                outcomes.append(Outcome(unit.key, unit()))
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded; run_units re-raises unexpected ones
                outcomes.append(Outcome(unit.key, error=exc))
            if on_outcome is not None:
                on_outcome(outcomes[-1])
            bar.update(1)
        return outcomes


def costliest_first(units: Sequence[Unit]) -> list[int]:
    """Indices of ``units`` by decreasing :attr:`Unit.cost` (list order among equal costs)."""
    return sorted(range(len(units)), key=lambda k: -units[k].cost)


def _init_worker(threads: int, gpus: Any, preload: Sequence[str] = ()) -> None:
    """Worker process start: thread pools sized, its own GPUs when it has some, and the
    ``preload`` modules imported (:meth:`Backend.start`)."""
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    set_threads(threads)
    atexit.register(gc.freeze)  # the last collection at exit walks every object for nothing: see forgebench.cli.main
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - only a head start: the unit that needs it imports it again and reports the error
            pass


def _started() -> None:
    """A no-op task: submitting one per worker makes the pool start all its processes."""


class LocalBackend(Backend):
    """A pool of ``workers`` processes on this machine (started with ``spawn`` on first use,
    kept until :meth:`close` or the end of the program).

    Args:
        workers: worker processes (>= 2).
        threads: torch / OpenMP threads of each.
        gpus_per_worker: GPUs of each worker (0 = none); worker ``k`` sees GPUs
            ``k * g .. k * g + g - 1`` of this machine's.
    """

    def __init__(self, workers: int, threads: int = 1, gpus_per_worker: float = 0.0) -> None:
        self.workers, self.threads, self.gpus_per_worker = int(workers), int(threads), float(gpus_per_worker)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _executor(self, preload: Sequence[str] = ()) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            ctx = mp.get_context("spawn")
            gpus = None
            if self.gpus_per_worker > 0:
                per = max(1, int(round(self.gpus_per_worker)))
                gpus = ctx.Manager().Queue()
                for k in range(self.workers):
                    gpus.put(",".join(str(k * per + i) for i in range(per)))
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self.threads, gpus, tuple(preload)),
            )
        return self._pool

    def start(self, preload: Sequence[str] = ()) -> None:
        if self._pool is None:
            pool = self._executor(preload)
            for _ in range(self.workers):  # the pool spawns a process per task while none is idle
                pool.submit(_started)

    def run(
        self, units: Sequence[Unit], bar: tqdm, announce: bool, on_outcome: OutcomeHandler | None = None
    ) -> list[Outcome]:
        pool = self._executor()
        futures = {pool.submit(_call, units[k]): k for k in costliest_first(units)}
        outcomes: list[Outcome | None] = [None] * len(units)
        try:
            for future in cf.as_completed(futures):
                k = futures[future]
                error = future.exception()
                outcomes[k] = Outcome(units[k].key, None if error else future.result(), error)
                if announce:
                    tqdm.write(f"[forgebench] {'failed' if error else 'done'}: {units[k].key}")
                if on_outcome is not None:
                    on_outcome(outcomes[k])
                bar.update(1)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            self.close()
            raise
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayBackend(Backend):
    """Ray tasks (``pip install 'forgebench[ray]'``): ``num_cpus`` = ``threads``,
    ``num_gpus`` = ``gpus_per_worker``, ``max_retries`` for lost workers; joins the Ray this
    process already started (``ray.init`` in a notebook or a test), else starts one
    (``address: null``) or connects to ``address``.

    Raises:
        ConfigError: Ray is not installed.
    """

    def __init__(
        self, threads: int = 1, gpus_per_worker: float = 0.0, address: str | None = None, max_retries: int = 3
    ) -> None:
        if importlib.util.find_spec("ray") is None:
            raise ConfigError("execution.backend: ray needs the ray package (pip install 'forgebench[ray]')")
        self.threads, self.gpus, self.address, self.max_retries = (
            int(threads),
            float(gpus_per_worker),
            address,
            int(max_retries),
        )
        self.workers = 0

    def _remote(self):
        import ray  # optional dependency (extra 'ray'): imported only when this backend runs

        if not ray.is_initialized():
            kwargs = {"address": self.address} if self.address else {"num_cpus": cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True, **kwargs)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))
        env = {"env_vars": {v: str(self.threads) for v in THREAD_VARIABLES}}
        return ray, ray.remote(_ray_call).options(
            num_cpus=self.threads,
            num_gpus=self.gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
            runtime_env=env,
        )

    def run(
        self, units: Sequence[Unit], bar: tqdm, announce: bool, on_outcome: OutcomeHandler | None = None
    ) -> list[Outcome]:
        ray, remote = self._remote()
        order = costliest_first(units)
        refs = [remote.remote(units[k], self.threads) for k in order]
        index = {ref: k for k, ref in zip(order, refs)}
        outcomes: list[Outcome | None] = [None] * len(units)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                k = index[ref]
                try:
                    outcomes[k] = Outcome(units[k].key, ray.get(ref))
                except ray.exceptions.RayTaskError as exc:
                    outcomes[k] = Outcome(units[k].key, error=exc.cause if exc.cause is not None else exc)
                except ray.exceptions.RayError as exc:  # the worker or node was lost max_retries + 1 times
                    outcomes[k] = Outcome(units[k].key, error=exc)
                if announce:
                    tqdm.write(f"[forgebench] {'failed' if outcomes[k].error else 'done'}: {units[k].key}")
                if on_outcome is not None:
                    on_outcome(outcomes[k])
                bar.update(1)
        return outcomes  # type: ignore[return-value]


def _ray_call(unit: Unit, threads: int) -> Any:
    """Run one unit in a Ray worker with its thread pools sized."""
    set_threads(threads)
    return unit()


_BACKENDS: dict[str, Backend] = {}


def backend_for(settings: ExecutionSettings | None) -> Backend:
    """The backend of an ``execution`` config section (one per distinct section and
    process, kept so a worker pool serves every stage of a run). ``None``: serial.

    ``workers: auto`` = the CPU cores divided by ``threads_per_worker`` (local), or the
    GPUs divided by ``gpus_per_worker`` when that is > 0. Under ``torchrun`` (several
    processes training together) units always run in the main process. (The ``forgebench``
    command sets its own threads to ``threads_per_worker`` too, so what a stage computes
    in the main process, the real reference of the score stage say, does not depend on
    the backend either.)

    Raises:
        ConfigError: ``backend: ray`` without Ray installed.
    """
    if settings is None:
        return SerialBackend(1)
    key = settings.model_dump_json()
    if key in _BACKENDS:
        return _BACKENDS[key]
    if settings.backend == "ray":
        backend: Backend = RayBackend(
            settings.threads_per_worker, settings.gpus_per_worker, settings.ray.address, settings.ray.max_retries
        )
    else:
        workers = settings.workers
        if workers == "auto":
            workers = max(1, cpu_count() // settings.threads_per_worker)
            if settings.gpus_per_worker > 0:
                workers = max(1, int(_gpu_count() // settings.gpus_per_worker))
        if workers == 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            backend = SerialBackend(settings.threads_per_worker)
        else:
            backend = LocalBackend(workers, settings.threads_per_worker, settings.gpus_per_worker)
    _BACKENDS[key] = backend
    return backend


def _gpu_count() -> int:
    import torch  # in the main process only, where torch is loaded anyway

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@atexit.register
def _close_all() -> None:
    for backend in _BACKENDS.values():
        backend.close()
    _BACKENDS.clear()


#: The bar of the stage running in this process (set by :func:`stage_progress`).
_STAGE_BAR: contextvars.ContextVar[tqdm | None] = contextvars.ContextVar("forgebench_stage_bar", default=None)


@contextlib.contextmanager
def stage_progress(stage: str, progress: bool = True, expected: int = 0):
    """One progress bar for a whole stage: every :func:`run_units` call inside the block
    adds its units to the bar's total and counts them as they finish in any worker, so the
    bar and its ETA cover the stage, with the current step (``"fake videos"``) beside it.

    Args:
        stage: the bar's label (``"generate"``).
        progress: show the bar (``False``: nothing is drawn, units still run).
        expected: units known in advance (the total grows past it when calls add more).

    Yields:
        the ``tqdm`` bar.
    """
    with tqdm(total=expected, desc=stage, unit="unit", disable=None if progress else True) as bar:
        token = _STAGE_BAR.set(bar)
        try:
            yield bar
        finally:
            _STAGE_BAR.reset(token)


def run_units(
    units: Sequence[Unit],
    desc: str,
    progress: bool = True,
    expected: tuple[type[BaseException], ...] = (),
    announce: bool = False,
    backend: Backend | None = None,
    on_outcome: OutcomeHandler | None = None,
) -> list[Outcome]:
    """Run ``units`` on ``backend`` and return their outcomes, in the order given.

    Args:
        units: the units (already filtered to those whose outputs are missing).
        desc: what the units do: the label of the call's own bar, or the step shown beside
            the stage's bar inside :func:`stage_progress`.
        progress: show the bar (inside :func:`stage_progress`, the stage's setting holds).
        expected: error types that mark a unit as failed (its :class:`Outcome` holds the
            error) without stopping the stage, such as ``MediaError``.
        announce: print each unit's key (serial: when it starts; in parallel: when it ends).
        backend: where to run (default: the main process, one thread).
        on_outcome: called in this process with each unit's :class:`Outcome` as the unit
            finishes (in the order they finish, failed ones included), so what the stage
            writes from a unit's result is written then, not after the last unit: the
            extract stage writes each video's face manifest there, and an interrupted stage
            keeps the videos done. An error it raises stops the stage.

    Returns:
        one :class:`Outcome` per unit.

    Raises:
        Exception: the first unexpected error, after every other unit has finished: the
            original forgebench error (it already names its file), or :class:`UnitError`
            naming the unit for anything else. ``KeyboardInterrupt`` stops at once.
    """
    backend = backend or SerialBackend(1)
    if not units:
        return []
    stage_bar = _STAGE_BAR.get()
    if stage_bar is not None:
        stage_bar.total = max(stage_bar.total or 0, stage_bar.n + len(units))
        stage_bar.set_postfix_str(desc, refresh=True)
        outcomes = backend.run(list(units), stage_bar, announce, on_outcome)
    else:
        with tqdm(total=len(units), desc=desc, unit="unit", disable=None if progress else True) as bar:
            outcomes = backend.run(list(units), bar, announce, on_outcome)
    for outcome in outcomes:
        if outcome.error is None or isinstance(outcome.error, expected):
            continue
        if isinstance(outcome.error, ForgebenchError):  # its message names the file already
            raise outcome.error
        raise UnitError(f"{outcome.key}: {type(outcome.error).__name__}: {outcome.error}") from outcome.error
    return outcomes
