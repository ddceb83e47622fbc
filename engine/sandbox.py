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
import sys
import time

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .sandbox_guards import (  # noqa: F401  (re-exported: the sandbox's public names)
    _BINOP_GUARDS,
    _GUARD_GLOBALS,
    FILENAME,
    MAX_INT_DIGITS,
    MAX_RANGE,
    MAX_SEQUENCE,
    MAX_SHIFT,
    SAFE_BUILTINS,
    ResourceLimitExceeded,
    SandboxError,
    ScriptRejected,
    ScriptTimeout,
    _Deadline,
)

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
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and isinstance(target.slice, (ast.Name, ast.Constant))
        ):
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
                f"following variable or field name(s) to something else: {sorted(overwrites)}"
            )

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
            raise ScriptTimeout(f"script exceeded the time limit of {self.time_limit:g}s").with_traceback(
                exc.__traceback__
            ) from None
        finally:
            sys.settrace(previous)
