r"""Export a trained PyTorch (or JAX) score network to fpdiff's score-file format.

fpdiff reads a learned score as its values on a tensor grid of nodes at a list
of times (HDF5, :func:`fpdiff.save_score` / :func:`fpdiff.load_score`). To
export a network, evaluate it on the nodes at each time, in batches, and
write the array:

.. code-block:: python

    import fpdiff as fd
    from fpdiff.scores.field import grid_nodes

    axes = [np.linspace(-4, 4, 129)]                 # one strictly increasing array per dimension
    times = np.geomspace(1e-3, 1.0, 40)              # forward times, strictly increasing, > 0
    nodes = grid_nodes(axes)                         # (prod n_i, d), axis 0 slowest (C order)
    values = np.stack([eps_network(nodes, t) for t in times]).reshape(len(times), *map(len, axes), len(axes))
    fd.save_score("score.h5", process, times, values, axes=axes, parametrization="eps")

``parametrization`` says what the network predicts: ``"score"``
(:math:`\nabla\log p_t`), ``"eps"`` (the noise, score :math:`= -\varepsilon/\sqrt{v_t}`),
``"x0"`` (the denoised data) or ``"v"`` (v-prediction); fpdiff converts with
the process's :math:`\alpha_t, v_t`. The process must be the one the network
was trained with (the file stores it), and ``times`` are the *process's* times:
:func:`torch_predictor` takes ``time_input`` to map them to what the network
was conditioned on (a noise level, a discrete step index, ...).

Usage::

    python examples/export_score.py --help
    python examples/export_score.py demo score.h5                     # numpy stand-in, no torch needed
    python examples/export_score.py demo score.h5 --framework torch   # trains a small MLP for a few seconds
    python examples/export_score.py torch model.pt2 score.h5 \
        --process '{"kind": "VP", "beta_min": 0.1, "beta_max": 20.0}' --box -4 4 --t-min 1e-3 --t-max 1

``torch`` loads a model called as ``model(x, t)`` with ``x`` (B, d) and ``t``
(B,), saved without its Python class: a ``torch.export`` program (in eval
mode, with a dynamic batch dimension)::

    batch = torch.export.Dim("batch")
    program = torch.export.export(model.eval(), (torch.zeros(8, d), torch.ones(8)),
                                  dynamic_shapes={"x": {0: batch}, "t": {0: batch}})
    torch.export.save(program, "model.pt2")

or a TorchScript file (``torch.jit.save``, deprecated by PyTorch). With the
model object at hand, call :func:`export` with :func:`torch_predictor`
instead. Then check the exported field with :func:`fpdiff.load_score` (and
:mod:`fpdiff.audit`).

PyTorch and JAX are not dependencies of fpdiff; this script imports them only
when asked to and says what to install otherwise. It is not run by the tests.
"""

import argparse
import json
import sys
import time

import numpy as np

import fpdiff as fd
from fpdiff.processes import process_from_dict
from fpdiff.scores.field import grid_nodes


# ------------------------------------------------------------------ framework-free core


def tabulate_network(predict, times, axes, batch_size=65536):
    """Evaluate ``predict(x, t)`` (numpy in, numpy out) on the nodes of ``axes`` at every time.

    ``predict`` gets ``x`` of shape (B, d) float32 and ``t`` of shape (B,) and
    returns (B, d). Returns ``values`` of shape (n_t, n_0, ..., n_{d-1}, d), float32.
    """
    nodes = grid_nodes(axes).astype(np.float32)
    shape = tuple(len(axis) for axis in axes)
    values = np.empty((len(times), len(nodes), len(axes)), dtype=np.float32)
    for j, t in enumerate(times):
        for start in range(0, len(nodes), batch_size):
            batch = nodes[start:start + batch_size]
            values[j, start:start + len(batch)] = predict(batch, np.full(len(batch), t, dtype=np.float32))
    return values.reshape(len(times), *shape, len(axes))


def export(path, process, times, axes, predict, parametrization="eps", meta=None, batch_size=65536):
    """Tabulate ``predict`` and write the score file (atomically) with :func:`fpdiff.save_score`."""
    values = tabulate_network(predict, times, axes, batch_size)
    fd.save_score(path, process, times, values, axes=axes, parametrization=parametrization, meta=meta or {})
    return values


def write_with_h5py(path, process, times, axes, values, parametrization="eps", meta=None):
    """The same file written with h5py alone (e.g. from a training environment without fpdiff).

    The layout :func:`fpdiff.load_score` reads (format version 2, ``docs/score-format.md``):

    - attributes ``format = "fpdiff.score-field"``, ``version = 2``,
      ``process`` (JSON, e.g. ``{"kind": "VP", "beta_min": 0.1, "beta_max": 20.0}``; every kind of
      ``fpdiff.processes.PROCESSES`` with its parameters, e.g. ``{"kind": "Cosine", "s": 0.008}``),
      ``parametrization`` (``"score"``, ``"eps"``, ``"x0"`` or ``"v"``);
    - for ``{"kind": "Discrete"}``: the table as the dataset ``process/alphas_cumprod`` (n,);
    - dataset ``t`` (n_t,): strictly increasing forward times > 0;
    - group ``axes`` with datasets ``"0"``, ..., ``"d-1"``: strictly increasing node coordinates;
    - dataset ``values`` (n_t, n_0, ..., n_{d-1}, d), float32 or float64, finite;
    - optional group ``meta``: scalars and strings as attributes, arrays as datasets.

    ``process`` is an fpdiff process or its description dictionary (a ``Discrete`` one with its
    ``alphas_cumprod`` list, written as the dataset). Unlike :func:`fpdiff.save_score` this does
    not check the arrays or write atomically.
    """
    import h5py

    description = dict(process.to_dict() if hasattr(process, "to_dict") else process)
    table = description.pop("alphas_cumprod", None) if description.get("kind") == "Discrete" else None
    with h5py.File(path, "w") as file:
        file.attrs["format"] = "fpdiff.score-field"
        file.attrs["version"] = 2
        file.attrs["process"] = json.dumps(description)
        if table is not None:
            file.create_dataset("process/alphas_cumprod", data=np.asarray(table, dtype=np.float64))
        file.attrs["parametrization"] = parametrization
        file.create_dataset("t", data=np.asarray(times, dtype=np.float64))
        group = file.create_group("axes")
        for i, axis in enumerate(axes):
            group.create_dataset(str(i), data=np.asarray(axis, dtype=np.float64))
        file.create_dataset("values", data=values, chunks=(1, *values.shape[1:]), compression="gzip")
        group = file.create_group("meta")
        for key, value in (meta or {}).items():
            group.attrs[key] = value


# ------------------------------------------------------------------ PyTorch


def import_torch():
    """``torch``, or exit with what to install (the script explains itself without it)."""
    try:
        import torch
    except ImportError as error:
        sys.exit(f"this command needs PyTorch, which could not be imported ({error}); it is not an fpdiff "
                 "dependency:\n    pip install torch\n"
                 "`python examples/export_score.py demo OUT.h5` shows the same export without it.")
    return torch


def torch_predictor(model, device="cpu", time_input=None):
    """Wrap a torch module ``model(x, t) -> (B, d)`` as a numpy ``predict(x, t)`` for :func:`export`.

    ``time_input(t)`` maps fpdiff's forward times (numpy, (B,)) to the
    network's time input, e.g. ``lambda t: np.sqrt(process.variance(t))`` for a
    network conditioned on the noise level, or ``lambda t: np.rint(999 * t).astype(int)``
    for a discrete DDPM step index (integer arrays are passed as int64 tensors);
    default: the time itself.
    """
    torch = import_torch()
    model = model.to(device)
    try:
        model.eval()
    except NotImplementedError:  # a torch.export program: its mode was fixed when it was exported
        pass
    dtype = next(iter(model.parameters()), torch.zeros(())).dtype

    def predict(x, t):
        t = np.asarray(t if time_input is None else time_input(t))
        with torch.inference_mode():  # integer time inputs (step indices) stay integers
            t = torch.as_tensor(t, dtype=dtype if t.dtype.kind == "f" else torch.int64, device=device)
            out = model(torch.as_tensor(x, dtype=dtype, device=device), t)
        return out.float().cpu().numpy()

    return predict


def train_torch_demo(process, mixture, steps=2000, seed=0):
    """A small eps-network trained by denoising score matching on a 1-D mixture (a few seconds on a CPU)."""
    torch = import_torch()
    torch.manual_seed(seed)

    class EpsNetwork(torch.nn.Module):
        def __init__(self, dim, width=128):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(dim + 1, width), torch.nn.SiLU(),
                                           torch.nn.Linear(width, width), torch.nn.SiLU(),
                                           torch.nn.Linear(width, dim))

        def forward(self, x, t):
            return self.net(torch.cat([x, torch.log(t)[:, None]], dim=1))

    model = EpsNetwork(mixture.dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = torch.as_tensor(mixture.sample(100000, seed), dtype=torch.float32)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        t = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), 512))  # log-uniform times
        alpha = torch.as_tensor(process.alpha(t), dtype=torch.float32)[:, None]
        std = torch.as_tensor(np.sqrt(process.variance(t)), dtype=torch.float32)[:, None]
        x0 = data[torch.randint(len(data), (512,))]
        z = torch.randn_like(x0)
        loss = ((model(alpha * x0 + std * z, torch.as_tensor(t, dtype=torch.float32)) - z) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


# ------------------------------------------------------------------ JAX


def jax_predictor(apply_fn, params, time_input=None, batch_size=65536):
    """Wrap a JAX/Flax ``apply_fn(params, x, t) -> (B, d)`` as a numpy ``predict(x, t)`` for :func:`export`.

    For example, with Flax: ``export(path, process, times, axes, jax_predictor(model.apply, params))``
    (pass the same ``batch_size`` to both). ``apply_fn`` is jitted once: every
    batch is padded to ``batch_size`` rows, so the last, shorter one does not
    trigger a recompilation. ``time_input`` as in :func:`torch_predictor`.
    """
    try:
        import jax
    except ImportError:
        sys.exit("jax_predictor needs JAX (pip install jax), which is not installed.")
    apply_jit = jax.jit(apply_fn)

    def predict(x, t):
        t = t if time_input is None else np.asarray(time_input(t), dtype=np.float32)
        count = len(x)
        pad = max(batch_size - count, 0)
        x = np.pad(x, ((0, pad), (0, 0)), mode="edge")
        t = np.pad(t, (0, pad), mode="edge")
        return np.asarray(apply_jit(params, x, t))[:count]

    return predict


# ------------------------------------------------------------------ command line


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description="Export a score network (PyTorch/JAX) to an fpdiff score file: the network evaluated on a "
                    "grid of nodes at a list of times, written with fpdiff.save_score.",
        epilog="See the module docstring (and the functions export, torch_predictor, jax_predictor, "
               "write_with_h5py) for use from Python.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="export a known field and check the file against the exact score")
    demo.add_argument("out", help="the score file to write")
    demo.add_argument("--framework", choices=["numpy", "torch"], default="numpy",
                      help="numpy: the exact eps of a Gaussian mixture as a stand-in network (no torch needed); "
                           "torch: train a small MLP by denoising score matching, then export it")
    demo.add_argument("--steps", type=int, default=2000, help="training steps of the torch demo")

    script = commands.add_parser("torch", help="export a saved PyTorch model called as model(x, t)")
    script.add_argument("model", help="a torch.export program (torch.export.save, a .pt2 file) or a TorchScript file")
    script.add_argument("out", help="the score file to write")
    script.add_argument("--process", required=True,
                        help='the forward process as JSON, e.g. \'{"kind": "VP", "beta_min": 0.1, "beta_max": 20}\'')
    script.add_argument("--box", nargs=2, type=float, action="append", metavar=("LO", "HI"), required=True,
                        help="node range of one axis; repeat once per dimension")
    script.add_argument("--nodes", type=int, default=129, help="nodes per axis (default 129)")
    script.add_argument("--t-min", type=float, default=1e-3)
    script.add_argument("--t-max", type=float, default=1.0)
    script.add_argument("--n-times", type=int, default=40, help="times, geometrically spaced (default 40)")
    script.add_argument("--parametrization", choices=["score", "eps", "x0", "v"], default="eps")
    script.add_argument("--time-input", choices=["t", "noise-level", "step-1000"], default="t",
                        help="what the network takes as time: t itself, sqrt(v_t), or the integer step round(999 t)")
    script.add_argument("--device", default="cpu")
    script.add_argument("--batch-size", type=int, default=65536)
    return parser.parse_args(argv)


def relative_error(table, exact, mixture, process, times):
    """p_t-weighted relative score error of the exported field at each of ``times``."""
    errors = []
    for t in times:
        x = mixture.evolve(process, t).sample(20000, 1)
        lo, hi = table.box[0]
        x = x[(x[:, 0] > lo) & (x[:, 0] < hi)]
        truth = exact.score(x, t)
        errors.append(np.mean((table.score(x, t) - truth) ** 2) / np.mean(truth**2))
    return errors


def run_demo(arguments):
    process = fd.VP()
    mixture = fd.GaussianMixture([0.4, 0.6], [[-1.5], [1.0]], [0.05, 0.1])
    times = np.geomspace(1e-3, 1.0, 40)
    axes = [np.linspace(-5.0, 5.0, 257)]
    exact = fd.ExactScore(process, mixture)
    if arguments.framework == "torch":
        start = time.perf_counter()
        model = train_torch_demo(process, mixture, steps=arguments.steps)
        print(f"trained a {sum(p.numel() for p in model.parameters())}-parameter MLP in "
              f"{time.perf_counter() - start:.1f} s")
        predict = torch_predictor(model)
    else:
        def predict(x, t):  # the exact noise prediction, standing in for a network (t is one time repeated)
            return -np.sqrt(process.variance(t[0])) * exact.score(x.astype(np.float64), float(t[0]))
    export(arguments.out, process, times, axes, predict, parametrization="eps",
           meta={"exported_by": "examples/export_score.py", "framework": arguments.framework})
    table = fd.load_score(arguments.out)
    print(f"wrote {arguments.out}: {len(table.t)} times in [{table.t[0]:g}, {table.t[-1]:g}], "
          f"{table.shape} nodes on {table.box}, parametrization {table.parametrization!r}")
    checks = [0.01, 0.1, 0.5]
    for t, error in zip(checks, relative_error(table, exact, mixture, process, checks)):
        print(f"  t = {t:<5g} relative score error E|s - s_exact|^2 / E|s_exact|^2 = {error:.2e}")


def load_torch_model(path, device="cpu"):
    """A model saved without its class: a ``torch.export`` program (``.pt2``), else a TorchScript file."""
    torch = import_torch()
    if not str(path).endswith(".pt2"):
        return torch.jit.load(path, map_location=device)
    program = torch.export.load(path)
    if device != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module()


def run_torch(arguments):
    process = process_from_dict(json.loads(arguments.process))
    model = load_torch_model(arguments.model, arguments.device)
    time_input = {"t": None,
                  "noise-level": lambda t: np.sqrt(process.variance(t)),
                  "step-1000": lambda t: np.rint(999 * t).astype(np.int64)}[arguments.time_input]
    axes = [np.linspace(lo, hi, arguments.nodes) for lo, hi in arguments.box]
    times = np.geomspace(arguments.t_min, arguments.t_max, arguments.n_times)
    export(arguments.out, process, times, axes, torch_predictor(model, arguments.device, time_input),
           parametrization=arguments.parametrization, batch_size=arguments.batch_size,
           meta={"exported_by": "examples/export_score.py", "model": arguments.model,
                 "time_input": arguments.time_input})
    print(f"wrote {arguments.out}")


def main(argv=None):
    arguments = parse_arguments(argv)
    {"demo": run_demo, "torch": run_torch}[arguments.command](arguments)


if __name__ == "__main__":
    main()
