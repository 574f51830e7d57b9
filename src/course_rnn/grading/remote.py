"""Plain-data remote calls between the trusted grader and the sandboxed student kernel.

Nothing crosses the boundary but plain data: ``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes``, lists, tuples, sets, dicts, ``types.SimpleNamespace``
and slices of those, NumPy arrays and scalars of numeric, boolean or fixed-width string
dtypes (raw bytes + dtype + shape) and torch tensors (raw bytes + dtype name + shape).
Anything else travels as a *handle*: the trusted side gets a :class:`RemoteObject`
whose attribute reads, calls, indexing and ``len`` are forwarded to the kernel. There
is no pickle anywhere: decoding builds only the types above, so no student object (and
no student ``__eq__``) ever exists in the trusted process.

Frame on a pipe: ``!II`` (header length, number of buffers), the JSON header, then each
buffer as ``!Q`` length + bytes. A frame over the caps is read to its end and dropped
(:class:`ReplyTooLarge`), so one oversized reply fails one call and the channel stays in
step. Both sides speak the same protocol; each side answers
requests while it waits for its own reply, so the kernel can call back into functions
the trusted test passed to student code (plain data in, plain data out).
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import re
import select
import struct
import sys
import time
import types
from typing import Any

MAX_HEADER_BYTES = 64 << 20
MAX_MESSAGE_BYTES = 512 << 20
MAX_DEPTH = 64
MAX_BUFFERS = 100_000
# An oversized frame is drained (read and dropped) up to this many bytes and buffers;
# past them the channel is given up (the kernel is killed and restarted).
MAX_DRAIN_BYTES = 4 << 30
MAX_DRAIN_BUFFERS = 10_000_000
# The allow-lists of what a message may decode to, fixed when this module is imported:
# NumPy dtype kinds, torch dtype names, and (below) the builtin exception classes.
ARRAY_KINDS = "biufcUS"
TORCH_DTYPES = tuple(
    "float64 float32 float16 bfloat16 complex64 complex128 int64 int32 int16 int8 uint8 bool"
    .split()
)  # fmt: skip


class ChannelClosed(Exception):
    """The other side went away (the student kernel died or closed the pipe)."""


class ChannelTimeout(Exception):
    """No reply before the deadline."""


class ProtocolError(Exception):
    """A frame that does not follow the protocol."""


class BadReply(ProtocolError):
    """A reply read whole whose payload was refused (too large decoded, a bad dtype):
    the channel is still in sync, so the kernel can go on serving."""


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.3g} MB"


class ReplyTooLarge(BadReply):
    """A frame over the caps, read to its end and dropped: the channel is in step.

    ``kind`` is what the frame said it was (``"rep"``, ``"req"`` or ``""`` when it did
    not say); ``size`` its bytes, ``limit`` the cap it broke; ``parts`` and
    ``parts_limit`` the number of arrays and bytes values when that was the cap.
    """

    def __init__(
        self,
        size: int,
        limit: int,
        kind: str = "rep",
        parts: int = 0,
        parts_limit: int = 0,
        message: str = "",
    ) -> None:
        self.size, self.limit, self.kind = size, limit, kind
        self.parts, self.parts_limit = parts, parts_limit
        if message:
            super().__init__(message)
            return
        if parts_limit and parts > parts_limit:
            what = f"{parts:,} arrays, numbers or bytes values; the limit is {parts_limit:,}"
        else:
            what = f"{_megabytes(size)}; the limit is {_megabytes(limit)}"
        if kind == "req":
            super().__init__(f"your code sent the grader {what} (send a smaller value)")
        else:
            super().__init__(f"your code returned {what} (return a smaller value)")


class StudentCodeError(Exception):
    """Student code raised an exception while the trusted side called it."""

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = traceback


def _student_class(base_cls: type) -> type | None:
    """``Student<Base>``, a :class:`StudentCodeError` that is also a ``base_cls``, or None
    when such an error cannot be made (a base with its own allocator or arguments)."""
    cls = type(f"Student{base_cls.__name__}", (StudentCodeError, base_cls), {})
    try:
        StudentCodeError.__init__(cls.__new__(cls), "T", "probe")
    except Exception:  # noqa: BLE001 - MemoryError, UnicodeDecodeError, ExceptionGroup ...
        return None
    return cls


# The builtin exception classes a student error may also be an instance of, by name:
# fixed when this module is imported, so a name the kernel sends is only looked up here.
BUILTIN_ERRORS: dict[str, type] = {
    name: cls
    for name, value in vars(builtins).items()
    if isinstance(value, type)
    and issubclass(value, Exception)
    and not issubclass(value, StopIteration | StopAsyncIteration)
    and value is not Exception
    and (cls := _student_class(value)) is not None
}


def student_error(base: str, type_name: str, message: str, tb: str = "") -> StudentCodeError:
    """A :class:`StudentCodeError` that is also an instance of the builtin ``base``.

    So a test can ``except ValueError`` around a call that must reject bad input. Only
    the classes of :data:`BUILTIN_ERRORS` are used; any other base gives a plain
    :class:`StudentCodeError`.
    """
    cls = BUILTIN_ERRORS.get(base, StudentCodeError)
    err = cls.__new__(cls)
    StudentCodeError.__init__(err, type_name, message, tb)
    return err


# --------------------------------------------------------------------------- frames
def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_frame(fd: int, header: dict[str, Any], buffers: list[bytes]) -> None:
    """Send one frame (header JSON + raw buffers)."""
    head = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    parts = [struct.pack("!II", len(head), len(buffers)), head]
    for buf in buffers:
        parts.append(struct.pack("!Q", len(buf)))
        parts.append(bytes(buf) if not isinstance(buf, bytes) else buf)
    _write_all(fd, b"".join(parts))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n > 0:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout("no reply before the time limit")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise ChannelTimeout("no reply before the time limit")
        chunk = os.read(fd, min(n, 1 << 22))
        if not chunk:
            raise ChannelClosed("the other side closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _skip(fd: int, n: int, deadline: float | None) -> None:
    """Read ``n`` bytes and drop them (a chunk at a time: nothing is kept)."""
    while n > 0:
        chunk = _read_exact(fd, min(n, 1 << 22), deadline)
        n -= len(chunk)


_KIND = re.compile(rb'\{\s*"k"\s*:\s*"(rep|req)"')


def _drain(
    fd: int, deadline: float | None, head_len: int, nbufs: int, limit: int, read: int = 0
) -> ReplyTooLarge:
    """Read the rest of an oversized frame and drop it; return the error to raise.

    ``read`` bytes of it were read already (the header and buffers before the one that
    broke the cap: then ``head_len`` is 0 and ``nbufs`` the buffers still to come).
    Raises ``ProtocolError`` (the channel is lost) past the drain caps.
    """
    kind = ""
    if head_len:
        prefix = _read_exact(fd, min(head_len, 64), deadline)
        match = _KIND.match(prefix)
        kind = match[1].decode() if match else ""
        _skip(fd, head_len - len(prefix), deadline)
    total = read + head_len
    for _ in range(nbufs):
        (size,) = struct.unpack("!Q", _read_exact(fd, 8, deadline))
        total += size
        if total > MAX_DRAIN_BYTES:
            raise ProtocolError(f"message larger than {MAX_DRAIN_BYTES} bytes")
        _skip(fd, size, deadline)
    return ReplyTooLarge(total, limit, kind)


def read_frame(
    fd: int, deadline: float | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[dict[str, Any], list[bytes]]:
    """Receive one frame; sizes are checked before anything is allocated.

    A frame over the caps (``MAX_HEADER_BYTES``, ``max_bytes``, ``MAX_BUFFERS``) is read
    to its end and dropped, then :class:`ReplyTooLarge` is raised: the next frame reads
    as usual. Only a frame too large to drain raises a plain ``ProtocolError``.
    """
    head_len, nbufs = struct.unpack("!II", _read_exact(fd, 8, deadline))
    if head_len > MAX_HEADER_BYTES or nbufs > MAX_BUFFERS or head_len > max_bytes:
        if nbufs > MAX_DRAIN_BUFFERS:
            raise ProtocolError(f"frame too large: {nbufs} buffers")
        error = _drain(fd, deadline, head_len, nbufs, min(MAX_HEADER_BYTES, max_bytes))
        if nbufs > MAX_BUFFERS and head_len <= MAX_HEADER_BYTES:
            error = ReplyTooLarge(error.size, max_bytes, error.kind, nbufs, MAX_BUFFERS)
        raise error
    try:
        header = json.loads(_read_exact(fd, head_len, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    buffers, total = [], head_len
    for i in range(nbufs):
        (size,) = struct.unpack("!Q", _read_exact(fd, 8, deadline))
        total += size
        if total > max_bytes:
            if total > MAX_DRAIN_BYTES:
                raise ProtocolError(f"message larger than {MAX_DRAIN_BYTES} bytes")
            _skip(fd, size, deadline)
            del buffers
            error = _drain(fd, deadline, 0, nbufs - i - 1, max_bytes, total)
            kind = header.get("k")
            raise ReplyTooLarge(error.size, max_bytes, kind if isinstance(kind, str) else "")
        buffers.append(_read_exact(fd, size, deadline))
    return header, buffers


# --------------------------------------------------------------------------- codec
PINNED: dict[str, Any] = {}  # modules captured before student code could replace them


def pin_modules() -> None:
    """Capture the real numpy (and torch once loaded) for encoding in the kernel."""
    import numpy

    PINNED.setdefault("numpy", numpy)


def _loaded(name: str):
    """The module ``name`` if it has been imported (or is being imported), else None.

    The runner imports test modules in a background thread; ``import_module`` waits for
    an import still in progress there instead of handing back a half-initialised module.
    """
    module = PINNED.get(name)
    if module is None and name in sys.modules:
        module = importlib.import_module(name)
        PINNED[name] = module
    return module


def _numpy():
    return _loaded("numpy")


def _torch():
    return _loaded("torch")


def encode(obj: Any, buffers: list[bytes], export, depth: int = 0) -> Any:
    """Turn ``obj`` into JSON-able data plus raw buffers; ``export(obj)`` makes a handle.

    ``export`` returns the JSON for an object that is not plain data (a handle), or
    raises ``TypeError`` when such objects may not be sent.
    """
    if depth > MAX_DEPTH:
        raise ValueError("data nested too deeply to send")
    if obj is None or isinstance(obj, bool):
        return None if obj is None else bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    np = _numpy()
    if np is not None:
        if isinstance(obj, np.ndarray) and obj.dtype.kind in ARRAY_KINDS and not obj.dtype.fields:
            arr = np.ascontiguousarray(np.asarray(obj))  # (1,) for a 0-d array: send its shape
            buffers.append(arr.tobytes())
            data = {"$": "nd", "d": arr.dtype.str, "s": list(obj.shape), "b": len(buffers) - 1}
            if not obj.flags.writeable:  # the copy on the other side stays read-only too
                data["ro"] = True
            return data
        if isinstance(obj, np.generic) and obj.dtype.kind in ARRAY_KINDS:
            arr = np.asarray(obj).reshape(1)
            buffers.append(arr.tobytes())
            return {"$": "np", "d": arr.dtype.str, "b": len(buffers) - 1}
        if isinstance(obj, np.dtype) and obj.kind in ARRAY_KINDS and not obj.fields:
            return {"$": "npdtype", "v": obj.str}
    torch = _torch()
    if torch is not None:
        if isinstance(obj, torch.Tensor) and not obj.is_sparse:
            name = str(obj.dtype).removeprefix("torch.")
            if name in TORCH_DTYPES:
                t = obj.detach().cpu()
                t = t.float() if name == "bfloat16" else t.resolve_conj().resolve_neg()
                arr = np.ascontiguousarray(t.numpy())  # (1,) for a 0-d tensor: send its shape
                buffers.append(arr.tobytes())
                return {
                    "$": "torch",
                    "t": name,
                    "d": arr.dtype.str,
                    "s": list(t.shape),
                    "b": len(buffers) - 1,
                }
        if isinstance(obj, torch.dtype):
            name = str(obj).removeprefix("torch.")
            if name in TORCH_DTYPES:
                return {"$": "torchdtype", "v": name}
    if isinstance(obj, bytes | bytearray):
        buffers.append(bytes(obj))
        return {"$": "bytes", "b": len(buffers) - 1}
    if isinstance(obj, complex):
        return {"$": "complex", "v": [obj.real, obj.imag]}
    if isinstance(obj, list | tuple | set | frozenset):
        tag = "list"
        for kind in (list, tuple, set, frozenset):  # subclasses travel as their base
            if isinstance(obj, kind):
                tag = kind.__name__
                break
        return {"$": tag, "v": [encode(v, buffers, export, depth + 1) for v in obj]}
    if isinstance(obj, dict):
        items = list(dict.items(obj))
        return {
            "$": "dict",
            "k": [encode(k, buffers, export, depth + 1) for k, _ in items],
            "v": [encode(v, buffers, export, depth + 1) for _, v in items],
        }
    if type(obj) is types.SimpleNamespace:  # a bag of named values (e.g. a model's layers)
        items = [(k, v) for k, v in vars(obj).items() if isinstance(k, str)]
        return {
            "$": "ns",
            "k": [k for k, _ in items],
            "v": [encode(v, buffers, export, depth + 1) for _, v in items],
        }
    if isinstance(obj, slice):
        parts = [obj.start, obj.stop, obj.step]
        return {"$": "slice", "v": [encode(p, buffers, export, depth + 1) for p in parts]}
    if obj is Ellipsis:
        return {"$": "ellipsis"}
    return export(obj)


class ComplexAnswer(Exception):
    """Student code returned a complex value where the grader accepts only real ones."""


class DecodeBudget:
    """Bytes the decoded values of one message may take (the trusted side's memory cap).

    Every array, tensor, bytes or string value is charged its decoded size each time it
    appears, and every container element a fixed amount: a buffer referenced many times,
    or widened to a larger dtype, cannot multiply memory past the cap.
    """

    ITEM_BYTES = 16

    def __init__(self, limit: int) -> None:
        self.limit = self.left = int(limit)

    def charge(self, nbytes: int) -> None:
        self.left -= int(nbytes)
        if self.left < 0:
            raise ReplyTooLarge(
                self.limit - self.left,
                self.limit,
                message=(
                    "your code returned values larger than the message size limit once "
                    f"decoded ({_megabytes(self.limit)}; an array is counted each time it "
                    "appears)"
                ),
            )


def _complex_refused(what: str) -> ComplexAnswer:
    return ComplexAnswer(f"your code returned a complex {what}; answers must be real numbers")


def decode(
    data: Any,
    buffers: list[bytes],
    resolve,
    depth: int = 0,
    budget: DecodeBudget | None = None,
    allow_complex: bool = True,
) -> Any:
    """Rebuild plain data; ``resolve(tag_dict)`` turns a handle into a local object.

    Only the types listed in the module docstring are ever created. ``budget`` caps the
    bytes of the decoded values (default: ``MAX_MESSAGE_BYTES``); ``allow_complex=False``
    raises :class:`ComplexAnswer` for complex numbers, arrays and tensors.
    """
    if budget is None:
        budget = DecodeBudget(MAX_MESSAGE_BYTES)
    if depth > MAX_DEPTH:
        raise ProtocolError("data nested too deeply")

    def sub(value: Any) -> Any:
        return decode(value, buffers, resolve, depth + 1, budget, allow_complex)

    if data is None or isinstance(data, bool | int | float):
        return data
    if isinstance(data, str):
        budget.charge(len(data))
        return data
    if not isinstance(data, dict) or not isinstance(data.get("$"), str):
        raise ProtocolError(f"unexpected value in message: {type(data).__name__}")
    tag = data["$"]
    if tag in ("list", "tuple", "set", "frozenset"):
        values = _list(data.get("v"))
        budget.charge(DecodeBudget.ITEM_BYTES * len(values))
        items = [sub(v) for v in values]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict":
        keys, values = _list(data.get("k")), _list(data.get("v"))
        budget.charge(DecodeBudget.ITEM_BYTES * 2 * len(keys))
        return dict(zip([sub(k) for k in keys], [sub(v) for v in values], strict=True))
    if tag == "ns":
        keys, values = _list(data.get("k")), _list(data.get("v"))
        if not all(isinstance(k, str) and k.isidentifier() and k[:2] != "__" for k in keys):
            raise ProtocolError("a namespace's names must be plain identifiers")
        budget.charge(DecodeBudget.ITEM_BYTES * 2 * len(keys))
        return types.SimpleNamespace(**dict(zip(keys, [sub(v) for v in values], strict=True)))
    if tag in ("nd", "np", "torch"):
        np = _numpy() or importlib.import_module("numpy")
        dtype = _dtype(data.get("d"))
        if dtype.kind == "c" and not allow_complex:
            raise _complex_refused("array" if tag != "np" else "number")
        raw = _buffer(data, buffers)
        if tag == "np":
            if len(raw) < dtype.itemsize:
                raise ProtocolError("scalar buffer too short for its dtype")
            budget.charge(dtype.itemsize)
            return np.frombuffer(raw, dtype=dtype, count=1)[0].copy()
        shape = tuple(_list(data.get("s")))
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise ProtocolError("bad array shape")
        size = 1
        for s in shape:
            size *= s
        if size * dtype.itemsize != len(raw):
            raise ProtocolError("array buffer does not match its shape and dtype")
        if tag == "nd":
            budget.charge(len(raw))
            arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
            if data.get("ro") is True:
                arr.setflags(write=False)
            return arr
        torch = _torch() or importlib.import_module("torch")
        name = data.get("t")
        if name not in TORCH_DTYPES:
            raise ProtocolError(f"unsupported tensor dtype {name!r}")
        target = getattr(torch, name)
        if target.is_complex and not allow_complex:
            raise _complex_refused("tensor")
        if target.itemsize > dtype.itemsize:
            raise ProtocolError(f"tensor dtype {name} is wider than its buffer ({dtype.str})")
        budget.charge(len(raw) + size * target.itemsize)
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return torch.from_numpy(arr).to(target)
    if tag == "npdtype":
        return _dtype(data.get("v"))
    if tag == "torchdtype":
        torch = _torch() or importlib.import_module("torch")
        if data.get("v") not in TORCH_DTYPES:
            raise ProtocolError("unsupported torch dtype")
        return getattr(torch, data["v"])
    if tag == "bytes":
        raw = _buffer(data, buffers)
        budget.charge(len(raw))
        return raw
    if tag == "complex":
        if not allow_complex:
            raise _complex_refused("number")
        parts = _list(data.get("v"))
        if len(parts) != 2 or not all(
            isinstance(p, int | float) and not isinstance(p, bool) for p in parts
        ):
            raise ProtocolError("bad complex number")
        return complex(parts[0], parts[1])
    if tag == "slice":
        parts = _list(data.get("v"))
        if len(parts) != 3:
            raise ProtocolError("bad slice")
        return slice(*[sub(v) for v in parts])
    if tag == "ellipsis":
        return Ellipsis
    return resolve(data)


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError("expected a list in message")
    return value


def _buffer(data: dict, buffers: list[bytes]) -> bytes:
    idx = data.get("b")
    if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(buffers):
        raise ProtocolError("bad buffer index")
    return buffers[idx]


def _dtype(text: Any):
    np = _numpy() or importlib.import_module("numpy")
    if not isinstance(text, str) or len(text) > 16:
        raise ProtocolError("bad dtype")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ProtocolError(f"bad dtype {text!r}") from exc
    if dtype.kind not in ARRAY_KINDS or dtype.fields or dtype.subdtype is not None:
        raise ProtocolError(f"dtype {text!r} is not allowed")
    return dtype


# --------------------------------------------------------------------------- channel
class Channel:
    """One end of the request/reply protocol over a pair of pipe file descriptors.

    ``handler(op, args)`` serves the other side's requests; it returns a Python value
    (encoded with :meth:`encode_value`) or raises (sent back as an error).
    """

    def __init__(self, rfd: int, wfd: int, handler, export, resolve) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.handler, self.export, self.resolve = handler, export, resolve
        self.deadline: float | None = None
        self.max_bytes = MAX_MESSAGE_BYTES
        self.extra: dict[str, Any] = {}  # extra reply fields (e.g. captured output)
        self.allow_complex = True  # the trusted side sets False: complex answers are wrong

    def send(self, header: dict[str, Any], payload: Any = None) -> None:
        """Send a header with an encoded payload under key ``"a"``."""
        buffers: list[bytes] = []
        header = dict(header)
        header["a"] = encode(payload, buffers, self.export)
        write_frame(self.wfd, header, buffers)

    def receive(self) -> tuple[dict[str, Any], Any]:
        """Read one frame; a payload that fails to decode comes back as the exception.

        So does a frame too large to read (drained: the channel stays in step), under
        the kind it named, if it named one.
        """
        try:
            header, buffers = read_frame(self.rfd, self.deadline, self.max_bytes)
        except ReplyTooLarge as exc:
            return ({"k": exc.kind} if exc.kind else {}), DecodeFailure(exc)
        try:
            value = decode(
                header.get("a"),
                buffers,
                self.resolve,
                budget=DecodeBudget(self.max_bytes),
                allow_complex=self.allow_complex,
            )
            return header, value
        except Exception as exc:  # noqa: BLE001 - the frame was read whole: stay in sync
            return header, DecodeFailure(exc)

    def request(self, op: str, *args: Any) -> Any:
        """Send a request and wait for its reply, serving nested requests meanwhile."""
        self.send({"k": "req", "op": op}, list(args))
        while True:
            header, value = self.receive()
            kind = header.get("k")
            if kind == "req":
                self.serve(header, value)
                continue
            if isinstance(value, DecodeFailure):
                if kind != "rep" and isinstance(value.error, ReplyTooLarge):
                    raise ProtocolError(f"an oversized frame that is not a reply: {value.error}")
                if isinstance(value.error, ComplexAnswer | BadReply):
                    raise value.error  # the frame was read whole: the channel is in sync
                raise BadReply(f"reply could not be decoded: {value.error}")
            if kind != "rep":
                raise ProtocolError(f"unexpected message kind {kind!r}")
            self.on_reply(header)
            err = header.get("err")
            if err is not None:
                if not isinstance(err, dict):
                    raise ProtocolError("bad error reply")
                raise student_error(
                    str(err.get("base", ""))[:100],
                    str(err.get("type", "Exception"))[:200],
                    str(err.get("msg", ""))[:4000],
                    str(err.get("tb", ""))[:8000],
                )
            return value

    def on_reply(self, header: dict[str, Any]) -> None:
        """Hook for reply metadata (overridden to collect captured output)."""

    def serve(self, header: dict[str, Any], args: Any) -> None:
        """Answer one request from the other side."""
        op = header.get("op")
        try:
            if isinstance(args, DecodeFailure):
                raise args.error
            if not isinstance(op, str) or not isinstance(args, list):
                raise ProtocolError("bad request")
            result = self.handler(op, args)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back as data
            self.send({"k": "rep", "err": describe_error(exc), **self.extra}, None)
            return
        try:
            self.send({"k": "rep", **self.extra}, result)
        except Exception as exc:  # noqa: BLE001 - an unsendable result is an error reply
            self.send({"k": "rep", "err": describe_error(exc), **self.extra}, None)

    def serve_forever(self) -> None:
        """Serve requests until the channel closes."""
        while True:
            try:
                header, value = self.receive()
            except ChannelClosed:
                return
            if header.get("k") != "req":
                continue
            self.serve(header, value)


def describe_error(exc: BaseException) -> dict[str, str]:
    """Plain description of an exception: its type, nearest builtin base and message."""
    import traceback

    base = ""
    for klass in type(exc).__mro__:
        if klass.__module__ == "builtins":
            base = klass.__name__
            break
    try:
        msg = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the reply
        msg = "<unprintable exception>"
    try:
        tb = "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001
        tb = ""
    return {"type": type(exc).__name__[:200], "base": base, "msg": msg[:4000], "tb": tb[-8000:]}


class DecodeFailure:
    """A frame whose payload could not be decoded (kept to answer with an error)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class RemoteObject:
    """A student object living in the sandboxed kernel, seen from the trusted side.

    Attribute reads, calls, indexing, ``len``, ``bool``, ``in`` and iteration are
    forwarded; results come back as plain data or as further handles. Comparison and
    hashing stay local (identity), so a student object can never claim to equal
    anything.
    """

    __slots__ = ("_ch", "_id", "_type", "_repr", "_module")

    def __init__(self, channel: Channel, ident: int, type_name: str, text: str, module: str):
        object.__setattr__(self, "_ch", channel)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_repr", text)
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # library probes (__array__ ...) stay local
        return self._ch.request("getattr", self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ch.request("setattr", self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ch.request("call", self, list(args), kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._ch.request("getitem", self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ch.request("setitem", self, key, value)

    def __len__(self) -> int:
        n = self._ch.request("len", self)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise TypeError("student object returned a bad length")
        return n

    def __bool__(self) -> bool:
        return bool(self._ch.request("bool", self) is True)

    def __contains__(self, item: Any) -> bool:
        return self._ch.request("contains", self, item) is True

    def __iter__(self):
        items = self._ch.request("list", self)
        if not isinstance(items, list):
            raise TypeError("student object is not iterable")
        return iter(items)

    def __repr__(self) -> str:
        return f"<student {self._type}: {self._repr}>"
