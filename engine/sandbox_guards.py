"""Guards and limits for the script sandbox: what scripts may call, and how big results may get."""

import ast
import math
import numbers
import operator
import re

from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector

FILENAME = "<string>"  # SpiffWorkflow looks for this filename in tracebacks to report line numbers

MAX_INT_DIGITS = 10_000  # largest integer result of **, * and << (decimal digits)
MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10)) + 1
MAX_SEQUENCE = 1_000_000  # largest str/bytes/list/tuple built by *, +, %, padding, join ...
MAX_SHIFT = 10_000  # largest shift count of <<
MAX_RANGE = 1_000_000  # longest range()


class SandboxError(Exception):
    """Base class of the sandbox's own refusals."""


class ScriptRejected(SandboxError):
    """The script or expression does not compile under the sandbox (syntax, forbidden construct)."""

    def __init__(self, errors, source=None):
        self.errors = list(errors)
        self.source = source
        super().__init__("script rejected by the sandbox: " + "; ".join(self.errors))


class ScriptTimeout(SandboxError):
    """The script ran longer than the time limit."""


class ResourceLimitExceeded(SandboxError):
    """An operation would have produced a huge number, string or sequence."""


class _Deadline(BaseException):
    """Raised by the trace function inside the script.

    A BaseException so scripts cannot catch it (``BaseException`` is not exposed and bare
    ``except:`` is rejected); turned into ``ScriptTimeout`` at the sandbox boundary.
    """


# --------------------------------------------------------------------------------------
# Guards for operators

_SEQ_TYPES = (str, bytes, bytearray, list, tuple)


def _refuse(what):
    raise ResourceLimitExceeded(what)


def guarded_pow(base, exp, mod=None):
    if mod is not None:
        return pow(base, exp, mod)  # bounded by the size of mod
    if type(base) in (int, bool) and type(exp) in (int, bool) and exp > 0 and abs(base) > 1:
        if exp > MAX_INT_BITS or exp * math.log10(abs(base)) > MAX_INT_DIGITS:
            _refuse(f"power too large: the result would have more than {MAX_INT_DIGITS} digits")
    return base**exp


def _check_mul(a, b):
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
            _refuse(f"product too large: the result would have more than {MAX_INT_DIGITS} digits")
    elif isinstance(a, _SEQ_TYPES) and isinstance(b, int):
        if b > 0 and len(a) * b > MAX_SEQUENCE:
            _refuse(f"repetition too large: more than {MAX_SEQUENCE} items or characters")
    elif isinstance(b, _SEQ_TYPES) and isinstance(a, int):
        if a > 0 and len(b) * a > MAX_SEQUENCE:
            _refuse(f"repetition too large: more than {MAX_SEQUENCE} items or characters")


def guarded_mul(a, b):
    _check_mul(a, b)
    return a * b


def guarded_lshift(a, b):
    if isinstance(a, int) and isinstance(b, int) and a:
        if b > MAX_SHIFT or a.bit_length() + b > MAX_INT_BITS:
            _refuse(f"shift too large: more than {MAX_SHIFT} bits or {MAX_INT_DIGITS} digits")
    return a << b


def _check_add(a, b):
    if isinstance(a, _SEQ_TYPES) and isinstance(b, _SEQ_TYPES) and len(a) + len(b) > MAX_SEQUENCE:
        _refuse(f"concatenation too large: more than {MAX_SEQUENCE} items or characters")


def guarded_add(a, b):
    _check_add(a, b)
    return a + b


# %-format width/precision: '%10d', '%.5f', '%*d', '%(name)-20s'
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")
_PERCENT_SPEC_B = re.compile(rb"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(fmt):
    pattern = _PERCENT_SPEC if isinstance(fmt, str) else _PERCENT_SPEC_B
    star = "*" if isinstance(fmt, str) else b"*"
    for m in pattern.finditer(fmt):
        for part in m.groups():
            if part is None:
                continue
            if part == star:
                _refuse("'*' width or precision in %-formatting is not allowed in scripts")
            if len(part) > 7 or int(part) > MAX_SEQUENCE:
                _refuse(f"format width too large: more than {MAX_SEQUENCE} characters")


def guarded_mod(a, b):
    if isinstance(a, (str, bytes)):
        _check_percent_format(a)
    return a % b


_DIGITS = re.compile(r"\d+")
_CONVERSIONS = {-1: None, 115: str, 114: repr, 97: ascii}


def guarded_format(value, conversion, spec):
    """f-string ``{value!conversion:spec}`` with a bound on widths/precisions in ``spec``."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 7 or int(digits) > MAX_SEQUENCE:
            _refuse(f"format width too large: more than {MAX_SEQUENCE} characters")
    conv = _CONVERSIONS[conversion]
    if conv is not None:
        value = conv(value)
    return format(value, spec)


_BINOP_GUARDS = {
    ast.Pow: "_pow_",
    ast.Mult: "_mul_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}

_INPLACE_OPS = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op, target, value):
    """``x op= y`` (RestrictedPython rewrites it to ``x = _inplacevar_(op, x, y)``)."""
    if op == "**=":
        return guarded_pow(target, value)
    if op == "<<=":
        return guarded_lshift(target, value)
    if op == "%=":
        return guarded_mod(target, value)
    if op == "*=":
        _check_mul(target, value)
    elif op == "+=":
        _check_add(target, value)
    try:
        fn = _INPLACE_OPS[op]
    except KeyError:
        raise SyntaxError(f"unsupported augmented assignment {op!r}") from None
    return fn(target, value)


# --------------------------------------------------------------------------------------
# Guards for builtins and attribute access


def guarded_range(*args):
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_RANGE + 1
    if n > MAX_RANGE:
        _refuse(f"range too long: more than {MAX_RANGE} items")
    return r


def guarded_sum(iterable, /, start=0):
    if not isinstance(start, numbers.Number):
        raise TypeError("sum() in scripts only adds numbers")
    return sum(iterable, start)


def _check_len(n):
    if n > MAX_SEQUENCE:
        _refuse(f"string too large: more than {MAX_SEQUENCE} characters")


def _check_width(width):
    if isinstance(width, int):
        _check_len(width)


def _guard_str_method(name, s, method):
    """Wrap str/bytes methods that can build a huge string in a single C call."""
    if name in ("ljust", "rjust", "center", "zfill"):

        def padded(width, *args):
            _check_width(width)
            return method(width, *args)

        return padded
    if name == "expandtabs":

        def expandtabs(tabsize=8):
            if isinstance(tabsize, int):
                _check_len(len(s) + s.count("\t" if isinstance(s, str) else b"\t") * max(tabsize, 0))
            return method(tabsize)

        return expandtabs
    if name == "join":

        def join(iterable):
            items = list(iterable)
            if len(items) > MAX_SEQUENCE:
                _check_len(len(items))
            total = len(s) * max(len(items) - 1, 0)
            try:
                total += sum(map(len, items))
            except TypeError:
                pass  # join itself will refuse the non-string item
            _check_len(total)
            return method(items)

        return join
    if name == "replace":

        def replace(old, new, count=-1):
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
                occurrences = (len(s) + 1) if not old else s.count(old)
                if isinstance(count, int) and count >= 0:
                    occurrences = min(occurrences, count)
                _check_len(len(s) + occurrences * (len(new) - len(old)))
            return method(old, new, count)

        return replace
    return method


_STR_GUARDED = frozenset(("ljust", "rjust", "center", "zfill", "expandtabs", "join", "replace"))


def guarded_getattr(obj, name, default=None):
    """RestrictedPython's ``safer_getattr`` plus size guards on a few str/bytes methods."""
    value = safer_getattr(obj, name, default)
    if name in _STR_GUARDED and isinstance(obj, (str, bytes)):
        return _guard_str_method(name, obj, value)
    if name in _STR_GUARDED and obj in (str, bytes):
        unbound = value

        def call(self, *args, **kwargs):
            return (
                _guard_str_method(name, self, getattr(self, name))(*args, **kwargs)
                if isinstance(self, (str, bytes))
                else unbound(self, *args, **kwargs)
            )

        return call
    return value


def guarded_getitem(obj, index):
    return obj[index]


def guarded_getiter(obj):
    return obj


def guarded_apply(func, *args, **kwargs):
    return func(*args, **kwargs)


def _tick():
    """Called at the top of every loop body; the call event lets the tracer check the deadline."""


def _build_builtins():
    allowed = dict(safe_builtins)
    # Not exposed: class creation, exception classes that could catch the timeout,
    # and attribute writers (not needed by scripts).
    for name in (
        "__build_class__",
        "BaseException",
        "KeyboardInterrupt",
        "SystemExit",
        "GeneratorExit",
        "setattr",
        "delattr",
    ):
        allowed.pop(name, None)
    allowed.update(
        {
            "len": len,
            "min": min,
            "max": max,
            "sum": guarded_sum,
            "any": any,
            "all": all,
            "sorted": sorted,
            "round": round,
            "abs": abs,
            "int": int,
            "float": float,
            "str": str,
            "bool": bool,
            "list": list,
            "dict": dict,
            "set": set,
            "tuple": tuple,
            "enumerate": enumerate,
            "zip": zip,
            "range": guarded_range,
            "isinstance": isinstance,
            "pow": guarded_pow,
        }
    )
    return allowed


SAFE_BUILTINS = _build_builtins()

# Names the compiled code refers to; a script can never assign or read these itself
# (RestrictedPython rejects names starting with "_").
_GUARD_GLOBALS = {
    "__builtins__": SAFE_BUILTINS,
    "_getattr_": guarded_getattr,
    "_getitem_": guarded_getitem,
    "_getiter_": guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": guarded_inplacevar,
    "_apply_": guarded_apply,
    "_print_": PrintCollector,
    "_pow_": guarded_pow,
    "_mul_": guarded_mul,
    "_lshift_": guarded_lshift,
    "_add_": guarded_add,
    "_mod_": guarded_mod,
    "_format_": guarded_format,
    "_tick_": _tick,
}
