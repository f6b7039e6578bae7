"""Builds the analytic engine's compiled core (codesign/cost/analytic/csrc); everything else is in pyproject.toml.

The extension is optional: without a C++17 compiler and Python's headers the install still succeeds and
codesign runs the NumPy reference of the same model (slower), saying so once.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = "codesign/cost/analytic/csrc"
HEADERS = [f"{CSRC}/{name}.hpp" for name in ("nest", "rng", "random_pruned", "exhaustive")]


class BuildExt(build_ext):
    """Compiler flags by compiler family; floating-point contraction off so sums round as NumPy's do."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "msvc":
            flags = ["/std:c++17", "/O2", "/fp:precise"]
        else:
            flags = ["-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math"]
        for ext in self.extensions:
            ext.extra_compile_args = flags
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "codesign.cost.analytic._native",
            sources=[f"{CSRC}/module.cpp"],
            depends=HEADERS,
            language="c++",
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
