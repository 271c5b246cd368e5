"""GradScaler: dynamic loss scaling, so that float16 gradients do not flush to zero.

float16 has few exponent bits: no number smaller than 2**-24 (about 6e-8)
exists in it, so the small gradients of a deep network round to 0. Scaling
the loss by S scales every gradient by S (backprop is linear in its seed),
which lifts them into float16's range; dividing the gradients by S again
(in float32, on the master weights) gives the true ones back::

    scaler = mg.optim.GradScaler()
    for x, y in batches:
        optimizer.zero_grad()
        loss = ...                          # a float32 loss of a float16 model
        scaler.scale(loss).backward()       # gradients of S * loss
        ...                                 # (copy them to the float32 master weights)
        scaler.step(optimizer)              # unscale (g / S); skip the step on inf or nan
        scaler.update()                     # choose the next S

Too large an S overflows instead (float16 ends at 65504): some gradient
becomes inf or nan. The scale is therefore *dynamic*:

    a step whose gradients hold an inf or a nan:  skipped,   S <- S * backoff_factor
    growth_interval finite steps in a row:                   S <- S * growth_factor

so S settles just below where the gradients overflow. This is
``torch.amp.GradScaler``'s behaviour, rule for rule: the same defaults
(S = 2**16, x2 after 2000 finite steps, x0.5 after an overflow), the scale
kept in float32, a growth that would overflow the scale itself left out,
float16 gradients refused by unscale (unscaling in float16 would flush the
small ones again), the same order of calls enforced. The arguments are
keyword-only (torch's first one is a device, which a Python number does not
need).
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import (
    ArgumentTypeError,
    CheckpointError,
    DTypeError,
    HyperParameterError,
    SetupError,
)
from minigrad.ops import mul
from minigrad.optim.optimizer import Optimizer

READY, UNSCALED, STEPPED = "ready", "unscaled", "stepped"
STATE_KEYS = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")


def as_float32(value: float) -> float:
    """The nearest float32 to ``value``: the scale lives in float32, as in torch."""
    return float(torch.tensor(value, dtype=torch.float32))


def next_scale(
    scale: float,
    growth_tracker: int,
    found_inf: bool,
    *,
    growth_factor: float,
    backoff_factor: float,
    growth_interval: int,
) -> tuple[float, int]:
    """The rule of dynamic loss scaling: ``(scale, growth_tracker)`` after one step.

    ``growth_tracker`` counts the finite steps in a row since the last change::

        found_inf:                          scale * backoff_factor,  0
        else, tracker + 1 == interval:      scale * growth_factor,   0
        else:                               scale,                   tracker + 1

    A grown scale that is not finite in float32 is not taken (the tracker
    still restarts), as in torch.
    """
    if found_inf:
        return as_float32(scale * backoff_factor), 0
    successful = growth_tracker + 1
    if successful == growth_interval:
        grown = as_float32(scale * growth_factor)
        return (grown if math.isfinite(grown) else scale), 0
    return scale, successful


class GradScaler:
    """Dynamic loss scaling for float16 training (see the module docstring for the rule).

    ``enabled=False`` makes every method a pass-through (``scale`` returns
    the loss, ``step`` just steps), so one training loop serves both.
    """

    def __init__(
        self,
        *,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self.enabled = bool(enabled)
        self.init_scale = _positive("init_scale", init_scale, "2.0**16, torch's default")
        if not (isinstance(growth_factor, (int, float)) and growth_factor > 1.0):
            raise _bad("growth_factor", growth_factor, "a number > 1, such as 2.0")
        if not (isinstance(backoff_factor, (int, float)) and 0.0 < backoff_factor < 1.0):
            raise _bad("backoff_factor", backoff_factor, "a number between 0 and 1, such as 0.5")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int):
            raise _bad("growth_interval", growth_interval, "a whole number of steps, e.g. 2000")
        if growth_interval < 1:
            raise _bad("growth_interval", growth_interval, "at least 1 step, e.g. 2000")
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = growth_interval
        self._scale: float | None = None  # set by the first scale(), as torch's lazy init
        self._growth_tracker = 0
        self._optimizers: dict[int, dict] = {}  # id(optimizer) -> its stage and found_inf

    # -- reading the state ---------------------------------------------------------
    def is_enabled(self) -> bool:
        return self.enabled

    def get_scale(self) -> float:
        """The current scale S (1.0 when disabled)."""
        if not self.enabled:
            return 1.0
        return self.init_scale if self._scale is None else self._scale

    @property
    def growth_tracker(self) -> int:
        """Finite steps in a row since the scale last changed."""
        return self._growth_tracker

    # -- the four calls of a training step --------------------------------------------
    def scale(self, loss):
        """``loss * S``: a node on the loss's tape whose backward gives S times the gradients."""
        if not self.enabled:
            return loss
        if self._scale is None:
            self._scale = as_float32(self.init_scale)
        return mul(loss, self._scale)

    def unscale_(self, optimizer: Optimizer) -> None:
        """Divide the optimiser's gradients by S, and note whether any was inf or nan.

        Call it yourself only to look at (or clip) the true gradients before
        ``step``; ``step`` calls it otherwise. Once per optimiser per step.
        """
        if not self.enabled:
            return
        state = self._state(optimizer, "unscale_")
        if state["stage"] == UNSCALED:
            raise SetupError(
                "GradScaler.unscale_: expected one call per optimiser and step, got a second one "
                "since the last update()\n"
                "help: the gradients are already divided by the scale; call update() to end "
                "the step"
            )
        if state["stage"] == STEPPED:
            raise SetupError(
                "GradScaler.unscale_: expected it before step(), got it after\n"
                "help: unscale_ (if you need it, e.g. to clip) comes between backward and step"
            )
        grads = [p for p in optimizer.parameters() if p.grad is not None]
        for p in grads:
            if p.grad.dtype == torch.float16:
                raise DTypeError(
                    "GradScaler.unscale_: expected float32 (or float64) gradients, got float16 "
                    f"ones (a parameter of shape {tuple(p.shape)})\n"
                    "help: keep float32 master weights for the optimiser and copy the float16 "
                    "gradients into them (master.grad = half.grad.float()): unscaled in float16 "
                    "the small gradients would flush to zero again"
                )
        inverse = as_float32(1.0 / self._scale)  # in float32, as torch (1/S is exact for 2**k)
        found_inf = None if not grads else False  # None: there was nothing to check
        for p in grads:
            found_inf = found_inf or not bool(torch.isfinite(p.grad).all())
            # A new tensor, not p.grad.mul_(): two parameters may share one gradient
            # tensor (the inputs of an add), which in place would be divided twice.
            p.grad = p.grad * inverse
        state["found_inf"], state["stage"] = found_inf, UNSCALED

    def step(self, optimizer: Optimizer):
        """``optimizer.step()`` on the unscaled gradients, unless one of them is inf or nan.

        A skipped step changes no parameter and no optimiser state. Returns
        what ``optimizer.step()`` returned, or None when skipped.
        """
        if not self.enabled:
            return optimizer.step()
        state = self._state(optimizer, "step")
        if state["stage"] == STEPPED:
            raise SetupError(
                "GradScaler.step: expected one step per update(), got a second one\n"
                "help: call scaler.update() after each scaler.step(optimizer)"
            )
        if state["stage"] == READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise SetupError(
                "GradScaler.step: expected gradients to check, got no parameter of the "
                "optimiser with a .grad\n"
                "help: run scaler.scale(loss).backward() (and, with master weights, copy the "
                "gradients into them) before scaler.step(optimizer)"
            )
        result = None if state["found_inf"] else optimizer.step()
        state["stage"] = STEPPED
        return result

    def update(self, new_scale: float | None = None) -> None:
        """End the step: back off after an inf or nan, grow after growth_interval good steps.

        ``new_scale`` sets the scale outright instead.
        """
        if not self.enabled:
            return
        if self._scale is None:
            raise _not_scaled("update")
        if new_scale is not None:
            self._scale = as_float32(_positive("new_scale", new_scale, "e.g. 1024.0"))
        else:
            checked = [s for s in self._optimizers.values() if s["found_inf"] is not None]
            if not checked:
                raise SetupError(
                    "GradScaler.update: expected a step (or unscale_) since the last update, "
                    "got none: no gradient was checked for inf or nan\n"
                    "help: call scaler.step(optimizer) before scaler.update()"
                )
            self._scale, self._growth_tracker = next_scale(
                self._scale,
                self._growth_tracker,
                any(s["found_inf"] for s in checked),
                growth_factor=self.growth_factor,
                backoff_factor=self.backoff_factor,
                growth_interval=self.growth_interval,
            )
        self._optimizers = {}

    # -- saving ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The scale and its rule, under torch's keys (empty when disabled, as torch)."""
        if not self.enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self.growth_factor,
            "backoff_factor": self.backoff_factor,
            "growth_interval": self.growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` (this one's or torch's GradScaler's) saved."""
        if not self.enabled:
            return
        if not isinstance(state_dict, dict) or set(state_dict) != set(STATE_KEYS):
            found = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise CheckpointError(
                f"GradScaler.load_state_dict: expected the keys {list(STATE_KEYS)}, got {found}\n"
                "help: pass what a GradScaler's state_dict() returned (an empty one comes from "
                "a disabled scaler)"
            )
        self.init_scale = float(state_dict["scale"])
        self._scale = None if self._scale is None else as_float32(self.init_scale)
        self.growth_factor = float(state_dict["growth_factor"])
        self.backoff_factor = float(state_dict["backoff_factor"])
        self.growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])

    def _state(self, optimizer, caller: str) -> dict:
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"GradScaler.{caller}: expected a minigrad optimizer, got "
                f"{type(optimizer).__name__}\n"
                "help: build it with mg.optim, e.g. mg.optim.SGD(master_weights, lr=0.1)"
            )
        if self._scale is None:
            raise _not_scaled(caller)
        return self._optimizers.setdefault(id(optimizer), {"stage": READY, "found_inf": None})

    def __repr__(self) -> str:
        if not self.enabled:
            return "GradScaler(enabled=False)"
        return (
            f"GradScaler(scale={self.get_scale():g}, growth_factor={self.growth_factor:g}, "
            f"backoff_factor={self.backoff_factor:g}, growth_interval={self.growth_interval})"
        )


def _positive(name: str, value, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise _bad(name, value, f"a positive number, {example}")
    if not math.isfinite(value):
        raise _bad(name, value, f"a finite number, {example}")
    return float(value)


def _bad(name: str, value, expected: str) -> HyperParameterError:
    return HyperParameterError(
        f"GradScaler: expected {name} to be {expected}, got {value!r}\n"
        f"help: leave {name} at its default unless you know why not"
    )


def _not_scaled(caller: str) -> SetupError:
    return SetupError(
        f"GradScaler.{caller}: expected scaler.scale(loss) earlier in this step, got no "
        "scaled loss yet\n"
        "help: call scaler.scale(loss).backward() before step and update"
    )
