"""The exception tree, translated to exit codes once, at the CLI edge (cli/_common.py `cli_errors`).

    EdgeevalError                 base of everything edgeeval raises on purpose (exit 1 unless below)
    ├── UserInputError            exit 2: the user's input is wrong (recipe, inventory, flags, ids)
    │   │                         carries .problems: one line each, naming file, line/field, fix
    │   └── RunNotFoundError      a run or variant id that is not in the store
    ├── DeviceError               exit 3: board or network fault (connect, auth, host key,
    │   │                         missing runtime, agent crash, timeout, link cut)
    │   ├── HostKeyError          unknown or changed host key (never auto-accepted)
    │   ├── ConnectError          unreachable, refused, banner/auth failure
    │   ├── TransferError         SFTP push/fetch failed or verification mismatch
    │   ├── RemoteCommandError    a command failed or was cut (exit status -1)
    │   ├── BoardProtocolError    what a board sent breaks the protocol or a bound
    │   ├── AgentError            the agent reported an exception (with remote traceback)
    │   └── MeterUnavailable      a power meter on the controller is missing or unreadable
    ├── BuildError                exit 1: a build tool failed on a valid recipe (a recipe's own
    │                             mistake is a UserInputError, found before any tool runs)
    └── StoreIntegrityError       exit 1: a stored blob no longer matches its sha256

The other boundary is the board: the agent's error events become AgentError in agentclient.py,
and any failure to evaluate what a board sent becomes BoardProtocolError in pipeline.py.
Gate failures are not exceptions: the deploy command turns them into exit code 1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_DEVICE_ERROR = 3


class EdgeevalError(Exception):
    exit_code = 1


class UserInputError(EdgeevalError):
    """One or more problems with what the user gave us; each is a one-line message."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BuildError(EdgeevalError):
    exit_code = 1


class DeviceError(EdgeevalError):
    """A board or network fault. `device` names the board when known."""

    exit_code = EXIT_DEVICE_ERROR

    def __init__(self, message: str, *, device: str | None = None, hint: str | None = None):
        from .scrub import scrub_text  # a board's words may carry secrets: masked before anyone sees them

        message, hint = scrub_text(message), scrub_text(hint)
        self.device = device
        self.hint = hint
        text = f"{device}: {message}" if device else message
        if hint:
            text = f"{text}\n  hint: {hint}"
        super().__init__(text)


class HostKeyError(DeviceError):
    pass


class RuntimeAbsent(DeviceError):
    """The board lacks a runtime every selected variant needs (e.g. llama.cpp for a GGUF): nothing broke,
    nothing was measured; a farm reports the job skipped, not retried."""


class ConnectError(DeviceError):
    pass


class TransferError(DeviceError):
    pass


class RemoteCommandError(DeviceError):
    pass


class BoardProtocolError(DeviceError):
    """What a board sent breaks the agent protocol or a bound: an overlong line, too many events,
    a job past its deadline, a number a job cannot produce. The board is broken or hostile."""


class AgentError(DeviceError):
    """The board agent raised; `remote_traceback` is its formatted traceback."""

    def __init__(self, message: str, *, device: str | None = None, remote_type: str = "",
                 remote_traceback: str = "", hint: str | None = None):
        from .scrub import scrub_text

        self.remote_type = remote_type
        # at most the last 200 lines of at most 1,000 characters each, scrubbed
        self.remote_traceback = scrub_text("\n".join(
            ln if len(ln) <= 1000 else ln[:1000] + f" [... {len(ln) - 1000:,} more characters]"
            for ln in (remote_traceback or "").splitlines()[-200:]))
        super().__init__(message, device=device, hint=hint)


class MeterUnavailable(DeviceError):
    """The meter (or its driver package) is not there; the message says why and what to do."""


class RunNotFoundError(UserInputError, LookupError):
    """A run or variant id that is not in this store."""


class StoreIntegrityError(EdgeevalError):
    """A stored blob no longer matches its sha256: the database was altered."""

    exit_code = 1
