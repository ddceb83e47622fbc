"""A restricted script environment for SpiffWorkflow.

SpiffWorkflow's default ``TaskDataEnvironment`` runs scripts and conditions with plain
``eval``/``exec`` and the task data as globals. ``SandboxedEnvironment`` keeps the same
semantics (scripts read and assign task data; conditions return a value) but:

* compiles with RestrictedPython and a stricter policy (``SandboxPolicy``): no imports, no
  names/attributes starting with ``_``, no classes, no ``with``, no ``try/finally`` and no
  bare ``except`` (those could run code after the time limit fired);
* runs with a small builtin allow-list and RestrictedPython's guards;
* rewrites ``**``, ``*``, ``<<``, ``+`` and ``%`` into guard calls that refuse results that
  would be huge (``ResourceLimitExceeded``), and guards the str methods that can build huge
  strings in one C call (``ljust``, ``join``, ``replace`` ...) and f-string format specs;
* bounds wall-clock time per call with ``sys.settrace`` (``ScriptTimeout``), restoring any
  previous trace function afterwards;
* caches compiled code by source text.

Not covered: total memory (a loop may still allocate up to ~1e6-item objects repeatedly
until the time limit fires) and time spent inside a single C call; run workers with an
OS-level memory limit.
"""
import ast
import functools
import math
import numbers
import operator
import re
import sys
import time

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

__all__ = [
    "SandboxError",
    "ScriptRejected",
    "ScriptTimeout",
    "ResourceLimitExceeded",
    "SandboxPolicy",
    "SandboxedEnvironment",
    "validate",
    "compile_sandboxed",
    "SAFE_BUILTINS",
    "MAX_INT_DIGITS",
    "MAX_SEQUENCE",
    "MAX_SHIFT",
    "MAX_RANGE",
]

FILENAME = "<string>"  # SpiffWorkflow looks for this filename in tracebacks to report line numbers

MAX_INT_DIGITS = 10_000          # largest integer result of **, * and << (decimal digits)
MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10)) + 1
MAX_SEQUENCE = 1_000_000         # largest str/bytes/list/tuple built by *, +, %, padding, join ...
MAX_SHIFT = 10_000               # largest shift count of <<
MAX_RANGE = 1_000_000            # longest range()


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
    return base ** exp


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
            return _guard_str_method(name, self, getattr(self, name))(*args, **kwargs) \
                if isinstance(self, (str, bytes)) else unbound(self, *args, **kwargs)
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
    for name in ("__build_class__", "BaseException", "KeyboardInterrupt", "SystemExit", "GeneratorExit",
                 "setattr", "delattr"):
        allowed.pop(name, None)
    allowed.update({
        "len": len, "min": min, "max": max, "sum": guarded_sum, "any": any, "all": all,
        "sorted": sorted, "round": round, "abs": abs, "int": int, "float": float, "str": str,
        "bool": bool, "list": list, "dict": dict, "set": set, "tuple": tuple,
        "enumerate": enumerate, "zip": zip, "range": guarded_range, "isinstance": isinstance,
        "pow": guarded_pow,
    })
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


# --------------------------------------------------------------------------------------
# Compile-time policy


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, stricter, and with arithmetic/format guards injected."""

    def _call(self, name, args, like):
        node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
        copy_locations(node, like)
        return node

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return self._call(guard, [node.left, node.right], node)

    def visit_FormattedValue(self, node):
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        call = self._call("_format_", [node.value, ast.Constant(node.conversion), node.format_spec], node)
        new = ast.FormattedValue(value=call, conversion=-1, format_spec=None)
        copy_locations(new, node)
        return new

    def visit_AugAssign(self, node):
        # `d[k] op= v` with simple d and k: rewrite to `d[k] = d[k] op v` (RestrictedPython refuses it).
        target = node.target
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                and isinstance(target.slice, (ast.Name, ast.Constant)):
            load = ast.Subscript(value=ast.Name(target.value.id, ast.Load()), slice=target.slice, ctx=ast.Load())
            copy_locations(load, target)
            new = ast.Assign(targets=[target], value=ast.BinOp(left=load, op=node.op, right=node.value))
            copy_locations(new, node)
            copy_locations(new.value, node)
            return self.visit(new)
        return super().visit_AugAssign(node)

    def _tick(self, node):
        # Make every loop iteration call a Python function, so the trace function sees an
        # event even for loops CPython does not report line events for (`while True: pass`).
        tick = ast.Expr(self._call("_tick_", [], node.body[0] if node.body else node))
        copy_locations(tick, node.body[0] if node.body else node)
        node.body.insert(0, tick)
        return node

    def visit_While(self, node):
        return self._tick(super().visit_While(node))

    def visit_For(self, node):
        return self._tick(super().visit_For(node))

    def visit_Import(self, node):
        self.error(node, "import statements are not allowed in scripts.")
        return node

    def visit_ImportFrom(self, node):
        self.error(node, "import statements are not allowed in scripts.")
        return node

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed in scripts.")
        return node

    def visit_With(self, node):
        self.error(node, "with statements are not allowed in scripts.")
        return node

    def visit_Try(self, node):
        if node.finalbody:
            self.error(node, "try/finally is not allowed in scripts.")
        return super().visit_Try(node)

    def visit_ExceptHandler(self, node):
        if node.type is None:
            self.error(node, "a bare 'except:' is not allowed in scripts; name the exception type.")
        else:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if not all(isinstance(t, ast.Name) for t in types):
                self.error(node, "the exception type of an 'except' clause must be a name or a tuple of names.")
        return super().visit_ExceptHandler(node)


def _restricted_compile(source, mode):
    if not isinstance(source, str):
        raise ScriptRejected([f"expected source text, got {type(source).__name__}"])
    if mode == "eval":
        result = compile_restricted_eval(source.strip(), filename=FILENAME, policy=SandboxPolicy)
    elif mode == "exec":
        result = compile_restricted_exec(source, filename=FILENAME, policy=SandboxPolicy)
    else:
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    return result


@functools.lru_cache(maxsize=4096)
def compile_sandboxed(source, mode):
    """Compile ``source`` under the sandbox policy (cached); raise ``ScriptRejected`` if refused."""
    result = _restricted_compile(source, mode)
    if result.errors:
        raise ScriptRejected(result.errors, source)
    return result.code


def validate(source, mode="exec"):
    """Error messages for ``source`` compiled under the sandbox (``[]`` if it is accepted).

    ``mode`` is ``"exec"`` for scripts and ``"eval"`` for conditions and expressions.
    """
    try:
        compile_sandboxed(source, mode)
    except ScriptRejected as exc:
        return list(exc.errors)
    return []


# --------------------------------------------------------------------------------------
# The environment


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """Script environment for ``PythonScriptEngine(environment=...)``.

    ``environment_globals``: name -> value made available to scripts (helpers such as
    ``working_days_duration``); never written into task data.
    ``time_limit``: wall-clock seconds allowed per evaluate/execute call.
    """

    def __init__(self, environment_globals=None, time_limit=1.0):
        super().__init__(dict(environment_globals or {}))
        for name in self.globals:
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"environment global {name!r} must be an identifier not starting with '_'")
        self.time_limit = float(time_limit)

    # -- SpiffWorkflow API -------------------------------------------------------------

    def evaluate(self, expression, context, external_context=None):
        code = compile_sandboxed(expression, "eval")
        namespace = self._namespace(context, external_context)
        return self._run(code, namespace, eval)

    def execute(self, script, context, external_context=None):
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        code = compile_sandboxed(script, "exec")
        namespace = self._namespace(context, external_context)
        try:
            self._run(code, namespace, exec)
        finally:
            self._write_back(namespace, context, external_context)
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks are run by the host script engine, not by the sandbox")

    def check_for_overwrite(self, context, external_context):
        overwrites = set(self.globals).intersection(context)
        overwrites.update(set(external_context).intersection(context))
        if overwrites:
            raise ValueError(
                "You have task data that overwrites a predefined function(s). Please change the "
                f"following variable or field name(s) to something else: {sorted(overwrites)}")

    # -- internals ---------------------------------------------------------------------

    def _namespace(self, context, external_context):
        namespace = dict(self.globals)
        if external_context:
            namespace.update(external_context)
        namespace.update(context)
        namespace.update(_GUARD_GLOBALS)  # last: task data can never replace a guard
        return namespace

    def _write_back(self, namespace, context, external_context):
        """Copy the script's variables into the task data, like TaskDataEnvironment does,
        leaving out guards, helpers, external context and anything callable."""
        for key in [k for k in context if k not in namespace]:
            del context[key]  # `del x` in the script
        for key, value in namespace.items():
            if key in _GUARD_GLOBALS or (key.startswith("_") and key not in context):
                continue  # guards and compiler temporaries (e.g. the print collector)
            if key in self.globals or key in external_context or callable(value):
                context.pop(key, None)
                continue
            context[key] = value

    def _run(self, code, namespace, runner):
        deadline = time.monotonic() + self.time_limit
        monotonic = time.monotonic

        def tracer(frame, event, arg):
            if monotonic() > deadline:
                raise _Deadline()
            # Line events only for sandboxed code (host helpers are trusted and stay fast).
            return tracer if frame.f_code.co_filename == FILENAME else None

        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            return runner(code, namespace)
        except _Deadline as exc:
            raise ScriptTimeout(f"script exceeded the time limit of {self.time_limit:g}s") \
                .with_traceback(exc.__traceback__) from None
        finally:
            sys.settrace(previous)
