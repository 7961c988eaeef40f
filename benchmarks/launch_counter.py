"""Counts, per frame, the aten operators a model runs on its accelerator and the calls that make the host wait for it.

On a GPU every aten operator on a device tensor is a kernel launch issued from Python (a few µs of
host time each in eager mode), and some calls stop the host until the device has caught up. This
module counts both with a `TorchDispatchMode`, which sees every aten call below autograd, whatever
Python code issued it. Under `inference_mode` (the engine's frames run in it) the mode is handed
composite operators (`linear`, `item`, `to`, ...) whole: each counts once as handed over, and is
then run as its parts, which the mode sees too (`device_ops_decomposed`) and which the sync rules
classify (`item` is a `_local_scalar_dense`, `.cpu()` a `_to_copy`). `scaled_dot_product_attention`
is the exception: it runs whole, one fused kernel as on CUDA and the CPU (its decomposition depends
on the device type, and on the emulated device it would take the math fallback).

Two ways to run it:

* `EmulatedAccelerator` (a CPU-only machine, the default): a tensor subclass plays the accelerator.
  Its tensors report `device('meta')` (the one non-CPU device a CPU-only torch can hand out without
  CUDA) and hold their data in an ordinary CPU tensor inside; the dispatch mode unwraps every
  operator's arguments, runs it on the CPU and wraps its results again. Code under test sees two
  devices, as on a GPU machine: `model.to`-style placement (`to_accelerator`), `x.to(device)`,
  factory calls with `device=...` and everything computed from device tensors land on the
  accelerator; `torch.from_numpy`, `torch.tensor(list)` and `.cpu()` results stay on the host. So
  a `.cpu()`, `.tolist()` or `.item()` of a device tensor is seen as the device-to-host transfer it
  is on a GPU, which a plain CPU run cannot tell from a no-op. As on CUDA, `.numpy()` of a device
  tensor and an operator that mixes a device tensor with a host tensor of one or more dimensions
  raise. Only the arithmetic runs on the CPU: results are the same as a plain CPU run's.
* `ObservedAccelerator`: the model really is on an accelerator (a CUDA GPU); nothing is wrapped,
  the same rules classify what the mode sees.

Counted per frame:

* `device_ops`: aten calls with a tensor on the accelerator among their inputs, or a device argument
  naming it (factories): kernels,
  device-to-device copies, transfers, and also views (`view`, `select`, `expand`, ...), which launch
  nothing but cost the same dispatch overhead on the host. Factory calls made on the device count.
* `host_ops`: aten calls on host tensors only (the small bookkeeping tensors upstream builds on the CPU).
* `syncs`, by kind, each where it is issued (file:line of the first frame outside torch):
  - `item`: `.item()`, `int()`, `float()`, `bool()` / `if tensor:` of a device tensor (aten
    `_local_scalar_dense`), and `torch.equal` on the device;
  - `device_to_host`: `.cpu()`, `.to('cpu')`, `.tolist()` (a download first), `copy_` into a host
    tensor; counted as a sync also when non_blocking, since the host cannot read the data before
    the copy is done;
  - `nonzero`: `nonzero`, `torch.where(cond)`, `argwhere` (output size depends on the data);
  - `boolean_mask_index`: indexing or index-assignment with a boolean mask (a `nonzero` inside);
    `x[mask] = scalar` becomes `masked_fill_` upstream of aten and is no sync;
  - `masked_select`, `unique` (all variants), `bincount`, and `repeat_interleave` without `output_size`;
  - `blocking_host_to_device`: a host-to-device copy without `non_blocking=True` (`.to(device)`,
    `torch.tensor(data, device=...)`, `copy_` into a device tensor), and indexing a device tensor
    with host index tensors (the indices are copied synchronously). On CUDA such a copy from
    pageable memory waits for the work already queued.
* `host_to_device_async`: non-blocking uploads (no sync), for information.

Not counted: syncs outside aten (`torch.cuda.synchronize`, events, the caching allocator's own
waits), and Python's own cost.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
EMULATED_DEVICE = torch.device("meta")
_HOST = torch.device("cpu")

_DATA_DEPENDENT_SHAPE = {
    aten.nonzero.default: "nonzero",
    aten.masked_select.default: "masked_select",
    aten._unique.default: "unique",
    aten._unique2.default: "unique",
    aten.unique_dim.default: "unique",
    aten.unique_consecutive.default: "unique",
    aten.bincount.default: "bincount",
}
_INDEX_OPS = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}
_COPY_OPS = {aten._to_copy.default, aten.copy_.default}
_OWN_FILES = (str(Path(torch.__file__).parent), __file__)
# Labels for where a sync comes from: a path from one of these folders on.
_SITE_ROOTS = ("transformers/", "sam3_ros/", "benchmarks/")


def _leaves(value) -> list:
    """The leaves of an aten call's arguments or results (tuples, lists and dicts of leaves).

    torch's pytree does the same in general, at several times the cost per call.
    """
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _map(function, value):
    if isinstance(value, (list, tuple)):
        return type(value)(_map(function, item) for item in value)
    if isinstance(value, dict):
        return {key: _map(function, item) for key, item in value.items()}
    return function(value)


_COMPOSITE: dict = {}
# Composites whose decomposition depends on the device type: on the emulated device (meta)
# scaled_dot_product_attention would decompose into the math fallback (a dozen operators and
# another output layout) where CUDA and the CPU run one fused kernel. Run as one operator.
_FUSED = {aten.scaled_dot_product_attention.default}


def _is_composite(func) -> bool:
    if func in _FUSED:
        return False
    if func not in _COMPOSITE:
        _COMPOSITE[func] = torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)
    return _COMPOSITE[func]


def _call_site() -> str:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_OWN_FILES):
        frame = frame.f_back
    if frame is None:
        return "?"
    path = frame.f_code.co_filename.replace("\\", "/")
    for root in _SITE_ROOTS:
        if root in path:
            path = root + path.rsplit(root, 1)[1]
            break
    return f"{path}:{frame.f_lineno} ({frame.f_code.co_name})"


class FrameCounts:
    """What one counted stretch (a frame) did."""

    def __init__(self):
        self.device_ops = 0  # aten calls as the mode is handed them (composites not yet decomposed)
        self.host_ops = 0
        self.device_ops_decomposed = 0  # the operators they run as, composites decomposed
        self.host_to_device_async = 0
        self.syncs: Counter[str] = Counter()  # kind -> calls
        self.sync_sites: Counter[tuple[str, str]] = Counter()  # (kind, site) -> calls

    @property
    def total_syncs(self) -> int:
        return sum(self.syncs.values())


class _Counting(TorchDispatchMode):
    """Classification and tallies shared by both ways of running; a context manager."""

    device: torch.device

    def __init__(self):
        super().__init__()
        self.counts: FrameCounts | None = None
        self._depth = 0  # > 0 while a composite operator runs as its parts
        self._factories = _TensorFactories()

    def __enter__(self):
        self._factories.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._factories.__exit__(*exc)

    def start_frame(self) -> None:
        self.counts = FrameCounts()

    def end_frame(self) -> FrameCounts:
        counts, self.counts = self.counts, None
        return counts

    def is_device(self, value) -> bool:
        raise NotImplementedError

    def _check(self, func, flat: list) -> None:
        """Raise where a GPU would."""

    def _run(self, func, args, kwargs, on_device: bool):
        raise NotImplementedError

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat = _leaves((args, kwargs))
        on_device = any(self.is_device(x) for x in flat) or any(isinstance(x, torch.device) and x.type == self.device.type for x in flat)
        counts = self.counts
        if counts is not None and self._depth == 0:
            if on_device:
                counts.device_ops += 1
            else:
                counts.host_ops += 1
        # Under inference_mode (the engine's frames run in it) the mode is handed composite
        # operators (`item`, `to`, `where(cond)`, ...) before they decompose; what runs on a device,
        # and what syncs, is what they decompose into: run them as their parts, each seen here.
        if _is_composite(func):
            self._depth += 1
            TorchDispatchMode.__enter__(self)
            try:
                result = func.decompose(*args, **kwargs)
            finally:
                TorchDispatchMode.__exit__(self, None, None, None)
                self._depth -= 1
            if result is not NotImplemented:
                return result
        self._check(func, flat)
        if counts is not None and on_device:
            counts.device_ops_decomposed += 1
            self._classify(func, args, kwargs)
        return self._run(func, args, kwargs, on_device)

    def _sync(self, kind: str) -> None:
        self.counts.syncs[kind] += 1
        self.counts.sync_sites[(kind, _call_site())] += 1

    def _classify(self, func, args, kwargs) -> None:
        if func is aten._local_scalar_dense.default or func is aten.equal.default:
            self._sync("item")
        elif func in _DATA_DEPENDENT_SHAPE:
            self._sync(_DATA_DEPENDENT_SHAPE[func])
        elif func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
            self._sync("repeat_interleave")
        elif func in _COPY_OPS:
            self._classify_copy(func, args, kwargs)
        elif func in _INDEX_OPS:
            indices = [i for i in (args[1] if len(args) > 1 else kwargs["indices"]) if i is not None]
            if any(i.dtype in (torch.bool, torch.uint8) for i in indices):
                self._sync("boolean_mask_index")
            elif any(not self.is_device(i) for i in indices):
                self._sync("blocking_host_to_device")

    def _classify_copy(self, func, args, kwargs) -> None:
        if func is aten._to_copy.default:
            source = args[0]
            target = kwargs.get("device")
            target_on_device = self.is_device(source) if target is None else target.type != "cpu"
            non_blocking = kwargs.get("non_blocking", False)
        else:
            target, source = args[0], args[1]
            target_on_device = self.is_device(target)
            non_blocking = args[2] if len(args) > 2 else kwargs.get("non_blocking", False)
        if self.is_device(source) and not target_on_device:
            self._sync("device_to_host")
        elif not self.is_device(source) and target_on_device:
            if non_blocking:
                self.counts.host_to_device_async += 1
            else:
                self._sync("blocking_host_to_device")


class _TensorFactories(TorchFunctionMode):
    """`torch.tensor(data, device=d)` as torch does it inside: build on the host, then copy to d.

    Without this a dispatch mode never sees the upload (torch makes it below the Python key), and
    an emulated device's tensor would be created on the real meta device, without its data.
    """

    _FACTORIES = {torch.tensor, torch.as_tensor, torch.asarray}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if func in self._FACTORIES and device is not None and torch.device(device).type != "cpu":
            if isinstance(args[0], torch.Tensor) and func is not torch.tensor:
                return args[0].to(device=device, dtype=kwargs.get("dtype"))
            host = func(*args, **{**kwargs, "device": "cpu"})
            return host.to(device)
        return func(*args, **kwargs)


class EmulatedTensor(torch.Tensor):
    """A tensor on the emulated accelerator: reports device meta, holds its data in a CPU tensor."""

    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, data: torch.Tensor):
        # Always an ordinary (not an inference) tensor: autograd links a view made under
        # inference_mode to its base's version counter, which an inference tensor cannot share.
        with torch.inference_mode(False):
            return torch.Tensor._make_wrapper_subclass(
                cls,
                data.shape,
                strides=data.stride(),
                storage_offset=data.storage_offset(),
                dtype=data.dtype,
                layout=data.layout,
                device=EMULATED_DEVICE,
                requires_grad=False,
            )

    def __init__(self, data: torch.Tensor):
        self.data_on_host = data

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on an emulated device tensor outside EmulatedAccelerator")

    def tolist(self):
        return self.cpu().tolist()  # a download first, as torch does for a CUDA tensor

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert emulated accelerator tensor to numpy: use .cpu() first (as for CUDA)")

    def __array__(self, *args, **kwargs):
        return self.numpy()

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return torch.tensor(data, dtype=dtype or self.dtype, device=device or self.device)

    def __repr__(self):
        return f"EmulatedTensor({self.data_on_host!r})"


class EmulatedAccelerator(_Counting):
    """Use as a context manager around everything that touches the model (see the module docstring)."""

    device = EMULATED_DEVICE
    whole_run = True  # its tensors work only under it

    def is_device(self, value) -> bool:
        return isinstance(value, EmulatedTensor)

    def _check(self, func, flat: list) -> None:
        host_tensors = [x for x in flat if isinstance(x, torch.Tensor) and not isinstance(x, EmulatedTensor)]
        if any(t.device.type == EMULATED_DEVICE.type for t in host_tensors):
            raise RuntimeError(f"{func}: a real meta tensor (no data) reached the emulated accelerator")
        if func in _COPY_OPS or func in _INDEX_OPS or not any(isinstance(x, EmulatedTensor) for x in flat):
            return
        mixed = [t for t in host_tensors if t.dim() > 0]
        if mixed:
            raise RuntimeError(
                f"{func}: expected all tensors on the same device, got a host tensor of shape "
                f"{tuple(mixed[0].shape)} with accelerator tensors (it would fail on a GPU)"
            )

    def _run(self, func, args, kwargs, on_device: bool):
        unwrapped_args, unwrapped_kwargs = _map(self._unwrap, (args, kwargs))
        result = func(*unwrapped_args, **unwrapped_kwargs)
        if not on_device or self._lands_on_host(func, args, kwargs):
            return result
        # in-place operators return their input: hand back the same Python object
        inputs = {id(x.data_on_host): x for x in _leaves((args, kwargs)) if isinstance(x, EmulatedTensor)}
        return _map(lambda x: self._wrap(x, inputs), result)

    @staticmethod
    def _unwrap(value):
        if isinstance(value, EmulatedTensor):
            return value.data_on_host
        if isinstance(value, torch.device) and value.type == EMULATED_DEVICE.type:
            return _HOST
        return value

    @staticmethod
    def _wrap(value, inputs: dict):
        if not isinstance(value, torch.Tensor):
            return value
        original = inputs.get(id(value))
        return EmulatedTensor(value) if original is None else original

    def _lands_on_host(self, func, args, kwargs) -> bool:
        target = kwargs.get("device")
        if target is not None:
            return target.type == "cpu"
        if func is aten.copy_.default:
            return not self.is_device(args[0])
        return False

    def to_accelerator(self, module: torch.nn.Module) -> torch.nn.Module:
        """Move every parameter and buffer of `module` onto the emulated device (like `module.to('cuda')`)."""
        with self:
            for submodule in module.modules():
                for name, parameter in submodule._parameters.items():
                    if parameter is not None:
                        submodule._parameters[name] = torch.nn.Parameter(EmulatedTensor(parameter.detach()), requires_grad=False)
                for name, buffer in submodule._buffers.items():
                    if buffer is not None:
                        submodule._buffers[name] = EmulatedTensor(buffer)
        return module


class ObservedAccelerator(_Counting):
    """Counting only, for a model that really is on `device` (a CUDA GPU); enter it around the counted work."""

    whole_run = False

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device

    def is_device(self, value) -> bool:
        return isinstance(value, torch.Tensor) and value.device.type == self.device.type

    def _run(self, func, args, kwargs, on_device: bool):
        return func(*args, **kwargs)

    def to_accelerator(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self.device)
