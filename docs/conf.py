"""Sphinx configuration for the tidewire documentation."""

import operator

project = "tidewire"
author = "the tidewire developers"
copyright = "2026, the tidewire developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
html_theme = "furo"
html_title = "tidewire"
exclude_patterns = ["_build", "examples"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# No intersphinx: CI has no network. Standard-library and third-party names in
# signatures are accepted unlinked by the patterns below; everything of ours
# must resolve.
nitpicky = True
_BUILTINS = (
    "bytes|bytearray|memoryview|int|str|float|bool|object|list|dict|tuple|set|frozenset"
    "|type|None|Exception|BaseException|TypeError|ValueError|AttributeError|ImportError"
    "|AssertionError|NotImplementedError|OSError|ConnectionError|EOFError|TimeoutError"
    "|RuntimeError"
)
_FOREIGN = (
    "typing|collections|enum|re|abc|types|hypothesis|h11|asyncio|ssl|trio|twisted|socket|os|anyio"
)
_TYPING = (
    "Any|Callable|Iterable|Iterator|Sequence|Mapping|Literal|ClassVar|Final|NoReturn"
    "|Awaitable|AsyncIterator|Generic|Self"
)
# The adapters re-export the base's closing exceptions under their own names
# (tidewire_asyncio.ConnectionLostError is tidewire.ConnectionLostError), so a
# bare "ConnectionLostError" in a docstring matches both; either is right.
suppress_warnings = ["ref.python"]
nitpick_ignore_regex = [
    (r"py:(class|obj|exc|data|func|meth)", rf"(builtins\.)?({_BUILTINS})"),
    (r"py:(class|obj|data)", rf"({_FOREIGN})(\..+)?"),
    (r"py:(class|obj|data)", rf"({_TYPING})"),
    (r"py:(class|obj)", r"(.*\.)?(ReceivedT|SentT|T|EventT|ItemT|StreamT)"),  # type variables
    (r"py:class", r"(st\.)?(SearchStrategy|DataObject)"),
    (r"py:attr", r"tidewire\.events\.Sentinel\.NEED_DATA"),  # inside the NeedData alias
    (r"py:class", r"tidewire\w*\._\w+\..+"),  # private bases, e.g. in "Bases:" lines
    # zope.interface interfaces print as "<InterfaceClass twisted...>" in signatures.
    (r"py:class", r"<InterfaceClass .*"),
    (r"py:class", r"(IReactorTime|Handler|ServerSettings)"),  # Twisted's, and private aliases
]


def _skip_event_fields(
    app: object, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    """Leave out the read-only properties tidewire.Event generates for fields.

    Each event documents its fields in its docstring ("Attributes:"); the
    generated properties (their getter is an operator.attrgetter) would
    document them a second time.
    """
    if isinstance(getattr(obj, "fget", None), operator.attrgetter):
        return True
    return None


def setup(app: object) -> None:
    """Register the hook above."""
    app.connect("autodoc-skip-member", _skip_event_fields)  # type: ignore[attr-defined]
