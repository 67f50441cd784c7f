"""Pokes as an event stream keeps them: in order, each with its changes, and bounded for a slow client."""

from __future__ import annotations

import uuid

from mnwd.sync.notifier import MAX_PENDING_POKES, ChangeNotifier, Watch


def test_a_watch_keeps_pokes_in_order_and_wakes_without_keeping_wake_ups() -> None:
    watch = Watch(keep_pokes=True)
    watch.poke(5, '{"seq":5}')
    watch.poke(0)
    watch.poke(7)
    assert watch.take_pokes() == [(5, '{"seq":5}'), (7, None)]
    assert watch.take_pokes() == []
    assert watch.newest == 7


def test_a_slow_client_gets_the_newest_seq_alone() -> None:
    watch = Watch(keep_pokes=True)
    for seq in range(1, MAX_PENDING_POKES + 10):
        watch.poke(seq, f'{{"seq":{seq}}}')
    pokes = watch.take_pokes()
    assert pokes[0] == (MAX_PENDING_POKES + 1, None)
    assert pokes[-1][0] == MAX_PENDING_POKES + 9
    assert len(pokes) == 9


def test_a_long_poll_watch_keeps_nothing() -> None:
    watch = Watch()
    watch.poke(3, '{"seq":3}')
    assert watch.take_pokes() == []
    assert watch.newest == 3


async def test_payloads_reach_the_watches_of_their_stream_only() -> None:
    notifier = ChangeNotifier()
    app, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with notifier.watch(app, alice, keep_pokes=True) as mine, notifier.watch(app, bob, keep_pokes=True) as theirs:
        body = '{"seq":9,"after":4,"changes":[{"row_id":"a:b"}]}'
        notifier.on_notify(f"{app}:{alice}:9:{body}")
        notifier.on_notify(f"{app}:{alice}:10")
        notifier.on_notify("garbage")
        assert mine.take_pokes() == [(9, body), (10, None)]
        assert theirs.take_pokes() == []
    assert notifier.watchers == 0


def test_a_poke_heard_twice_or_overtaken_is_dropped() -> None:
    watch = Watch(keep_pokes=True)
    watch.poke(5, '{"seq":5}')
    watch.poke(5, '{"seq":5}')  # at once, then back through LISTEN
    watch.poke(4, '{"seq":4}')  # another daemon's, overtaken by ours
    watch.poke(0)
    assert watch.take_pokes() == [(5, '{"seq":5}')]
    assert watch.newest == 5


async def test_a_push_is_delivered_here_at_once_only_when_its_bearer_epoch_was_heard() -> None:
    sent: list[str] = []
    heard_up_to = 3
    notifier = ChangeNotifier(send=sent.append, has_heard_of=lambda epoch: epoch <= heard_up_to)
    app, alice = uuid.uuid4(), uuid.uuid4()
    async with notifier.watch(app, alice, keep_pokes=True) as watch:
        notifier.announce(f"{app}:{alice}:7", 4)  # a revocation counted in epoch 4 is not heard yet
        assert watch.take_pokes() == []
        notifier.announce(f"{app}:{alice}:8", 3)
        assert watch.take_pokes() == [(8, None)]
        notifier.on_notify(f"{app}:{alice}:x")  # a bad seq on a watched stream
        assert watch.take_pokes() == []
    assert sent == [f"{app}:{alice}:7", f"{app}:{alice}:8"]
    assert notifier.delivered_at_once == 1
