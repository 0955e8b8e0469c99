"""Which engine runs a job: engine names and controls to the module that leases a ready Engine.

    with engines.lease("diffusers", model="sdxl-inpaint", steps=30) as engine:   # a generate.engine.Engine
        result = driver.run(prep, engine, prompt=..., seeds=[...])

Every module named here provides ``lease(model=None, *, device, dtype, offload, config, allow_download,
**options) -> ContextManager[Engine]``: it loads (or finds in its shared cache) the weights, keeps them leased for
the whole block, and ignores options it has no use for. The classical engines (telea, ns) need no lease:
classical.ClassicalEngine.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager

from ..errors import UserError

MODULES = {"diffusers": "diffusion", "lama": "lama"}
"""Engine name -> the module of this package whose lease() makes it."""
CONTROLS = {"depth": "controlnet"}
CLASSICAL = ("telea", "ns")
"""The OpenCV fills: no lease, classical.ClassicalEngine."""
NAMES = (*MODULES, *CLASSICAL)
"""Every engine name inpaint() and outpaint() take."""
"""Control name (the diffusers engine's ``control``) -> the module whose lease() makes the controlled engine."""


def lease(engine: str, *, control: str | None = None, **options) -> AbstractContextManager:
    """The leased Engine for ``engine`` (and ``control``, diffusers only); options go to the module's lease()."""
    if control is not None:
        if engine != "diffusers":
            raise UserError(f"control {control!r} goes with the diffusers engine, not {engine!r}")
        if control not in CONTROLS:
            raise UserError(f"control must be one of {', '.join(CONTROLS) or 'none in this build'}, got {control!r}")
        module = CONTROLS[control]
    elif engine in MODULES:
        module = MODULES[engine]
    else:
        raise UserError(f"engine must be one of {', '.join(MODULES)}, telea or ns, got {engine!r}")
    return importlib.import_module(f"{__package__}.{module}").lease(**options)
