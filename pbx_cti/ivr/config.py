"""The [ivr] section of the box's file, and loading the flow files it names.

    [ivr]
    flows = ["flows/main.toml"]          # relative to the configuration file
    prompt_dir = "/var/lib/pribox/prompts"

With no flow listed the box runs the packaged default flow (default/main.toml).  A flow is
known by its file name without ".toml" ("main"); the dial plan names flows that way.
`pribox config check` loads every listed flow against the prompt directory and reports each
flow's own errors as `flows/main.toml:23: node "menu": field ...`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from firmware.config.schema import Checker, Field, ListOf, Path as PathType, Table

from .flow import Flow, FlowError, load_flow_file, load_flow_text

DEFAULT_PROMPT_DIR = "/var/lib/pribox/prompts"
DEFAULT_FLOW_NAME = "main"

IVR_TABLE = Table({
    "flows": Field(ListOf(PathType("a flow file path (relative to this configuration file)"), unique=True), ()),
    "prompt_dir": Field(PathType("the prompt directory (on writable storage)"), DEFAULT_PROMPT_DIR),
})


def config_dir(config) -> Path:
    """Where relative paths of the configuration start: the file's directory (the current
    directory for a text that came from no file), or the store's copy of a commit's files."""
    return config.base_dir


def prompt_dir(config) -> Path:
    return config_dir(config) / config.ivr.prompt_dir


def flow_paths(config) -> dict[str, Path]:
    """Flow name -> file, in the order the configuration lists them."""
    base = config_dir(config)
    return {Path(p).stem: base / p for p in config.ivr.flows}


def load_flows(config, *, check_prompts: bool = True) -> dict[str, Flow]:
    """Every configured flow (or the packaged default), validated; raises FlowError with the
    issues of all files."""
    directory = prompt_dir(config) if check_prompts else None
    paths = flow_paths(config)
    if not paths:
        return {DEFAULT_FLOW_NAME: default_flow(directory)}
    flows, issues = {}, []
    for name, path in paths.items():
        try:
            flows[name] = load_flow_file(path, prompt_dir=directory)
        except FlowError as exc:
            issues += exc.issues
    if issues:
        raise FlowError(issues)
    return flows


def default_flow(prompt_directory: Path | None = None) -> Flow:
    text = resources.files(__package__).joinpath("default", "main.toml").read_text(encoding="utf-8")
    return load_flow_text(text, "pbx_cti/ivr/default/main.toml", prompt_dir=prompt_directory)


def check_ivr_section(config, checker: Checker) -> None:
    """A section check: every listed flow file validates (its issues keep its own file:line),
    and no two flows share a name."""
    if config.ivr is None:
        return
    seen: dict[str, int] = {}
    for index, written in enumerate(config.ivr.flows):
        name = Path(written).stem
        if name in seen:
            checker.report(("ivr", "flows", index), f'a second flow named "{name}" (flows are known by their file '
                                                    f"name; ivr.flows[{seen[name]}] has it already)")
            continue
        seen[name] = index
        path = config_dir(config) / written
        if not path.is_file():
            checker.report(("ivr", "flows", index), f"no flow file {path}")
            continue
        try:
            flow = load_flow_file(path, prompt_dir=prompt_dir(config))
        except FlowError as exc:
            for issue in exc.issues:
                checker.report_elsewhere(issue)
        else:
            checker.warnings.extend(flow.warnings)


__all__ = ["IVR_TABLE", "check_ivr_section", "load_flows", "default_flow", "flow_paths", "prompt_dir"]
