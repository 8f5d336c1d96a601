"""The console's own commands; layers add theirs to the same registry (see commands.py)."""

from __future__ import annotations

import platform
import time

from .commands import Arg, CommandTree, int_range, registry
from .debugging import debug_topics, register_debug_topic
from .session import Ask, CommandContext, Logout, OffLoop, StartUpload
from .users import ROLES, USER_NAME


def undebug_all(ctx: CommandContext, args: dict) -> str:
    for name in list(ctx.session.debug):
        ctx.session.stop_debug(name)
    return "All possible debugging has been turned off"


def show_debugging(ctx: CommandContext, args: dict) -> str:
    if not ctx.session.debug:
        return "No debugging is on"
    return "\n".join(f"  {debug_topics[name].help} debugging is on" for name in sorted(ctx.session.debug))


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    parts = []
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return ", ".join(parts)


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def show_version(ctx: CommandContext, args: dict) -> str:
    s = ctx.services
    return "\n".join([
        f"pribox E1/PRI gateway firmware, version {s.version}",
        f"{s.hostname} uptime is {_duration(ctx.now - s.started_at)}",
        f"Python {platform.python_version()} on {platform.system()} {platform.release()} "
        f"{platform.machine()}",
    ])


def show_running_config(ctx: CommandContext, args: dict) -> str:
    text = ctx.services.running_config().rstrip("\n")
    return "Building configuration...\n\nCurrent configuration:\n" + text + "\nend"


def show_clock(ctx: CommandContext, args: dict) -> str:
    wall = ctx.services.wall_time()
    stamp = time.strftime("%H:%M:%S", time.gmtime(wall))
    millis = int((wall % 1) * 1000)
    return f"{stamp}.{millis:03d} UTC {time.strftime('%a %b %d %Y', time.gmtime(wall))}"


def show_users(ctx: CommandContext, args: dict) -> str:
    lines = ["    Line       User             Logged in   Idle"]
    for info in ctx.services.sessions.lines:
        mark = "*" if info is ctx.session.info else " "
        user = info.user or "(not logged in)"
        since = _hms(ctx.now - info.logged_in_at) if info.logged_in_at is not None else "-"
        lines.append(f"{mark}   {info.line:<10} {user:<16} {since:>9}   {_hms(ctx.now - info.last_input)}")
    return "\n".join(lines)


def show_history(ctx: CommandContext, args: dict) -> str:
    # The line being run is already in the history; IOS shows it too.
    return "\n".join(f"  {line}" for line in ctx.session.history[-20:])


def show_services(ctx: CommandContext, args: dict) -> str:
    status = getattr(ctx.services, "service_status", None)
    if status is None:
        return "% Not running under the daemon (pribox run): no services to show"
    return status()


def terminal_length(ctx: CommandContext, args: dict) -> None:
    ctx.session.terminal_length = args["lines"]
    return None


def terminal_width(ctx: CommandContext, args: dict) -> None:
    ctx.session.editor.width = args["columns"]
    return None


def exit_console(ctx: CommandContext, args: dict) -> Logout:
    return Logout(f"{ctx.session.user} logged out")


def reload(ctx: CommandContext, args: dict) -> Ask:
    def answer(text: str):
        if text.strip().lower() not in ("", "y", "yes", "confirm"):
            return "% Reload cancelled"
        ctx.services.reload()
        return "Reloading the box..."
    return Ask("Proceed with reload? [confirm]", answer)


def upload_ymodem(ctx: CommandContext, args: dict) -> StartUpload:
    return StartUpload(batch=True)


def upload_xmodem(ctx: CommandContext, args: dict) -> StartUpload:
    return StartUpload(batch=False, name=args["name"], use_crc=args["check"] != "checksum")


def _file_name(text: str) -> str:
    if not text or "/" in text or text.startswith(".") or not text.isprintable():
        raise ValueError("a plain file name, without '/' or a leading '.'")
    return text


def username(ctx: CommandContext, args: dict) -> Ask:
    name, role = args["name"], args["role"]
    users = ctx.session.users

    def first(password: str) -> Ask:
        def second(again: str) -> str:
            if again != password:
                return "% The passwords differ; nothing changed"
            users.set_password(name, password, role=role)
            return f"Password of {name} set ({users.role(name)})"
        return Ask("Repeat password: ", second, secret=True)
    return Ask(f"New password for {name}: ", first, secret=True)


def _config(ctx: CommandContext):
    service = ctx.services.config
    if service is None:
        raise ValueError("No configuration service on this console: run the console inside "
                         "the daemon (pribox run) to edit the configuration")
    return service


def configure_show(ctx: CommandContext, args: dict) -> str:
    return _config(ctx).candidate().rstrip("\n")


def configure_diff(ctx: CommandContext, args: dict) -> str:
    return _config(ctx).diff().rstrip("\n") or "No changes against the running configuration"


def configure_replace(ctx: CommandContext, args: dict) -> Ask:
    service = _config(ctx)
    lines: list[str] = []

    def next_line(text: str):
        if text.strip() == "end":
            service.replace("\n".join(lines) + "\n")
            problems = service.check()
            summary = f"Candidate replaced ({len(lines)} lines); "
            if problems:
                return "\n".join([summary + "it has problems:"] + [f"% {p}" for p in problems])
            return summary + "it is valid: `configure commit` applies it"
        lines.append(text)
        return Ask("", next_line)

    ctx.session.write("Enter the new configuration; end with a line holding only 'end' "
                      "(Ctrl-C abandons it).\n")
    return Ask("", next_line)


def configure_check(ctx: CommandContext, args: dict) -> str:
    problems = _config(ctx).check()
    return "\n".join(f"% {p}" for p in problems) if problems else "Candidate configuration is valid"


def configure_commit(ctx: CommandContext, args: dict) -> OffLoop:
    service = _config(ctx)
    minutes, user = args["minutes"], ctx.session.user or ""
    store_commit = getattr(service, "store_commit", None)
    wall_now = getattr(service, "wall_clock", None)
    stamp = wall_now() if wall_now is not None else None     # read on the loop: its clock lives there

    def work():
        problems = service.check()
        if problems:
            return "\n".join(["% Not committed: the candidate has problems"] + [f"% {p}" for p in problems])
        # Validation and the fsynced write run off the loop; applying it (a reload) on it.
        return service.commit(minutes, user) if store_commit is None else store_commit(minutes, user, stamp)

    def then(result):
        return result if isinstance(result, str) else service.applied(result, "Committed as commit")

    return OffLoop(work, then)


def configure_confirm(ctx: CommandContext, args: dict) -> str:
    return _config(ctx).confirm()


def configure_rollback(ctx: CommandContext, args: dict) -> str:
    return _config(ctx).rollback(args["commit"], ctx.session.user or "")


def configure_discard(ctx: CommandContext, args: dict) -> str:
    _config(ctx).discard()
    return "Candidate configuration discarded"


def configure_history(ctx: CommandContext, args: dict) -> str:
    return "\n".join(_config(ctx).history()) or "No commits yet"


def install(tree: CommandTree) -> None:
    tree.describe("show", "Show running system information")
    tree.add("show version", show_version, help="Firmware version and uptime")
    tree.add("show running-config", show_running_config, help="The configuration in use")
    tree.add("show clock", show_clock, help="Date and time (UTC)")
    tree.add("show users", show_users, help="Console lines and who is logged in")
    tree.add("show history", show_history, help="Commands typed in this session")
    tree.add("show services", show_services, help="The box's services: state, restarts, health")
    tree.add("show debugging", show_debugging, help="Debug output turned on in this session")
    tree.describe("terminal", "Set terminal line parameters")
    tree.add("terminal length", terminal_length, help="Lines per screen before --More--",
             args=[Arg("lines", "0 turns paging off, else 2-512", parse=_terminal_lines)])
    tree.add("terminal width", terminal_width, help="Columns; longer lines scroll sideways",
             args=[Arg("columns", "0 never scrolls, else 24-512", parse=_terminal_columns)])
    tree.describe("debug", "Show events of the box live on this console")
    tree.describe("undebug", "Turn debugging off")
    tree.add("undebug all", undebug_all, help="Turn all debugging off")
    tree.add("exit", exit_console, help="Log out of the console")
    tree.add("logout", exit_console, help="Log out of the console")
    tree.add("reload", reload, help="Restart the box", admin=True)
    tree.describe("upload", "Receive a file (firmware) over this serial line")
    tree.add("upload ymodem", upload_ymodem, admin=True,
             help="YMODEM batch: the sender gives file names and sizes")
    tree.add("upload xmodem", upload_xmodem, admin=True, help="XMODEM into one named file",
             args=[Arg("name", "file name in the upload folder", parse=_file_name),
                   Arg("check", "crc (default) or checksum for old senders",
                       choices=("crc", "checksum"), optional=True)])
    tree.add("username", username, admin=True, help="Add a console user or change a password",
             args=[Arg("name", "user name", parse=_user_name),
                   Arg("role", "admin or operator (default: keep, or operator when new)",
                       choices=ROLES, optional=True)])
    tree.describe("configure", "Edit, check, commit and roll back the configuration")
    tree.add("configure show", configure_show, help="The candidate configuration", admin=True)
    tree.add("configure diff", configure_diff, help="Candidate against running", admin=True)
    tree.add("configure replace", configure_replace, admin=True,
             help="Paste a whole new candidate configuration, ending with 'end'")
    tree.add("configure check", configure_check, help="Validate the candidate", admin=True)
    tree.add("configure commit", configure_commit, admin=True,
             help="Apply the candidate; with minutes, roll back unless confirmed in time",
             args=[Arg("minutes", "confirm within this many minutes", parse=int_range(1, 60),
                       optional=True)])
    tree.add("configure confirm", configure_confirm, help="Keep a commit made with minutes",
             admin=True)
    tree.add("configure rollback", configure_rollback, admin=True,
             help="Run an earlier commit's configuration again",
             args=[Arg("commit", "commit id from configure history (default: the previous)",
                       parse=int_range(1, 10 ** 9), optional=True)])
    tree.add("configure discard", configure_discard, help="Drop uncommitted changes", admin=True)
    tree.add("configure history", configure_history, help="Committed configurations", admin=True)
    register_debug_topic("events", "All events on the bus", tree=tree)


def _user_name(text: str) -> str:
    if not USER_NAME.match(text):
        raise ValueError("1-32 lower-case letters, digits, '_', '.' or '-', starting with a "
                         "letter or '_'")
    return text


def _terminal_columns(text: str) -> int:
    value = int_range(0, 512)(text)
    if 0 < value < 24:
        raise ValueError("expected 0 (never scroll) or 24 to 512")
    return value


def _terminal_lines(text: str) -> int:
    value = int_range(0, 512)(text)
    if value == 1:
        raise ValueError("expected 0 (no paging) or 2 to 512")
    return value


install(registry)
