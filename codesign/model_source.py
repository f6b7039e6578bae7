"""model.py of an export: Python source of a standalone `Net` (torch only) generated from checked values, and the
check that proves a text is such a source before it runs.

Data stays data. The source is generated from checked values only: numbers (written by `repr` of a real int or
finite float), module kinds from a fixed table, attribute names that are plain identifiers, the data set's name
and classes from codesign's own table; the design's label (a run name and trial id, a file name) appears only in
docstrings, reduced to a safe set of characters. The text is checked by running it, never by importing a file:
an AST allow-list first proves it holds nothing but torch module constructors, literals and the forward pass
written here (its only imports: torch), and it runs with three builtins.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import re
from typing import Any

from torch import nn

from codesign.data import DATASETS, DatasetInfo
from codesign.designs import NORMALIZATION_KEYS
from codesign.errors import CodesignError

_CONSTANTS = ("DATASET", "INPUT_SHAPE", "CLASSES", "MEAN", "STD")  # the class attributes model.py's Net holds

# The leaf modules model.py can rebuild, by the name written after `nn.` (never a class's own __name__, which a
# user's subclass may set to anything).
_LEAVES: dict[str, type[nn.Module]] = {
    "Conv2d": nn.Conv2d,
    "Linear": nn.Linear,
    "BatchNorm1d": nn.BatchNorm1d,
    "BatchNorm2d": nn.BatchNorm2d,
    "MaxPool2d": nn.MaxPool2d,
    "AvgPool2d": nn.AvgPool2d,
    "AdaptiveAvgPool2d": nn.AdaptiveAvgPool2d,
    "AdaptiveMaxPool2d": nn.AdaptiveMaxPool2d,
    "Flatten": nn.Flatten,
    "Dropout": nn.Dropout,
    "LeakyReLU": nn.LeakyReLU,
    "ReLU": nn.ReLU,
    "ReLU6": nn.ReLU6,
    "SiLU": nn.SiLU,
    "GELU": nn.GELU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
    "Identity": nn.Identity,
}


# ------------------------------------------------------------------------------------------ checked values


def _lit(value: Any) -> str:
    """A Python literal of a number, bool, None or tuple of them; anything else is refused."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return repr(bool(value))
    if isinstance(value, int):
        return repr(int(value))  # int(): a subclass's own __repr__ never reaches the source
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodesignError(f"cannot write the value {value} into a standalone model.py")
        return repr(float(value))
    if isinstance(value, (tuple, list)):
        return _tuple([_lit(v) for v in value])
    raise CodesignError(f"cannot write a {type(value).__name__} value into a standalone model.py")


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _str(value: str) -> str:
    """A string literal of a value from codesign's own tables (a data set's name or classes)."""
    if not isinstance(value, str):
        raise CodesignError(f"cannot write a {type(value).__name__} as a name into a standalone model.py")
    return repr(str(value))


_SAFE_TEXT = re.compile(r"[^A-Za-z0-9 _.,:;()+@#/=-]")


def safe_text(text: str, limit: int = 100) -> str:
    """`text` on one line, in characters that cannot end a docstring or a Markdown line (others become _)."""
    clean = _SAFE_TEXT.sub("_", str(text)).strip()
    return (clean[: limit - 1] + "_") if len(clean) > limit else clean or "model"


def _attribute(name: str, where: str) -> str:
    """A submodule's name as model.py writes it (`self.NAME = ...`): a plain identifier, or refused."""
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or not name.isascii()
        or keyword.iskeyword(name)
        or name.startswith("_")
        or hasattr(nn.Module, name)
        or name in NORMALIZATION_KEYS
        or name in _CONSTANTS
    ):
        raise CodesignError(
            f"{where}: submodule name {str(name)[:40]!r} cannot be written into a standalone model.py "
            f"(use a plain Python identifier)"
        )
    return name


# ------------------------------------------------------------------------------------------ model.py source


def _pair(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return _lit(tuple(v)) if len(set(v)) > 1 else _lit(v[0])
    return _lit(v)


def _kind(m: nn.Module) -> str:
    for name, cls in _LEAVES.items():
        if type(m) is cls:
            return name
    raise CodesignError(f"cannot write a {type(m).__name__[:40]} module into a standalone model.py")


def _leaf(m: nn.Module) -> str:
    """Constructor call that rebuilds one leaf module (same parameters and buffers)."""
    kind = _kind(m)
    if isinstance(m, nn.Conv2d):
        args = [_lit(m.in_channels), _lit(m.out_channels), f"kernel_size={_pair(m.kernel_size)}"]
        if tuple(m.stride) != (1, 1):
            args.append(f"stride={_pair(m.stride)}")
        if isinstance(m.padding, str) or tuple(m.padding) != (0, 0):
            if isinstance(m.padding, str):
                raise CodesignError("cannot write a Conv2d with string padding into a standalone model.py")
            args.append(f"padding={_pair(m.padding)}")
        if tuple(m.dilation) != (1, 1):
            args.append(f"dilation={_pair(m.dilation)}")
        if m.groups != 1:
            args.append(f"groups={_lit(m.groups)}")
        if m.bias is None:
            args.append("bias=False")
        return f"nn.Conv2d({', '.join(args)})"
    if isinstance(m, nn.Linear):
        return f"nn.Linear({_lit(m.in_features)}, {_lit(m.out_features)}{'' if m.bias is not None else ', bias=False'})"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        extra = (
            ""
            if (m.eps, m.momentum, m.affine) == (1e-5, 0.1, True)
            else f", eps={_lit(m.eps)}, momentum={_lit(m.momentum)}, affine={_lit(m.affine)}"
        )
        return f"nn.{kind}({_lit(m.num_features)}{extra})"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = "" if m.stride == m.kernel_size else f", stride={_lit(m.stride)}"
        padding = "" if m.padding in (0, (0, 0)) else f", padding={_lit(m.padding)}"
        return f"nn.{kind}({_lit(m.kernel_size)}{stride}{padding})"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"nn.{kind}({_lit(m.output_size)})"
    if isinstance(m, nn.Flatten):
        dims = (m.start_dim, m.end_dim)
        return "nn.Flatten()" if dims == (1, -1) else f"nn.Flatten({_lit(m.start_dim)}, {_lit(m.end_dim)})"
    if isinstance(m, nn.Dropout):
        return f"nn.Dropout({_lit(m.p)})"
    if isinstance(m, nn.LeakyReLU):
        return f"nn.LeakyReLU({_lit(m.negative_slope)})"
    return f"nn.{kind}()"


def _expr(m: nn.Module, indent: int, where: str) -> str:
    if type(m) is nn.Sequential:
        pad = " " * (indent + 4)
        items = []
        for i, (name, child) in enumerate(m.named_children()):
            if name != str(i):  # positional arguments rebuild the keys 0, 1, 2, ...: others would not load
                raise CodesignError(f"{where}: a Sequential with named children cannot be written into model.py")
            items.append(f"{pad}{_expr(child, indent + 4, f'{where}.{i}')},  # {i}\n")
        return f"nn.Sequential(\n{''.join(items)}{' ' * indent})"
    return _leaf(m)


def _normalization(info: DatasetInfo | None, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if info is None:
        return (0.0,) * channels, (1.0,) * channels  # unknown data: no normalisation inside (the README says so)
    return tuple(info.mean), tuple(info.std)


def input_doc(info: DatasetInfo | None, shape: tuple[int, ...]) -> list[str]:
    """What the model takes, in words (model.py's docstring and the export's README)."""
    dims = ", ".join(str(d) for d in shape[1:])
    if info is None:
        return [
            f"float32 images (N, {dims}), as the weights were trained on: the data set is not known, so the model",
            "holds no normalisation (input_mean 0, input_std 1); normalise inputs as in training.",
        ]
    mean = ", ".join(f"{v:.4f}" for v in info.mean)
    std = ", ".join(f"{v:.4f}" for v in info.std)
    return [
        f"float32 images (N, {dims}) with pixel values in [0, 1] (what torchvision's ToTensor gives); uint8",
        f"images (0-255, as the {info.label} files hold them) are divided by 255 first. Do not normalise them:",
        f"the model subtracts {info.label}'s mean ({mean}) and divides by its std ({std}) itself.",
    ]


def module_source(
    model: nn.Module,
    title: str,
    doc: str,
    dataset: str | None = None,
    input_shape: tuple[int, ...] = (1, 3, 32, 32),
) -> str:
    """Python source of a `Net` class with the same submodules (and state-dict keys) as `model`, whose forward
    normalises its input as `dataset`'s images were normalised in training, then applies the top-level children
    in order. `title` and `doc` go into docstrings only, reduced to safe characters."""
    info = DATASETS[dataset] if dataset is not None else None
    if info is not None and tuple(input_shape[1:]) != info.input_shape:
        raise CodesignError(
            f"{safe_text(title)}: takes {tuple(input_shape[1:])} inputs, but {info.label} images are {info.input_shape}"
        )
    mean, std = _normalization(info, int(input_shape[1]))
    usage = input_doc(info, input_shape)
    lines = [
        f'"""{safe_text(title)}',
        "",
        "Generated by `codesign export`. Depends on PyTorch only.",
        "",
        "Input: " + "\n".join(usage),
        "",
        "    import torch",
        "    from model import Net",
        "    net = Net()",
        '    net.load_state_dict(torch.load("weights.pt", weights_only=True))',
        "    net.eval()",
        f"    logits = net(images)  # images: {shape_words(input_shape)}",
        "    Net.CLASSES[int(logits[0].argmax())]" if info is not None and info.classes else "    logits.argmax(1)",
        '"""',
        "",
        "import torch",
        "from torch import nn",
        "",
        "",
        "class Net(nn.Module):",
        f'    """{safe_text(doc)}"""',
        "",
        f"    DATASET = {_str(info.name) if info is not None else 'None'}",
        f"    INPUT_SHAPE = {_lit(tuple(input_shape[1:]))}",
        f"    CLASSES = {_tuple([_str(c) for c in info.classes] if info is not None else [])}",
        f"    MEAN = {_lit(mean)}",
        f"    STD = {_lit(std)}",
        "",
        "    def __init__(self):",
        "        super().__init__()",
        "        # buffers, so that state_dict() and ONNX carry the normalisation",
        '        self.register_buffer("input_mean", torch.tensor(self.MEAN).view(1, -1, 1, 1))',
        '        self.register_buffer("input_std", torch.tensor(self.STD).view(1, -1, 1, 1))',
    ]
    names = []
    for name, child in model.named_children():
        lines.append(f"        self.{_attribute(name, title)} = {_expr(child, 8, name)}")
        names.append(name)
    if not names:
        raise CodesignError("the model has no submodules to export")
    chain = "x"
    for name in names:
        chain = f"self.{name}({chain})"
    lines += [
        "",
        "    def forward(self, x):",
        "        if x.dtype == torch.uint8:",
        "            x = x.float().div(255.0)",
        "        x = (x - self.input_mean) / self.input_std",
        f"        return {chain}",
        "",
    ]
    return "\n".join(lines)


def shape_words(shape: tuple[int, ...]) -> str:
    """The input a model takes, briefly: float32 (N, C, H, W) in [0, 1]."""
    return f"float32 (N, {', '.join(str(d) for d in shape[1:])}) in [0, 1]"


# ------------------------------------------------------------------------------------------ checking model.py

_CALLS = re.compile(
    r"nn\.(Sequential|" + "|".join(_LEAVES) + r")|super|super\(\)\.__init__|self\.register_buffer|torch\.tensor"
    r"|torch\.tensor\(\)\.view|x\.float|x\.float\(\)\.div"
)
_NODES = (
    ast.Module,
    ast.Expr,
    ast.Constant,
    ast.Import,
    ast.ImportFrom,
    ast.alias,
    ast.ClassDef,
    ast.FunctionDef,
    ast.arguments,
    ast.arg,
    ast.Assign,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Call,
    ast.keyword,
    ast.Tuple,
    ast.Return,
    ast.If,
    ast.Compare,
    ast.Eq,
    ast.BinOp,
    ast.Sub,
    ast.Div,
    ast.UnaryOp,
    ast.USub,
)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "?"


def _imported(node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
    if isinstance(node, ast.Import):
        return tuple(a.name for a in node.names)
    return (str(node.module), *(a.name for a in node.names)) if node.level == 0 else (".",)


def check_source(source: str) -> ast.Module:
    """Prove that model.py text is what `module_source` writes: torch module constructors, literals and the
    forward pass, nothing that could reach other code. Returns its AST."""
    tree = ast.parse(source, "model.py")
    children = {  # self.NAME = ... in __init__: the submodules forward may call
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"
    }
    calls = {f"self.{name}" for name in children}
    for node in ast.walk(tree):
        bad = ""
        if not isinstance(node, _NODES):
            bad = type(node).__name__
        elif isinstance(node, ast.Name) and node.id not in {"torch", "nn", "self", "x", "super", "Net", *_CONSTANTS}:
            bad = f"name {node.id}"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr != "__init__":
            bad = f"attribute {node.attr}"
        elif isinstance(node, ast.Call) and not (_CALLS.fullmatch(_dotted(node.func)) or _dotted(node.func) in calls):
            bad = f"call {_dotted(node.func)}"
        elif isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, type(None))):
            bad = f"constant {type(node.value).__name__}"
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and _imported(node) not in (("torch",), ("torch", "nn")):
            bad = "import " + ".".join(_imported(node))[:40]
        if bad:
            raise CodesignError(f"the generated model.py holds {bad[:60]}, which codesign never writes; not exported")
    return tree


def build_net(source: str) -> nn.Module:
    """`Net()` of model.py text, run only once `check_source` has proved it is what `module_source` writes.

    It runs with three builtins (a class statement's, `super`, and the import machinery: torch's own C code imports
    its submodules through the calling frame's builtins); `open`, `eval`, `getattr` and the rest are absent.
    """
    code = compile(check_source(source), "model.py", "exec")
    allowed = {"__build_class__": builtins.__build_class__, "super": super, "__import__": builtins.__import__}
    namespace: dict[str, Any] = {"__builtins__": allowed, "__name__": "codesign_exported_model"}
    exec(code, namespace)  # checked above: torch module constructors and literals only
    return namespace["Net"]()
