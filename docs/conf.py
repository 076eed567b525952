"""Sphinx configuration for the tidewire documentation."""

project = "tidewire"
author = "the tidewire developers"
copyright = "2026, the tidewire developers"  # noqa: A001 - Sphinx's name

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
nitpick_ignore_regex = [
    (r"py:(class|obj|exc|data|func|meth)", r"(builtins\.)?(bytes|bytearray|memoryview|int|str|float|bool|object|list|dict|tuple|set|frozenset|type|None|Exception|BaseException|TypeError|ValueError|AttributeError|ImportError|AssertionError|NotImplementedError)"),
    (r"py:(class|obj|data)", r"(typing|collections\.abc|enum|re|abc|types|hypothesis|h11|asyncio|ssl|trio|twisted|socket)(\..+)?"),
    (r"py:(class|obj|data)", r"(Any|Callable|Iterable|Iterator|Sequence|Mapping|Literal|ClassVar|Final|NoReturn|Awaitable|AsyncIterator|Generic|Self)"),
    (r"py:(class|obj)", r"(.*\.)?(ReceivedT|SentT|T|EventT)"),
    (r"py:class", r"(st\.)?(SearchStrategy|DataObject)"),
    (r"py:attr", r"tidewire\.events\.Sentinel\.NEED_DATA"),  # inside the NeedData alias
]
