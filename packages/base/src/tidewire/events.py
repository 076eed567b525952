"""Events: the values a core turns bytes into, and turns back into bytes.

An event class lists its fields as annotations; the base generates the rest::

    class Line(Event):
        line: bytes

    Line(b"hi") == Line(line=b"hi")   # value equality, keyword or positional
    repr(Line(b"hi"))                 # "Line(line=b'hi')"

Events are immutable (assigning to a field raises :class:`AttributeError`),
hashable when their fields are, usable in ``match`` statements, and have
``__slots__``. They are cheaper to build than a frozen dataclass, which
matters on hot paths: a core may build millions per second.
"""

from __future__ import annotations

import enum
from operator import attrgetter
from typing import Any, ClassVar, Final, Literal, dataclass_transform

__all__ = ["NEED_DATA", "ConnectionClosed", "Event", "NeedData", "Sentinel"]

_MISSING: Any = object()


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "Final", "typing.Final"))


@dataclass_transform(frozen_default=True)
class _EventMeta(type):
    """Builds ``__slots__``, ``__init__``, read-only fields, equality, hash and repr.

    Each field ``name`` is stored in a slot ``_name`` behind a read-only
    property ``name``: the generated ``__init__`` then assigns slots
    directly, which costs half of what going through an immutability guard
    in ``__setattr__`` would, and assigning a field still raises.
    """

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _EventMeta:
        own = [
            field
            for field, annotation in namespace.get("__annotations__", {}).items()
            if not _is_classvar(annotation)
        ]
        for field in own:
            if field.startswith("_"):
                raise TypeError(f"{name}: event field {field!r} must not start with '_'")
        defaults = {field: namespace.pop(field) for field in own if field in namespace}
        namespace["__slots__"] = tuple(f"_{field}" for field in own)
        for field in own:
            namespace[field] = property(attrgetter(f"_{field}"))
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        inherited: tuple[str, ...] = getattr(cls, "_fields", ())
        fields = inherited + tuple(own)
        all_defaults = {**getattr(cls, "_defaults", {}), **defaults}
        cls._fields = fields  # type: ignore[attr-defined]
        cls._defaults = all_defaults  # type: ignore[attr-defined]
        setattr(cls, "__match_args__", fields)  # noqa: B010 - mypy forbids the direct form
        if "__init__" not in namespace:
            cls.__init__ = _make_init(cls, fields, all_defaults)  # type: ignore[misc]
        return cls


def _make_init(cls: type, fields: tuple[str, ...], defaults: dict[str, Any]) -> Any:
    # Generated code: construction runs no loop and no lookups of its own.
    env: dict[str, Any] = {}
    params = []
    for i, field in enumerate(fields):
        if field in defaults:
            env[f"_default{i}"] = defaults[field]
            params.append(f"{field}=_default{i}")
        else:
            if params and "=" in params[-1]:
                raise TypeError(
                    f"{cls.__name__}: field {field!r} without a default follows one with a default"
                )
            params.append(field)
    body = "".join(f"    self._{field} = {field}\n" for field in fields) or "    pass\n"
    source = f"def __init__(self, {', '.join(params)}):\n{body}"
    exec(source, env)  # noqa: S102 - generated from identifiers only
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class Event(metaclass=_EventMeta):
    """Base class of every event of every core.

    Subclasses declare their fields as class annotations, with optional
    defaults, and get ``__init__`` (positional or keyword), ``__eq__`` by type
    and value, ``__hash__``, a readable ``__repr__``, ``__match_args__`` and
    ``__slots__``. Fields are read-only: assigning or deleting one raises
    :class:`AttributeError`. (A field ``name`` lives in a private slot
    ``_name``; a subclass that writes its own ``__init__`` sets those.)
    """

    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, Any]]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._fields)
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> tuple[type[Event], tuple[Any, ...]]:
        return type(self), self._values()


class ConnectionClosed(Event):
    """The peer closed its sending side and every event before it was delivered.

    After :meth:`tidewire.Connection.receive_eof`, once the buffered events
    are out, :meth:`~tidewire.Connection.next_event` returns an instance of
    this class (or of a core's subclass, which may add fields such as leftover
    bytes) and returns it again on every later call. It never returns
    :data:`NEED_DATA` after end of file.
    """


class Sentinel(enum.Enum):
    """The type of :data:`NEED_DATA`; an enum so type checkers can narrow on it."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value

    __str__ = __repr__


NEED_DATA: Final = Sentinel.NEED_DATA
"""Returned by :meth:`~tidewire.Connection.next_event` when more bytes must arrive first.

It is distinct from ``None`` and ``False``, which are valid protocol values
(a RESP null, a RESP3 false). Test for it with ``is``.
"""

NeedData = Literal[Sentinel.NEED_DATA]
"""The type of :data:`NEED_DATA`, for annotations: ``Line | NeedData``."""
