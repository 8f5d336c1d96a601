"""Long console commands (Background jobs): progress as it comes, the result, then the prompt;
Ctrl-C gives the prompt back; a failing job prints its reason and the console carries on."""

import asyncio

from firmware.console.builtin import install as install_builtin_commands
from firmware.console.commands import CommandTree
from firmware.console.session import Background
from tests.appliance.test_console import box_on_pty


def tree_with_jobs(release: asyncio.Event, finished: list):
    tree = CommandTree()
    install_builtin_commands(tree)

    def slow(ctx, args):
        async def run(progress):
            progress("step 1 of 2")
            await release.wait()
            progress("step 2 of 2")
            finished.append(True)
            return "slow job done"
        return Background(run, "slow")

    def broken(ctx, args):
        async def run(progress):
            progress("looking...")
            raise ValueError("the widget is not plugged in")
        return Background(run, "broken")

    tree.add("slow", slow, help="a job that waits")
    tree.add("broken", broken, help="a job that fails")
    return tree


def test_background_jobs_show_progress_and_can_be_left_with_ctrl_c(tmp_path):
    async def main():
        release, finished = asyncio.Event(), []
        async with box_on_pty(tmp_path, tree=tree_with_jobs(release, finished)) as box:
            await box.login()
            box.term.send("slow\r")
            await box.term.expect("step 1 of 2\r\n")
            release.set()
            out = await box.term.expect("pribox#")
            assert out.endswith("step 2 of 2\r\nslow job done\r\npribox#")

            release.clear()
            box.term.send("slow\r")
            await box.term.expect("step 1 of 2\r\n")
            assert "pribox#" not in await box.term.settle(0.1)   # typing waits for the job
            box.term.send("\x03")
            out = await box.term.expect("pribox#")
            assert "% Still running in the background; its output is not shown" in out
            out = await box.run("broken")
            assert "looking...\r\n% the widget is not plugged in\r\n" in out
            release.set()
            await asyncio.sleep(0.05)
            assert len(finished) == 2 and "step 2" not in await box.term.settle(0.1)
    asyncio.run(main())


def test_a_session_driven_without_an_event_loop_says_so_and_carries_on(tmp_path):
    from tests.appliance.test_console_session import logged_in_session

    session, clock, _ = logged_in_session(tmp_path, tree=tree_with_jobs(asyncio.Event(), []))
    session.receive_data(b"slow\r", clock.now())
    out = session.data_to_send()
    assert b"% 'slow' runs on the box's event loop; this console has none\r\nbox#" in out
    session.receive_data(b"show clock\r", clock.now())
    assert session.data_to_send().endswith(b"box#")
