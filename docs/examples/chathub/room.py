"""The chat room, with no I/O: what a hub does with each line a user types.

A framework module (``asyncio_hub``) accepts connections and turns each one
into a :class:`Member` with a ``deliver`` function; everything else (the
nickname handshake, commands, notices, the message limit) happens here, so
a trio or Twisted hub reuses it unchanged.

Every text a member says goes to :attr:`Room.bus`. The default bus hands it
straight back to :meth:`Room.deliver` (one process, in memory); the Redis bus
publishes it, and every hub subscribed to the channel delivers it to its own
members, including the hub it came from.

Delivering is awaited: a member's ``deliver`` returns once the text is queued
for them, and waits while their queue is full. So a member who talks faster
than the room reads is slowed down (the hub stops reading what they type)
instead of piling up messages; the hub bounds that wait, and drops a member
who reads nothing at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol

MAX_TEXT = 1000
"""The longest message the room accepts, in characters; longer ones are refused."""

MAX_NICK = 24
HELP = "commands: /nick NEW (change nickname), /who (who is here), /quit (leave)"


class Bus(Protocol):
    """Carries what members say to every hub sharing the room."""

    async def publish(self, text: str) -> None:
        """Send ``text`` to every member of the room, on every hub."""


class MemoryBus:
    """The embedded bus: one process, so publishing is delivering."""

    def __init__(self, room: Room) -> None:
        self.room = room

    async def publish(self, text: str) -> None:
        """Deliver ``text`` to this process's members."""
        await self.room.deliver(text)


class Member:
    """One connected user: a nickname and a way to hand them a line of text.

    ``await deliver(text)`` queues ``text`` for them; it waits while their
    queue is full, and the hub bounds that wait. ``where`` says how they came
    (``"web"`` or ``"line"``), for ``/who``.
    """

    def __init__(self, deliver: Callable[[str], Awaitable[None]], where: str) -> None:
        self.deliver = deliver
        self.where = where
        self.name = ""


class Room:
    """The members on this hub, and the bus that links them to other hubs."""

    def __init__(self) -> None:
        self.members: set[Member] = set()
        self.bus: Bus = MemoryBus(self)

    async def deliver(self, text: str) -> None:
        """Hand ``text`` to every member connected to this hub, in turn.

        Returns once every member has it queued: whoever awaits this before
        saying the next thing has their texts reach everyone in order.
        """
        for member in list(self.members):
            await member.deliver(text)

    async def chat(self, member: Member, texts: AsyncIterable[str]) -> None:
        """Run one member's session: ask a nickname, then relay what they say.

        Returns when ``texts`` ends (the user left) or on ``/quit``; the
        leave notice is published on the way out, if they had joined.
        """
        await member.deliver(f"* welcome to the tidewire chat hub; what is your nickname? ({HELP})")
        try:
            async for text in texts:
                if not await self.handle(member, text.strip()):
                    break
        finally:
            if member in self.members:
                self.members.discard(member)
                await self.bus.publish(f"* {member.name} left")

    async def handle(self, member: Member, text: str) -> bool:
        """Act on one line a member typed; return False when they asked to leave."""
        command, _, argument = text.partition(" ")
        if not text:
            return True
        if len(text) > MAX_TEXT:
            await member.deliver(
                f"! message too long ({len(text)} characters, limit {MAX_TEXT}); not sent"
            )
        elif command == "/quit":
            await member.deliver("* bye")
            return False
        elif command == "/help":
            await member.deliver(f"* {HELP}")
        elif command == "/nick" or not member.name:
            await self.rename(member, argument.strip() if command == "/nick" else text)
        elif command == "/who":
            names = sorted(f"{m.name} ({m.where})" for m in self.members)
            await member.deliver(f"* here on this hub: {', '.join(names)}")
        elif command.startswith("/"):
            await member.deliver(f"! unknown command {command}; {HELP}")
        else:
            await self.bus.publish(f"<{member.name}> {text}")
        return True

    async def rename(self, member: Member, name: str) -> None:
        """Give ``member`` the nickname ``name``: the first one joins the room."""
        if not 0 < len(name) <= MAX_NICK or not name.isprintable() or " " in name or name[0] == "/":
            await member.deliver(
                f"! a nickname is 1 to {MAX_NICK} characters, no spaces, no leading /; try again"
            )
        elif any(m.name == name for m in self.members):
            await member.deliver(f"! {name} is taken here; pick another")
        elif not member.name:
            member.name = name
            self.members.add(member)
            await self.bus.publish(f"* {name} joined")
        else:
            old, member.name = member.name, name
            await self.bus.publish(f"* {old} is now {name}")
