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
    actions = type_keys(editor, b"sh\x1b[15~\x1b[1;5Pow\x13\x11\x00\x80\xff\x1bx\r")
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


def screen_after(output: bytes, width: int = 80) -> tuple[str, int]:
    """What one terminal row shows after `output` (CR, BS, ESC[K, printable), and the cursor."""
    row, col = [" "] * width, 0
    i = 0
    while i < len(output):
        b = output[i]
        if output[i:i + 3] == b"\x1b[K":
            row[col:] = [" "] * (width - col)
            i += 3
            continue
        if b == 0x0D:
            col = 0
        elif b == 0x08:
            col = max(0, col - 1)
        elif 0x20 <= b <= 0x7E:
            assert col < width - 1, "the cursor must never reach the last column (auto-wrap)"
            row[col] = chr(b)
            col += 1
        i += 1
    return "".join(row).rstrip(), col


def test_long_lines_scroll_sideways_within_the_terminal_width():
    editor = LineEditor(width=40)
    editor.start("box# ")
    text = "configure commit 10 " + "x" * 50
    for b in text.encode():
        editor.key(b)
    shown, col = screen_after(editor.take_output(), 40)
    assert shown.startswith("box# $") and shown.endswith("x")
    assert len(shown) <= 39 and col == len(shown)
    editor.key(0x01)                                   # Ctrl-A: back to the start
    editor.take_output()
    editor.hide()
    editor.redraw()
    shown, col = screen_after(editor.take_output(), 40)
    assert shown.startswith("box# configure commit 10 xx") and shown.endswith("$")
    assert col == len("box# ")
    assert type_keys(editor, b"\x05\r") == [Submit(text)]


def test_every_edit_leaves_the_screen_showing_the_line():
    editor = LineEditor(width=80)
    editor.start("> ")
    out = bytearray()
    for keys in (b"show vesrion", b"\x1b[D\x1b[D\x1b[D\x1b[D\x7f\x1b[Cs", b"\x01x\x02\x04",
                 b"\x05 extra\x17", b"\x01\x06\x06\x06\x06\x0b", b" version"):
        type_keys(editor, keys)
        out += editor.take_output()
        shown, col = screen_after(bytes(out))
        assert shown == ("> " + editor.text).rstrip() and col == 2 + editor._cursor
    assert editor.text == "show version"


from hypothesis import given, settings, strategies as st  # noqa: E402

EDIT_KEYS = [b"\x01", b"\x05", b"\x02", b"\x06", b"\x08", b"\x7f", b"\x15", b"\x0b", b"\x17",
             b"\x04", b"\x1b[D", b"\x1b[C", b"\x1b[H", b"\x1b[F", b"\x1b[3~", b"\x1b[A", b"\x1b[B"]


@settings(max_examples=400, deadline=None)
@given(keys=st.lists(st.one_of(st.sampled_from(EDIT_KEYS),
                               st.text(alphabet="abcdefghij klmnop-", min_size=1, max_size=30)
                               .map(str.encode)), max_size=40),
       width=st.sampled_from([0, 24, 40, 80]))
def test_the_screen_always_shows_the_line_and_the_cursor_where_it_is(keys, width):
    editor = LineEditor(width=width, history=["show version", "x" * 70])
    editor.start("pribox# ")
    out = bytearray(editor.take_output())
    for key in keys:
        type_keys(editor, key)
        out += editor.take_output()
    columns = width or 1000
    shown, col = screen_after(bytes(out), columns)
    cursor = editor._cursor
    if len("pribox# ") + len(editor.text) < columns:
        assert shown == ("pribox# " + editor.text).rstrip()
        assert col == len("pribox# ") + cursor
    else:
        offset = editor._offset
        window = shown[len("pribox# "):]
        assert col == len("pribox# ") + cursor - offset
        inner = editor.text[offset:offset + len(window)]
        assert all(a == b or a == "$" for a, b in zip(window, inner.ljust(len(window))))
