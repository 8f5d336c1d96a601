"""One console line: login, the command shell, paging, questions and file uploads.

Sans-I/O like the protocol cores: `receive_data(data, now)` takes what the serial line
delivered, `data_to_send()` gives what to write back, `get_timer()`/`handle_timer(now)` carry
the idle timeout and the upload timers on the one clock.  The transport (transport.py) only
moves bytes; tests can drive a session directly or through a pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .commands import CommandError, CommandTree, registry
from .debugging import DebugTopic, RateLimiter
from .lineedit import Cancel, Complete, Help, LineEditor, Submit
from .services import ConsoleServices
from .uploads import UploadJob
from .users import UserError, UserStore

log = logging.getLogger("pribox.console")

IDLE_TIMEOUT = 600.0
DRAIN_SECONDS = 1.0          # after an upload, ignore the sender's leftovers this long
MAX_PENDING_OUTPUT = 16384   # debug output is dropped, not queued, beyond this serial backlog
DEFAULT_LENGTH = 24
DEFAULT_WIDTH = 80


@dataclass
class Ask:
    """A handler's question: the answer goes to `on_answer`, which returns more output."""
    prompt: str
    on_answer: Callable[[str], Any]
    secret: bool = False


@dataclass
class StartUpload:
    batch: bool                       # True: YMODEM batch; False: XMODEM into `name`
    name: str = "upload.bin"
    use_crc: bool = True


@dataclass
class Background:
    """A handler's long job (RAUC installing, netlink queries): `run(progress)` is awaited on
    the console's loop; each `progress(line)` shows at once, then what it returns, then the
    prompt.  Ctrl-C gives the prompt back and leaves the job running unseen."""
    run: Callable[[Callable[[str], None]], Awaitable[Any]]
    title: str = "command"


@dataclass
class OffLoop:
    """A handler's blocking step (validating and committing a configuration: parsing, fsync):
    `work()` runs in a worker thread so the event loop never waits for it, then `then(result)`
    on the loop gives what is shown.  A session with no loop runs both in place."""
    work: Callable[[], Any]
    then: Callable[[Any], Any] = lambda result: result


@dataclass
class Logout:
    message: str = ""


@dataclass
class CommandContext:
    session: "ConsoleSession"
    services: ConsoleServices
    now: float

    @property
    def admin(self) -> bool:
        return self.session.role == "admin"


class ConsoleSession:
    def __init__(self, services: ConsoleServices, users: UserStore, *,
                 tree: CommandTree = registry, line: str = "con0",
                 idle_timeout: float = IDLE_TIMEOUT, max_line: int = 256,
                 pending_output: Callable[[], int] = lambda: 0,
                 wakeup: Callable[[], None] = lambda: None):
        self.services = services
        self.users = users
        self.tree = tree
        self.idle_timeout = idle_timeout
        self.pending_output = pending_output   # bytes the transport has not written yet
        self.wakeup = wakeup                   # output appeared outside receive/timer calls
        self._typeahead = b""                  # input that arrived while a slow step ran off the loop
        self.info = services.sessions.open(line)
        self.info.last_input = services.clock.now()
        self.history: list[str] = []
        self.editor = LineEditor(max_length=max_line, history=self.history)
        self.terminal_length = DEFAULT_LENGTH
        self.user: str | None = None
        self.role: str | None = None
        self.debug: dict[str, Any] = {}        # topic name -> bus subscription
        self._limiter = RateLimiter(now=services.clock.now())
        self._out = bytearray()
        self._mode = "login"
        self._pending_user = ""
        self._first_password = ""
        self._ask: Ask | None = None
        self._more: deque[str] = deque()
        self._upload: UploadJob | None = None
        self._drain_until: float | None = None
        self._idle_deadline: float | None = None
        self._held_debug = 0
        self._job: asyncio.Task | None = None
        self._start_login(services.clock.now(), banner=True)

    # ---- sans-I/O surface -------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        self._out += self.editor.take_output()
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        timers = [t for t in (self._idle_deadline, self._drain_until,
                              self._upload.get_timer() if self._upload else None)
                  if t is not None]
        return min(timers) if timers else None

    def receive_data(self, data: bytes, now: float) -> None:
        self.info.last_input = now
        if self.user is not None:
            self._idle_deadline = now + self.idle_timeout if self.idle_timeout else None
        index = 0
        while index < len(data):
            if self._mode == "upload":
                self._upload_input(data[index:], now)
                return
            if self._mode == "drain":
                self._drain_until = now + DRAIN_SECONDS
                return
            byte = data[index]
            index += 1
            if self._mode == "checking":        # typed ahead while a slow step runs off the loop
                self._typeahead += data[index - 1:]
                return
            if self._mode == "busy":
                self._busy_key(byte, now)
            elif self._mode == "more":
                self._more_key(byte, now)
            else:
                self._editor_key(byte, now)

    def handle_timer(self, now: float) -> None:
        if self._upload is not None and not self._upload.finished:
            self._out += self._upload.handle_timer(now)
            self._check_upload(now)
        if self._drain_until is not None and now >= self._drain_until:
            self._drain_until = None
            self._finish_upload(now)
        if self._idle_deadline is not None and now >= self._idle_deadline \
                and self._mode not in ("upload", "drain"):
            minutes = self.idle_timeout / 60
            self._write(f"\r\n% Idle for {minutes:g} minute{'s' if minutes != 1 else ''}, "
                        f"logged out\r\n")
            self._logout(now)

    def close(self) -> None:
        self._stop_debug()
        if self._upload is not None:
            self._upload.abort()
        self.services.sessions.close(self.info)

    # ---- output helpers ---------------------------------------------------------------------
    def write(self, text: str) -> None:
        """For handlers: text shown before what they return (e.g. instructions)."""
        self._write(text)

    def _write(self, text: str) -> None:
        self._out += self.editor.take_output()
        self._out += text.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii", "replace")

    @property
    def prompt(self) -> str:
        return f"{self.services.hostname}{'#' if self.role == 'admin' else '>'}"

    def _prompt(self) -> None:
        self._mode = "shell"
        self.editor.start(self.prompt)

    # ---- login ------------------------------------------------------------------------------
    def _start_login(self, now: float, *, banner: bool = False) -> None:
        if banner:
            self._write(f"\r\n{self.services.hostname} - pribox {self.services.version}\r\n")
        if self.users.empty:
            self._write("\r\nNo users are configured on this box: set the password of the "
                        "'admin' user\r\n(at least 8 characters; there is no default password).\r\n")
            self._mode = "first_password"
            self.editor.start("New admin password: ", echo=False)
            return
        self._write("\r\nUser Access Verification\r\n\r\n")
        self._mode = "username"
        self.editor.start("Username: ", help_key=False, record=False)

    def _login_line(self, line: str, now: float) -> None:
        if self._mode == "first_password":
            if not line:
                self._start_login(now)  # Enter to wake the console: ask again
                return
            self._first_password = line
            self._mode = "first_repeat"
            self.editor.start("Repeat admin password: ", echo=False)
        elif self._mode == "first_repeat":
            first, self._first_password = self._first_password, ""
            if line != first:
                self._write("% The passwords differ, try again\r\n")
                self._start_login(now)
                return
            self._off_loop(lambda: self.users.set_password("admin", line, role="admin"), self._first_password_set)
        elif self._mode == "username":
            name = line.strip()
            if not name:
                self.editor.start("Username: ", help_key=False, record=False)
                return
            self._pending_user = name
            self._mode = "password"
            self.editor.start("Password: ", echo=False)
        elif self._mode == "password":
            name = self._pending_user
            refused = self.users.refused(name, now)
            if refused is not None:
                self._login_checked(refused)
                return
            self._off_loop(lambda: self.users.check_password(name, line),
                           lambda good: self._login_checked(
                               self.users.record_login(name, good, self.services.clock.now())))

    def _off_loop(self, slow: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run `slow` (password hashing, validating and writing a configuration: tens of ms) in
        a worker thread so the event loop — the D-channels' service, the other consoles, the
        APIs — never waits for it; `then(result)` runs back on the loop, and what was typed
        meanwhile is taken up after it.  A session driven by hand, with no loop, runs it in place."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            try:
                result = slow()
            except UserError as exc:
                result = exc
            then(result)
            return
        self._mode = "checking"

        async def run() -> None:
            try:
                result = await asyncio.to_thread(slow)
            except UserError as exc:
                result = exc
            if self._mode == "checking":
                then(result)
                typed, self._typeahead = self._typeahead, b""
                if typed:
                    self.receive_data(typed, self.services.clock.now())
                self.wakeup()

        loop.create_task(run(), name="console off-loop step")

    def _first_password_set(self, result: Any) -> None:
        now = self.services.clock.now()
        if isinstance(result, UserError):
            self._write(f"% {result}\r\n")
        else:
            self._write("Password for 'admin' set.\r\n")
        self._start_login(now)

    def _login_checked(self, result) -> None:
        now = self.services.clock.now()
        if not result.ok:
            self._write(result.message + "\r\n")
            self._start_login(now)
            return
        self.user, self.role = result.user, result.role
        self.info.user, self.info.logged_in_at = result.user, now
        self._idle_deadline = now + self.idle_timeout if self.idle_timeout else None
        self._write("\r\n")
        self._prompt()

    def _logout(self, now: float) -> None:
        self._job = None  # a job still running finishes unseen
        self._stop_debug()
        self.user = self.role = None
        self.info.user = self.info.logged_in_at = None
        self._idle_deadline = None
        self._ask = None
        self._more.clear()
        self.history.clear()
        self.terminal_length = DEFAULT_LENGTH
        self.editor.width = DEFAULT_WIDTH
        self._start_login(now, banner=True)

    # ---- the shell --------------------------------------------------------------------------
    def _editor_key(self, byte: int, now: float) -> None:
        action = self.editor.key(byte)
        if action is None:
            return
        if isinstance(action, Cancel):
            self._write("^C\r\n")
            self._ask = None
            if self.user is not None:
                self._prompt()
            else:
                self._start_login(now)
            return
        if isinstance(action, Submit):
            if action.noise:
                self._write(f"% Ignored {action.noise} control or non-ASCII "
                            f"byte{'s' if action.noise != 1 else ''} in that line\r\n")
            if self._mode == "shell":
                self._run_line(action.line, now)
            elif self._mode == "ask":
                ask, self._ask = self._ask, None
                assert ask is not None
                self._show(self._call(lambda: ask.on_answer(action.line)), now)
            else:
                self._login_line(action.line, now)
            return
        if self._mode != "shell":
            return
        if isinstance(action, Help):
            self._write("\r\n")
            options = self.tree.help(action.before_cursor, self._context(now))
            if not options:
                self._write("% Unrecognized command\r\n")
            width = max((len(w) for w, _ in options), default=0)
            for word, text in options:
                self._write(f"  {word.ljust(width)}  {text}".rstrip() + "\r\n")
            self.editor.redraw()
        elif isinstance(action, Complete):
            self._complete(action.before_cursor, now)

    def _complete(self, before_cursor: str, now: float) -> None:
        words = self.tree.complete(before_cursor, self._context(now))
        partial = "" if not before_cursor or before_cursor[-1].isspace() else before_cursor.split()[-1]
        if len(words) == 1:
            self.editor.insert(words[0][len(partial):] + " ")
            return
        if not words:
            self._out += b"\x07"
            return
        common = _common_prefix(words)
        if len(common) > len(partial):
            self.editor.insert(common[len(partial):])
            return
        self._write("\r\n" + "  ".join(words) + "\r\n")
        self.editor.redraw()

    def _context(self, now: float) -> CommandContext:
        return CommandContext(self, self.services, now)

    def _run_line(self, line: str, now: float) -> None:
        try:
            parsed = self.tree.parse(line)
        except CommandError as exc:
            column = None if exc.column is None else len(self.prompt) + exc.column
            if column is not None and (not self.editor.width or column < self.editor.width - 1):
                self._write(" " * column + "^\r\n")  # off screen on a long line: words only
            self._write(f"% {exc}\r\n")
            self._prompt()
            return
        if parsed is None:
            self._prompt()
            return
        if parsed.node.admin and self.role != "admin":
            self._write(f"% '{' '.join(parsed.path)}' needs an admin user\r\n")
            self._prompt()
            return
        ctx = self._context(now)
        self._show(self._call(lambda: parsed.node.handler(ctx, parsed.args)), now)

    def _call(self, thunk: Callable[[], Any]) -> Any:
        try:
            return thunk()
        except (ValueError, UserError) as exc:
            return f"% {exc}"
        except Exception as exc:  # a broken handler must never take the console down
            log.exception("console command failed")
            return f"% Command failed: {type(exc).__name__}: {exc}"

    def _show(self, result: Any, now: float) -> None:
        """Display what a handler returned and go back to the prompt (or on to what it asked)."""
        if isinstance(result, Ask):
            self._ask = result
            self._mode = "ask"
            self.editor.start(result.prompt, echo=not result.secret, help_key=False, record=False)
            return
        if isinstance(result, Logout):
            if result.message:
                self._write(result.message + "\r\n")
            self._logout(now)
            return
        if isinstance(result, StartUpload):
            self._start_upload(result, now)
            return
        if isinstance(result, Background):
            self._start_background(result)
            return
        if isinstance(result, OffLoop):
            def shown(value: Any) -> None:
                failed = isinstance(value, str) and value.startswith("% ")
                self._show(value if failed else self._call(lambda: result.then(value)), self.services.clock.now())
            self._off_loop(lambda: self._call(result.work), shown)
            return
        if result is None:
            self._prompt()
            return
        text = result if isinstance(result, str) else "\n".join(result)
        lines = text.split("\n")
        page = self.terminal_length - 1
        if self.terminal_length == 0 or len(lines) <= page:
            self._write("\n".join(lines) + "\r\n")
            self._prompt()
            return
        self._write("\n".join(lines[:page]) + "\r\n")
        self._more = deque(lines[page:])
        self._more_prompt()

    # ---- paging -----------------------------------------------------------------------------
    def _more_prompt(self) -> None:
        self._mode = "more"
        self._out += b" --More-- "

    def _more_key(self, byte: int, now: float) -> None:
        self._out += b"\r" + b" " * 10 + b"\r"  # erase the --More-- prompt
        if byte == 0x20:
            count = self.terminal_length - 1
        elif byte in (0x0D, 0x0A):
            count = 1
        elif byte in (ord("q"), ord("Q"), 0x03, 0x1B):
            self._more.clear()
            self._prompt()
            return
        else:
            self._out += b"\x07"
            self._more_prompt()
            return
        chunk = [self._more.popleft() for _ in range(min(count, len(self._more)))]
        if chunk:
            self._write("\n".join(chunk) + "\r\n")
        if self._more:
            self._more_prompt()
        else:
            self._prompt()

    # ---- debug output between prompts -------------------------------------------------------
    def start_debug(self, topic: DebugTopic) -> bool:
        if topic.name in self.debug:
            return False
        def on_event(event, topic=topic):
            self._debug_event(topic, event)
        self.debug[topic.name] = [self.services.bus.subscribe(kind, on_event) for kind in topic.kinds]
        return True

    def stop_debug(self, name: str) -> bool:
        subs = self.debug.pop(name, None)
        for sub in subs or ():
            sub.cancel()
        return subs is not None

    def _stop_debug(self) -> None:
        for name in list(self.debug):
            self.stop_debug(name)

    def _debug_event(self, topic: DebugTopic, event) -> None:
        now = self.services.clock.now()
        if not self._limiter.allow(now):
            return
        if self._mode != "shell" or self.pending_output() > MAX_PENDING_OUTPUT:
            # A pager, a question or an upload owns the screen, or the line is backed up.
            self._held_debug += 1
            return
        try:
            text = topic.format(event)
        except Exception as exc:
            text = f"{type(event).__name__} (cannot format: {type(exc).__name__}: {exc})"
        stamp = _uptime_stamp(getattr(event, "time", now) - self.services.started_at)
        self.editor.hide()
        dropped = self._limiter.take_suppressed() + self._held_debug
        self._held_debug = 0
        if dropped:
            self._write(f"% {dropped} debug message{'s' if dropped != 1 else ''} not shown "
                        f"(rate limit {self._limiter.rate:g}/s, screen busy or line backed up)\r\n")
        self._write(f"*{stamp}: {text}\r\n")
        self.editor.redraw()
        self.wakeup()

    # ---- long jobs ----------------------------------------------------------------------------
    def _start_background(self, job: Background) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a session driven by hand, outside the box's event loop
            self._write(f"% '{job.title}' runs on the box's event loop; this console has none\r\n")
            self._prompt()
            return
        self._mode = "busy"

        def progress(line: str) -> None:
            if self._job is task:
                self._write(line + "\r\n")
                self.wakeup()

        async def run() -> None:
            result = await self._await_job(job, progress)
            if self._job is task:
                self._job = None
                self._mode = "shell"
                self._show(result, self.services.clock.now())
                self.wakeup()

        task = loop.create_task(run(), name=f"console {job.title}")
        self._job = task

    async def _await_job(self, job: Background, progress: Callable[[str], None]) -> Any:
        try:
            return await job.run(progress)
        except (ValueError, UserError) as exc:
            return f"% {exc}"
        except Exception as exc:  # a broken job must never take the console down
            log.exception("console %s failed", job.title)
            return f"% Command failed: {type(exc).__name__}: {exc}"

    def _busy_key(self, byte: int, now: float) -> None:
        if byte == 0x03:  # Ctrl-C: the prompt back; the job carries on unseen
            self._job = None
            self._write("^C\r\n% Still running in the background; its output is not shown\r\n")
            self._prompt()

    # ---- uploads ----------------------------------------------------------------------------
    def _start_upload(self, request: StartUpload, now: float) -> None:
        folder = self.services.upload_dir
        protocol = "YMODEM" if request.batch else "XMODEM"
        self._write(f"Ready to receive by {protocol} into {folder}.\r\n"
                    f"Start the {protocol} send in your terminal program now "
                    f"(Ctrl-X Ctrl-X cancels).\r\n")
        self._mode = "upload"
        self._upload = UploadJob(folder, batch=request.batch, now=now, name=request.name,
                                 use_crc=request.use_crc)
        self._out += self._upload.start()

    def _upload_input(self, data: bytes, now: float) -> None:
        assert self._upload is not None
        self._out += self._upload.receive(data, now)
        self._check_upload(now)

    def _check_upload(self, now: float) -> None:
        if self._upload is not None and self._upload.finished and self._mode == "upload":
            # Give the terminal program a moment to leave its transfer window (and a failed
            # sender to stop) before the summary and the prompt are shown.
            self._mode = "drain"
            self._drain_until = now + DRAIN_SECONDS

    def _finish_upload(self, now: float) -> None:
        results = self._upload.results if self._upload is not None else []
        self._upload = None
        self._write("\r\n" + "\n".join(results or ["% No file received"]) + "\r\n")
        self._idle_deadline = now + self.idle_timeout if self.idle_timeout else None
        self._prompt()


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    i = 0
    while i < len(first) and first[i] == last[i]:
        i += 1
    return first[:i]


def _uptime_stamp(seconds: float) -> str:
    seconds = max(0.0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
