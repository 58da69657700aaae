# The guest half of cathode's WASM Python kernel. Runs once per interpreter,
# in the first turn; afterwards every turn is `__cathode__._turn()`.
#
# Everything the guest says to the host goes through the one door,
# `_host.call(bytes) -> bytes`, with a one-byte opcode:
#   O<text>  stdout write          E<text>  stderr write
#   M<json>  an output message (display_data, execute_result, error, ...)
#   I<json>  input request: answered V<value>, declined D, interrupted K,
#            not served (allow_stdin false) N
#   S<secs>  sleep, ended early by an interrupt (K)
#   G        get the current request (JSON)
#   R<json>  the reply to a non-execute request (complete, inspect, ...)
# Any answer starting with K means "raise KeyboardInterrupt now"; L means the
# output limit was hit.
import sys, builtins, json, ast, io, time, base64, linecache, types, uuid, os
import importlib.abc, importlib.util
import _host

# Importing the signal module is what installs CPython's SIGINT handler
# (`default_int_handler`); without it a tripped SIGINT is dropped as
# "ignored due to race condition", so the host's interrupt flags (poke.rs)
# would never become a KeyboardInterrupt.
import signal as _signal_module_installs_the_sigint_handler

del _signal_module_installs_the_sigint_handler

_call = _host.call


class OutputLimitExceeded(Exception):
    """The cell printed more than the kernel's output limit."""


def _check(answer):
    if answer:
        c = answer[:1]
        if c == b"K":
            raise KeyboardInterrupt
        if c == b"L":
            raise OutputLimitExceeded(answer[1:].decode("utf-8", "replace"))
    return answer


class _Stream(io.TextIOBase):
    def __init__(self, op, name):
        self._op = op
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno")

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if s:
            _check(_call(self._op + s.encode("utf-8", "surrogatepass")))
        return len(s)

    def flush(self):
        pass


sys.stdout = sys.__stdout__ = _Stream(b"O", "<stdout>")
sys.stderr = sys.__stderr__ = _Stream(b"E", "<stderr>")


def _emit(msg):
    _check(_call(b"M" + json.dumps(msg).encode("utf-8")))


# ---- rich display ----------------------------------------------------------

_MIME_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
    ("application/pdf", "_repr_pdf_"),
)
_BINARY = {"image/png", "image/jpeg", "application/pdf"}


def _encode(mime, value):
    if mime in _BINARY and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _format(obj):
    """The MIME bundle and metadata for obj, as IPython's formatters give them."""
    data, md = {}, {}
    if isinstance(obj, type):
        return {"text/plain": repr(obj)}, md
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(bundle):
        try:
            r = bundle()
            if isinstance(r, tuple):
                r, m = r
                md.update(m or {})
            for k, v in (r or {}).items():
                data[k] = _encode(k, v)
        except Exception:
            pass
    for mime, meth in _MIME_METHODS:
        if mime in data:
            continue
        f = getattr(obj, meth, None)
        if not callable(f):
            continue
        try:
            r = f()
        except NotImplementedError:
            continue
        except Exception as e:
            print(f"{type(obj).__name__}.{meth} raised {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if r is None:
            continue
        if isinstance(r, tuple) and len(r) == 2:
            r, m = r
            md[mime] = m
        data[mime] = _encode(mime, r)
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as e:
            data["text/plain"] = f"<repr failed: {type(e).__name__}>"
    return data, md


class DisplayHandle:
    def __init__(self, display_id=None):
        self.display_id = display_id or uuid.uuid4().hex

    def display(self, obj, **kw):
        display(obj, display_id=self.display_id, **kw)

    def update(self, obj, **kw):
        update_display(obj, display_id=self.display_id, **kw)

    def __repr__(self):
        return f"<DisplayHandle display_id={self.display_id}>"


def display(*objs, include=None, exclude=None, metadata=None, transient=None,
            display_id=None, raw=False, clear=False, **kwargs):
    if display_id is True:
        display_id = uuid.uuid4().hex
    if clear:
        clear_output(wait=True)
    for obj in objs:
        if raw:
            data, md = dict(obj), {}
        else:
            data, md = _format(obj)
        if metadata:
            md.update(metadata)
        if include:
            data = {k: v for k, v in data.items() if k in include}
        if exclude:
            data = {k: v for k, v in data.items() if k not in exclude}
        _emit({"type": "display_data", "data": data, "metadata": md, "display_id": display_id})
    if display_id:
        return DisplayHandle(display_id)
    return None


def update_display(obj, *, display_id, raw=False, metadata=None, **kwargs):
    data, md = (dict(obj), {}) if raw else _format(obj)
    if metadata:
        md.update(metadata)
    _emit({"type": "update_display_data", "data": data, "metadata": md, "display_id": display_id})


def clear_output(wait=False):
    _emit({"type": "clear_output", "wait": bool(wait)})


builtins.display = display


# IPython.display look-alikes, for code written for Jupyter.
class _Obj:
    _mime = "text/plain"

    def __init__(self, data=None, url=None, filename=None, metadata=None, **kw):
        if filename is not None:
            with open(filename, "rb" if self._mime in _BINARY else "r") as f:
                data = f.read()
        self.data = data
        self.metadata = metadata

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self._mime: self.data}, ({self._mime: self.metadata} if self.metadata else {})

    def __repr__(self):
        return f"<{type(self).__name__} object>"


class HTML(_Obj): _mime = "text/html"
class Markdown(_Obj): _mime = "text/markdown"
class SVG(_Obj): _mime = "image/svg+xml"
class Latex(_Obj): _mime = "text/latex"
class Math(_Obj): _mime = "text/latex"
class Javascript(_Obj): _mime = "application/javascript"
class JSON(_Obj): _mime = "application/json"


class Image(_Obj):
    def __init__(self, data=None, url=None, filename=None, format=None, **kw):
        super().__init__(data=data, url=url, filename=None, **kw)
        if filename is not None:
            with open(filename, "rb") as f:
                self.data = f.read()
            format = format or filename.rsplit(".", 1)[-1].lower()
        self._mime = "image/jpeg" if format in ("jpg", "jpeg") else "image/png"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self._mime: _encode(self._mime, self.data)}, {}


_display_mod = types.ModuleType("IPython.display")
for _n in ("display", "update_display", "clear_output", "DisplayHandle", "HTML", "Markdown",
           "SVG", "Latex", "Math", "Javascript", "JSON", "Image"):
    setattr(_display_mod, _n, globals()[_n])
_ipython_mod = types.ModuleType("IPython")
_ipython_mod.display = _display_mod
_ipython_mod.get_ipython = lambda: None


# ---- matplotlib: our own backend, so plt.show() displays PNGs ---------------

_BACKEND_SRC = """
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas
from matplotlib.backend_bases import FigureManagerBase as FigureManager

def show(*args, **kwargs):
    import __cathode__
    __cathode__._show_figures()
"""


class _Loader(importlib.abc.Loader):
    def __init__(self, src=None, module=None):
        self._src, self._module = src, module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        if self._src is not None:
            exec(self._src, module.__dict__)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "_cathode_mpl_backend":
            return importlib.util.spec_from_loader(name, _Loader(src=_BACKEND_SRC))
        if name == "IPython":
            return importlib.util.spec_from_loader(name, _Loader(module=_ipython_mod), is_package=True)
        if name == "IPython.display":
            return importlib.util.spec_from_loader(name, _Loader(module=_display_mod))
        return None


sys.meta_path.insert(0, _Finder())
os.environ["MPLBACKEND"] = "module://_cathode_mpl_backend"
os.environ.setdefault("MPLCONFIGDIR", "/tmp/.matplotlib")


def _show_figures():
    if "matplotlib.pyplot" not in sys.modules:
        return
    from matplotlib._pylab_helpers import Gcf
    import matplotlib.pyplot as plt
    for manager in Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        w, h = fig.get_size_inches() * fig.dpi
        display({"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                 "text/plain": f"<Figure size {w:g}x{h:g} with {len(fig.axes)} Axes>"}, raw=True)
    plt.close("all")


# ---- stdin, sleep -----------------------------------------------------------

def _input(prompt=""):
    return _ask(str(prompt), False)


def _ask(prompt, password):
    answer = _call(b"I" + json.dumps({"prompt": prompt, "password": password}).encode())
    c = answer[:1]
    if c == b"V":
        return answer[1:].decode("utf-8")
    if c == b"K":
        raise KeyboardInterrupt
    if c == b"N":
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests.")
    raise EOFError("input was declined")


class StdinNotImplementedError(NotImplementedError):
    """input() in a run that serves no stdin (a headless run), as IPython
    names it."""


builtins.input = _input
try:
    import getpass as _getpass
    _getpass.getpass = lambda prompt="Password: ", stream=None: _ask(prompt, True)
except Exception:
    pass


def _sleep(seconds):
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _check(_call(b"S" + repr(seconds).encode()))


time.sleep = _sleep


# ---- running cells ----------------------------------------------------------

user_ns = sys.modules["__main__"].__dict__

_SANDBOX_HINTS = (
    ("ModuleNotFoundError", None,
     "packages cannot be installed in the WASM Python kernel (no pip, no network); "
     "it bundles numpy, pandas, scipy, scikit-learn, statsmodels, matplotlib and lxml"),
    (None, ("socket", "urllib", "http", "ssl", "requests"),
     "the WASM Python kernel has no network access"),
    (None, ("subprocess", "multiprocessing", "concurrent/futures/process"),
     "the WASM Python kernel cannot start processes"),
)


def _hint(ename, tb_text):
    for name, modules, hint in _SANDBOX_HINTS:
        if name is not None and ename == name:
            return hint
        if modules is not None and any(f"/{m}" in tb_text or f"{m}.py" in tb_text for m in modules):
            if ename in ("OSError", "PermissionError", "ConnectionError", "URLError",
                         "gaierror", "NotImplementedError", "RuntimeError", "ModuleNotFoundError",
                         "ImportError", "AttributeError", "BlockingIOError", "ConnectionRefusedError"):
                return hint
    return None


def _report(exc):
    import traceback
    tb = exc.__traceback__
    # Drop our own frames: the user's code starts below _execute.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    ename = type(exc).__name__
    evalue = str(exc)
    hint = _hint(ename, "".join(lines))
    if hint:
        evalue = f"{evalue} ({hint})" if evalue else hint
        lines.append(f"Note: {hint}\n")
    _emit({"type": "error", "ename": ename, "evalue": evalue, "traceback": lines})


def _reject_magics(code):
    for line in code.splitlines():
        s = line.lstrip()
        if s.startswith("!") or s.startswith("%"):
            word = s[1:].split(None, 1)[0] if s[1:].split() else ""
            if word in ("pip", "conda", "%pip") or s.startswith("!"):
                raise RuntimeError(
                    "shell commands and pip are not available in the WASM Python kernel: it has "
                    "no processes and no network; it bundles numpy, pandas, scipy, scikit-learn, "
                    "statsmodels, matplotlib and lxml")
            raise SyntaxError(f"IPython magics are not supported in the WASM Python kernel: {s[:40]!r}")


def _execute(code, count):
    fname = f"<cell-{count}>"
    try:
        linecache.cache[fname] = (len(code), None, code.splitlines(True), fname)
        _reject_magics(code)
        tree = ast.parse(code, fname, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, fname, "exec"), user_ns)
        if last is not None:
            value = eval(compile(last, fname, "eval"), user_ns)
            if value is not None:
                user_ns["_"] = value
                data, md = _format(value)
                _emit({"type": "execute_result", "data": data, "metadata": md})
    except BaseException as e:
        try:
            _report(e)
        except KeyboardInterrupt:
            _report(e)
    try:
        _show_figures()
    except BaseException as e:
        _report(e)


# ---- completion, inspection, is_complete ------------------------------------

def _token(code, cursor):
    start = cursor
    while start > 0 and (code[start - 1].isalnum() or code[start - 1] in "_."):
        start -= 1
    return start, code[start:cursor]


def _module_names(prefix):
    """Importable module names under `prefix` (dotted for a package's
    submodules once the package is imported), as IPython offers after
    `import`."""
    import pkgutil
    package = prefix.rpartition(".")[0]
    if package:
        mod = sys.modules.get(package)
        paths = getattr(mod, "__path__", None)
        if paths is None:
            return []
        names = {package + "." + m.name for m in pkgutil.iter_modules(paths)}
    else:
        names = set(sys.builtin_module_names)
        names.update(m.name for m in pkgutil.iter_modules())
    return sorted(n for n in names if n.startswith(prefix) and not n.rpartition(".")[2].startswith("__"))


def _complete(code, cursor):
    import re
    import rlcompleter
    start, text = _token(code, cursor)
    line = code[:cursor].rpartition("\n")[2]
    if re.match(r"^\s*(import|from)\s+[\w.]*$", line) or re.match(r"^\s*import\s+.*,\s*[\w.]*$", line):
        return {"matches": _module_names(text), "cursor_start": start, "cursor_end": cursor}
    member = re.match(r"^\s*from\s+([\w.]+)\s+import\s+.*?(\w*)$", line)
    if member and member.group(1) in sys.modules:
        names = sorted(n for n in dir(sys.modules[member.group(1)]) if n.startswith(text) and not n.startswith("_"))
        return {"matches": names, "cursor_start": start, "cursor_end": cursor}
    completer = rlcompleter.Completer(user_ns)
    matches, i = [], 0
    while True:
        m = completer.complete(text, i)
        if m is None or i > 500:
            break
        m = m.rstrip("(")
        if m not in matches:
            matches.append(m)
        i += 1
    return {"matches": matches, "cursor_start": start, "cursor_end": cursor}


def _callee_before(code, cursor):
    """The end of the name called by the innermost open parenthesis before
    the cursor (`print(` or `f(1, ` gives the end of `print`/`f`), as
    Shift-Tab inside a call shows the function."""
    depth = 0
    i = cursor - 1
    while i >= 0:
        ch = code[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                j = i
                while j > 0 and code[j - 1] == " ":
                    j -= 1
                return j
            depth -= 1
        i -= 1
    return None


def _inspect(code, cursor, detail):
    import inspect, pydoc
    end = cursor
    while end < len(code) and (code[end].isalnum() or code[end] == "_"):
        end += 1
    start, name = _token(code, end)
    if not name:
        callee = _callee_before(code, cursor)
        if callee is not None:
            start, name = _token(code, callee)
    parts = [p for p in name.split(".") if p]
    if not parts:
        return {"found": False, "data": {}}
    try:
        obj = user_ns[parts[0]] if parts[0] in user_ns else getattr(builtins, parts[0])
        for p in parts[1:]:
            obj = getattr(obj, p)
    except Exception:
        return {"found": False, "data": {}}
    try:
        sig = str(inspect.signature(obj))
    except Exception:
        sig = ""
    doc = pydoc.getdoc(obj) or ""
    text = f"{name}{sig}\nType: {type(obj).__name__}\n"
    if not (callable(obj) or inspect.ismodule(obj)):
        # As IPython's "String form": what the value is, briefly.
        try:
            form = repr(obj)
        except Exception:
            form = "<unrepresentable>"
        text += f"String form: {form[:200]}\n"
    text += f"\n{doc}"
    return {"found": True, "data": {"text/plain": text}}


def _is_complete(code):
    import codeop
    try:
        r = codeop.compile_command(code, "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return {"status": "invalid"}
    if r is None:
        last = code.splitlines()[-1] if code.splitlines() else ""
        indent = last[: len(last) - len(last.lstrip())]
        if last.rstrip().endswith(":"):
            indent += "    "
        return {"status": "incomplete", "indent": indent}
    return {"status": "complete"}


def _turn():
    # An interrupt may already be pending when a turn starts (it was sent
    # after the cell was handed over); it must become the cell's error, not
    # escape from here unreported.
    interrupted = False
    while True:
        try:
            req = json.loads(_call(b"G"))
            break
        except KeyboardInterrupt:
            interrupted = True
    op = req["op"]
    if op == "execute":
        if interrupted:
            _report(KeyboardInterrupt())
            return
        _execute(req["code"], req["count"])
        return
    try:
        if op == "complete":
            r = _complete(req["code"], req["cursor"])
        elif op == "inspect":
            r = _inspect(req["code"], req["cursor"], req.get("detail", 0))
        elif op == "is_complete":
            r = _is_complete(req["code"])
        else:
            r = {"error": f"unknown op {op}"}
    except BaseException as e:
        r = {"error": f"{type(e).__name__}: {e}"}
    _call(b"R" + json.dumps(r).encode())
