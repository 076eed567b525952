"""Build the C extension of tidewire-speedups with setuptools.

Everything declarative is in pyproject.toml; this file only declares the
extension and turns a missing C compiler into one clear message.
"""

from __future__ import annotations

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

NO_COMPILER = """
tidewire-speedups could not be built: it is a C extension and needs a working
C compiler ({cause}).
  - Debian/Ubuntu: apt-get install gcc python3-dev; Fedora: dnf install gcc python3-devel;
    macOS: xcode-select --install; Windows: the "Build Tools for Visual Studio".
  - Or go without it: it is optional. tidewire-websocket works the same without it,
    with its pure-Python code (install tidewire-websocket without the [speedups] extra).
"""


class BuildExt(build_ext):
    """build_ext with optimisation flags, and a clear error when no compiler works."""

    def build_extension(self, ext: Extension) -> None:
        """Build ``ext`` with the compiler's optimisation flags."""
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args = ["/O2"]
        else:
            ext.extra_compile_args = ["-O3", "-std=c99", "-Wall", "-Wextra"]
        try:
            super().build_extension(ext)
        except (CCompilerError, CompileError, ExecError, PlatformError, OSError) as exc:
            raise SystemExit(NO_COMPILER.format(cause=exc)) from None

    def run(self) -> None:
        """Build every extension; without a working compiler, exit with advice."""
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, PlatformError, OSError) as exc:
            raise SystemExit(NO_COMPILER.format(cause=exc)) from None


setup(
    ext_modules=[Extension("tidewire_speedups._native", ["src/tidewire_speedups/_native.c"])],
    cmdclass={"build_ext": BuildExt},
)
