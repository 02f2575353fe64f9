"""engine.transport.delivery: an agent waits for every message it produced before acknowledging."""

from __future__ import annotations

import asyncio

import pytest

from engine.transport.delivery import Deliveries, DeliveryFailed, deliveries, fresh, track


async def test_settle_waits_until_every_message_is_acknowledged() -> None:
    loop = asyncio.get_running_loop()
    sent = Deliveries()
    acks = [loop.create_future() for _ in range(3)]
    for ack in acks:
        sent.track(ack)
    settling = asyncio.create_task(sent.settle())
    for ack in acks[:2]:
        ack.set_result("ok")
    await asyncio.sleep(0.01)
    assert not settling.done()  # one is still in flight
    acks[2].set_result("ok")
    assert await settling == 3
    assert len(sent) == 0


async def test_a_refused_message_fails_the_settle_after_the_rest_are_done() -> None:
    loop = asyncio.get_running_loop()
    sent = Deliveries()
    refused, delivered = loop.create_future(), loop.create_future()
    sent.track(refused)
    sent.track(delivered)
    refused.set_exception(RuntimeError("MessageSizeTooLargeError"))
    loop.call_later(0.01, delivered.set_result, "ok")
    with pytest.raises(DeliveryFailed, match=r"1 of 2 .*MessageSizeTooLargeError"):
        await sent.settle()
    assert delivered.done()


async def test_messages_sent_while_settling_are_waited_for_too() -> None:
    loop = asyncio.get_running_loop()
    sent = Deliveries()
    first, later = loop.create_future(), loop.create_future()
    sent.track(first)

    def ack_first_and_send_more() -> None:
        sent.track(later)
        first.set_result("ok")
        loop.call_later(0.01, later.set_result, "ok")

    loop.call_later(0.01, ack_first_and_send_more)
    assert await sent.settle() == 2
    assert later.done()


async def test_each_agent_task_waits_only_for_its_own_messages() -> None:
    loop = asyncio.get_running_loop()
    slow = loop.create_future()
    ready = asyncio.Event()

    async def users_agent() -> int:
        fresh()
        track(slow)
        ready.set()
        return await deliveries().settle()

    async def accounts_agent() -> int:
        fresh()
        await ready.wait()
        done = loop.create_future()
        done.set_result("ok")
        track(done)
        return await deliveries().settle()

    users = asyncio.create_task(users_agent())
    assert await asyncio.wait_for(accounts_agent(), timeout=1) == 1  # not held by `slow`
    assert not users.done()
    slow.set_result("ok")
    assert await users == 1
