"""The C prompt player: queueing, looping, gain, mix/replace, pause, barge-in within one tick,
end events, many channels in one C call, and nothing a caller passes crashing it."""

import gc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsp import ffi, lib
from dsp.player import EndReason, Mode, Player, PlayerBank
from dsp.prompts import Prompt

TICK = 160  # 20 ms


def ramp(name, n, start=1):
    return Prompt(name, (np.arange(n) + start).astype(np.int16))


def run(player, ticks, fill=0, n=TICK):
    out = []
    for _ in range(ticks):
        block = np.full(n, fill, np.int16)
        player.process(block)
        out.append(block)
    return np.concatenate(out)


def test_queue_plays_items_back_to_back_across_tick_boundaries():
    player = Player()
    greeting, busy = ramp("greeting", 250, 1), ramp("busy", 100, 1000)
    first, second = player.play(greeting), player.play(busy)
    out = run(player, 3)
    assert np.array_equal(out[:250], greeting.samples)
    assert np.array_equal(out[250:350], busy.samples)
    assert (out[350:] == 0).all()  # nothing playing: the channel's audio is left alone
    assert [(e.item, e.reason) for e in player.events()] == [(first, EndReason.DONE),
                                                             (second, EndReason.DONE)]
    status = player.status()
    assert status.current_item is None and status.queued == 0


def test_end_events_say_which_prompt_how_much_and_why():
    player = Player()
    a, b = player.play(ramp("greeting", 200)), player.play(ramp("busy", 50))
    run(player, 2)
    events = player.events()
    assert [(e.item, e.prompt, e.samples_played, e.reason, e.digit) for e in events] == [
        (a, "greeting", 200, EndReason.DONE, None), (b, "busy", 50, EndReason.DONE, None)]
    assert player.events() == []


def test_looping_n_times_and_forever():
    player = Player()
    moh = ramp("moh", 70)
    item = player.play(moh, loops=3)
    out = run(player, 2)
    assert np.array_equal(out[:210], np.tile(moh.samples, 3)) and (out[210:] == 0).all()
    assert player.events()[0].samples_played == 210
    forever = player.play(moh, loops=0)
    out = run(player, 50)
    assert np.array_equal(out, np.tile(moh.samples, 50 * TICK // 70 + 1)[:out.size])
    assert player.events() == [] and player.status().current_item == forever
    player.stop()
    [event] = player.events()
    assert (event.item, event.reason, event.samples_played) == (forever, EndReason.STOPPED, 50 * TICK)
    assert item < forever


def test_skip_ends_only_the_current_item_stop_flushes_the_queue():
    player = Player()
    ids = [player.play(ramp(f"p{k}", 1000, 100 * k)) for k in range(4)]
    run(player, 1)
    player.skip()
    out = run(player, 1)
    assert np.array_equal(out, ramp("p1", 1000, 100).samples[:TICK])
    player.stop()
    assert (run(player, 1, fill=7) == 7).all()
    events = player.events()
    assert [(e.item, e.samples_played, e.reason) for e in events] == [
        (ids[0], TICK, EndReason.STOPPED), (ids[1], TICK, EndReason.STOPPED),
        (ids[2], 0, EndReason.STOPPED), (ids[3], 0, EndReason.STOPPED)]


def test_pause_holds_the_position():
    player = Player()
    prompt = ramp("p", 1000)
    player.play(prompt)
    run(player, 1)
    player.pause()
    assert (run(player, 3, fill=5) == 5).all()
    assert player.status().paused and player.status().position == TICK
    player.resume()
    assert np.array_equal(run(player, 1), prompt.samples[TICK:2 * TICK])


def test_gain_and_mix_saturate():
    player = Player()
    loud = Prompt("loud", np.full(TICK, 20000, np.int16))
    player.play(loud)
    player.set_mode("mix")
    block = np.full(TICK, 20000, np.int16)
    block[:10] = -30000
    player.process(block)
    assert (block[10:] == 32767).all() and (block[:10] == -10000).all()
    player.play(Prompt("quiet", np.full(TICK, 16000, np.int16)))
    player.set_mode(Mode.REPLACE)
    player.set_gain_db(-6.0206)
    player.process(block)
    assert (block == 8000).all()
    player.play(Prompt("neg", np.full(TICK, -16000, np.int16)))
    player.set_gain_db(12)
    player.process(block)
    assert (block == -32768).all()
    assert abs(player.status().gain_db - 12) < 0.01


def test_barge_in_by_flag_stops_within_the_tick_and_flushes_the_queue():
    player = Player()
    digit = player.link_barge_in_flag()
    greeting = player.play(ramp("greeting", 8000))
    busy = player.play(ramp("busy", 8000))
    run(player, 5)
    digit[0] = b"5"
    assert (run(player, 1, fill=-1) == -1).all()  # not one more prompt sample
    events = player.events()
    assert [(e.item, e.reason, e.digit, e.samples_played) for e in events] == [
        (greeting, EndReason.BARGE_IN, "5", 5 * TICK), (busy, EndReason.BARGE_IN, "5", 0)]


def test_a_held_key_does_not_barge_into_the_next_prompt_but_a_new_one_does():
    player = Player()
    digit = player.link_barge_in_flag()
    player.play(ramp("a", 8000))
    digit[0] = b"1"
    run(player, 1)
    assert player.events()[0].digit == "1"
    following = player.play(ramp("b", 8000))
    run(player, 3)               # key still held: the IVR's next prompt plays on
    assert player.events() == []
    digit[0] = b"\0"
    run(player, 1)
    digit[0] = b"#"
    run(player, 1)
    [event] = player.events()
    assert (event.item, event.digit, event.samples_played) == (following, "#", 4 * TICK)


def test_non_interruptible_prompt_ignores_digits():
    player = Player()
    digit = player.link_barge_in_flag()
    legal = player.play(ramp("legal notice", 400), interruptible=False)
    digit[0] = b"9"
    out = run(player, 3)
    assert np.array_equal(out[:400], ramp("x", 400).samples)
    assert [(e.item, e.reason) for e in player.events()] == [(legal, EndReason.DONE)]


def test_barge_in_through_a_c_probe_function():
    player = Player()
    cell = ffi.new("char[1]")
    player.link_barge_in(ffi.addressof(lib, "player_flag_probe"), cell)
    item = player.play(ramp("a", 8000))
    run(player, 2)
    cell[0] = b"*"
    run(player, 1)
    assert [(e.item, e.reason, e.digit) for e in player.events()] == [(item, EndReason.BARGE_IN, "*")]
    player.unlink_barge_in()
    player.play(ramp("b", 100))
    cell[0] = b"\0"
    run(player, 1)
    cell[0] = b"3"
    run(player, 1)
    assert player.events()[0].reason == EndReason.DONE


def test_many_channels_in_one_call():
    channels = 64
    players = [Player() for _ in range(channels)]
    prompts = [ramp(f"c{c}", 100 + 37 * c, c) for c in range(channels)]
    for player, prompt in zip(players, prompts):
        player.play(prompt)
    flags = [p.link_barge_in_flag() for p in players]
    bank = PlayerBank(players)
    block = np.zeros((channels, 2500), np.int16)
    flags[5][0] = b"0"  # this channel's caller pressed a digit before the tick
    bank.process(block)
    for c, prompt in enumerate(prompts):
        n = prompt.samples.size
        if c == 5:
            assert (block[c] == 0).all()
            continue
        assert np.array_equal(block[c, :n], prompt.samples) and (block[c, n:] == 0).all()
    reasons = [p.events()[0].reason for p in players]
    assert reasons.count(EndReason.BARGE_IN) == 1 and reasons[5] == EndReason.BARGE_IN


def test_prompt_samples_stay_alive_while_playing():
    player = Player()
    player.play(Prompt("temp", np.full(5000, 1234, np.int16)), loops=0)
    gc.collect()
    junk = [np.full(5000, -1, np.int16) for _ in range(50)]  # reuse freed memory, were it freed
    assert (run(player, 10) == 1234).all()
    del junk
    player.stop()
    player.events()
    assert player._playing == {}


def test_queue_limit_and_event_overflow_are_reported():
    player = Player()
    prompt = ramp("p", 10)
    for _ in range(lib.PLAYER_MAX_QUEUE):
        player.play(prompt)
    with pytest.raises(ValueError, match="queue already holds 16"):
        player.play(prompt)
    rounds = lib.PLAYER_MAX_EVENTS // lib.PLAYER_MAX_QUEUE + 2
    for _ in range(rounds):
        run(player, 1)
        for _ in range(lib.PLAYER_MAX_QUEUE):
            player.play(prompt)
    run(player, 1)
    ended = (rounds + 1) * lib.PLAYER_MAX_QUEUE
    assert player.status().lost_events == ended - lib.PLAYER_MAX_EVENTS
    assert len(player.events()) == lib.PLAYER_MAX_EVENTS
    assert player._playing == {}


@pytest.mark.parametrize("call, match", [
    (lambda p: p.play("greeting"), "prompt: expected a Prompt"),
    (lambda p: p.play(ramp("a", 5), loops=-1), "loops"),
    (lambda p: p.play(ramp("a", 5), loops=2**31), "loops"),
    (lambda p: p.play(ramp("a", 5), loops=1.5), "loops"),
    (lambda p: p.set_gain_db(13), "gain_db"),
    (lambda p: p.set_gain_db(float("nan")), "gain_db"),
    (lambda p: p.set_gain_db("loud"), "gain_db"),
    (lambda p: p.set_mode("loud"), "mode"),
    (lambda p: p.set_mode(7), "mode"),
    (lambda p: p.process(np.zeros(10, np.int32)), "amp: expected a numpy int16"),
    (lambda p: p.process([0] * 10), "amp: expected a numpy int16"),
    (lambda p: p.process(np.zeros((2, 10), np.int16)), "amp: expected 1 dimension"),
    (lambda p: p.process(np.zeros(20, np.int16)[::2]), "amp: expected a writable C-contiguous"),
    (lambda p: p.link_barge_in(lambda s: 0, None), "probe"),
    (lambda p: p.link_barge_in(ffi.new("int *"), ffi.new("char[1]")), "probe: expected a C function"),
    (lambda p: p.link_barge_in(ffi.addressof(lib, "dtmf_rx_current"), ffi.new("char[1]")),
     "probe_state: .* reads a struct dtmf_rx_state"),
    (lambda p: p.link_barge_in(ffi.addressof(lib, "player_flag_probe"), p.state), "probe_state"),
    (lambda p: p.link_barge_in(ffi.addressof(lib, "dtmf_rx"), ffi.new("char[1]")), "probe: expected"),
])
def test_bad_arguments_are_value_errors_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call(Player())


def test_bank_checks_its_block():
    bank = PlayerBank([Player(), Player()])
    with pytest.raises(ValueError, match="amp: expected 2 rows"):
        bank.process(np.zeros((3, 10), np.int16))
    with pytest.raises(ValueError, match="amp: expected 2 dimension"):
        bank.process(np.zeros(10, np.int16))
    with pytest.raises(ValueError, match="players"):
        PlayerBank([])
    twice = Player()
    with pytest.raises(ValueError, match="appears twice"):
        PlayerBank([twice, twice])


def test_empty_block_is_a_no_op():
    player = Player()
    player.play(ramp("a", 10))
    player.process(np.zeros(0, np.int16))
    assert player.status().position == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["play", "loop", "tick", "skip", "stop", "pause", "resume",
                                           "digit", "release", "events"]),
                          st.integers(1, 700)), max_size=40))
def test_random_operation_sequences_play_exactly_what_a_model_says(ops):
    """A Python model of the queue predicts every sample and every event."""
    player = Player()
    flag = player.link_barge_in_flag()
    queue: list[list] = []   # [item, samples, loops, position, played, loops_done]
    paused = False
    held = b"\0"
    expected_events = []
    for op, arg in ops:
        if op in ("play", "loop"):
            if len(queue) == lib.PLAYER_MAX_QUEUE:
                continue
            prompt = ramp(f"p{arg}", arg, arg)
            loops = 0 if op == "loop" else 1 + arg % 3
            queue.append([player.play(prompt, loops=loops), prompt.samples, loops, 0, 0, 0])
        elif op == "tick":
            block = np.full(arg, -5, np.int16)
            model = block.copy()
            if flag[0] != b"\0" and flag[0] != held and queue:
                expected_events += [(q[0], q[4], EndReason.BARGE_IN) for q in queue]
                queue.clear()
            held = flag[0]
            done = 0
            while not paused and done < arg and queue:
                q = queue[0]
                take = min(arg - done, q[1].size - q[3])
                model[done:done + take] = q[1][q[3]:q[3] + take]
                done += take
                q[3] += take
                q[4] += take
                if q[3] == q[1].size:
                    q[3] = 0
                    q[5] += 1
                    if q[2] and q[5] >= q[2]:
                        expected_events.append((q[0], q[4], EndReason.DONE))
                        queue.pop(0)
            player.process(block)
            assert np.array_equal(block, model)
        elif op == "skip" and queue:
            expected_events.append((queue[0][0], queue[0][4], EndReason.STOPPED))
            queue.pop(0)
            player.skip()
        elif op == "stop":
            expected_events += [(q[0], q[4], EndReason.STOPPED) for q in queue]
            queue.clear()
            player.stop()
        elif op == "pause":
            paused = True
            player.pause()
        elif op == "resume":
            paused = False
            player.resume()
        elif op == "digit":
            flag[0] = b"0123456789*#"[arg % 12:arg % 12 + 1]
        elif op == "release":
            flag[0] = b"\0"
        elif op == "events":
            got = [(e.item, e.samples_played, e.reason) for e in player.events()]
            assert got == expected_events
            expected_events = []
    got = [(e.item, e.samples_played, e.reason) for e in player.events()]
    assert got == expected_events
