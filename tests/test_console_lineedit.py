"""The line editor alone: keys as screen/minicom/PuTTY send them."""

from firmware.console.lineedit import Cancel, Complete, Help, LineEditor, Submit


def type_keys(editor, data: bytes):
    actions = [a for a in (editor.key(b) for b in data) if a is not None]
    return actions


def line_after(keys: bytes, history=None) -> str:
    editor = LineEditor(history=history if history is not None else [])
    editor.start("> ")
    actions = type_keys(editor, keys + b"\r")
    assert isinstance(actions[-1], Submit)
    return actions[-1].line


def test_backspace_and_delete_both_erase():
    assert line_after(b"shoq\x7fw verx\x08") == "show ver"


def test_ctrl_a_e_and_arrows_move_the_cursor_for_inserts():
    assert line_after(b"how\x01s\x05 ver") == "show ver"
    assert line_after(b"shw\x1b[Do\x1b[C!") == "show!"
    assert line_after(b"sw\x1bODho\x1bOC") == "show"          # SS3 arrows (application mode)
    assert line_after(b"ow\x1b[Hsh\x1b[F.") == "show."          # Home / End


def test_kill_keys():
    assert line_after(b"garbage here\x15show") == "show"                # Ctrl-U: to the start
    assert line_after(b"show version extra\x17\x17version") == "show version"  # Ctrl-W: word
    assert line_after(b"show version\x01\x06\x06\x06\x06\x0b") == "show"  # Ctrl-K: to the end
    assert line_after(b"shxow\x02\x02\x02\x04") == "show"               # Ctrl-D: under cursor
    assert line_after(b"shxow\x1b[D\x1b[D\x1b[D\x1b[3~") == "show"      # Delete key


def test_history_up_down_and_draft_is_kept():
    def history():
        return ["show version", "show clock"]
    assert line_after(b"\x1b[A", history()) == "show clock"
    assert line_after(b"\x1b[A\x1b[A", history()) == "show version"
    assert line_after(b"draft\x1b[A\x1b[B", history()) == "draft"
    assert line_after(b"\x10\x10\x0e", history()) == "show clock"          # Ctrl-P / Ctrl-N
    kept = history()
    line_after(b"show users", kept)
    assert kept == ["show version", "show clock", "show users"]


def test_enter_as_cr_lf_or_crlf_gives_one_line_each():
    editor = LineEditor()
    editor.start("> ")
    actions = type_keys(editor, b"a\rb\nc\r\nd\r\n")
    assert [a.line for a in actions] == ["a", "b", "c", "d"]


def test_question_mark_and_tab_ask_for_help_and_completion():
    editor = LineEditor()
    editor.start("> ")
    assert type_keys(editor, b"sh ?") == [Help("sh ")]
    assert type_keys(editor, b"\t") == [Complete("sh ")]
    assert editor.text == "sh "


def test_ctrl_c_cancels():
    editor = LineEditor()
    editor.start("> ")
    assert type_keys(editor, b"show\x03") == [Cancel()]


def test_unknown_escape_sequences_and_noise_are_dropped_and_counted():
    editor = LineEditor()
    editor.start("> ")
    actions = type_keys(editor, b"sh\x1b[15~\x1b[1;5Pow\x00\x80\xff\x1bx\r")
    assert actions == [Submit("show", noise=3)]
    output = editor.take_output()
    assert output.count(b"\x07") == 1      # one bell for a burst of noise, not one per byte


def test_overlong_line_is_capped_with_a_message():
    editor = LineEditor(max_length=10)
    editor.start("> ")
    actions = type_keys(editor, b"x" * 25 + b"\r")
    assert actions == [Submit("x" * 10, truncated=15)]
    assert b"% Line too long: at most 10 characters, the rest is dropped" in editor.take_output()


def test_password_is_not_echoed_and_not_kept_in_history():
    history = []
    editor = LineEditor(history=history)
    editor.start("Password: ", echo=False)
    editor.take_output()
    actions = type_keys(editor, b"s3cret?\x1b[D\x7f!\r")
    assert actions == [Submit("s3cret!")]
    assert b"s3cret" not in editor.take_output()
    assert history == []


def test_echo_of_an_insert_in_the_middle_redraws_the_tail():
    editor = LineEditor()
    editor.start("> ")
    type_keys(editor, b"shw\x02")
    editor.take_output()
    type_keys(editor, b"o")
    assert editor.take_output() == b"ow\b"
