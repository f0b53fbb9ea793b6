"""What every task shares: the interface the training loop relies on and the image pool."""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from ..averaging import WeightAverage
from ..nets.layers import uses_image_statistics
from ..optimization import Optimization


class Task(nn.Module):
    """Nets + losses + one optimisation step. Tasks do not own the loop.

    A task is an ``nn.Module`` holding its generator(s) and discriminator(s), so one
    ``state_dict()`` saves all of them. Subclasses define:

    * ``name``: the task's registry name;
    * :meth:`parameter_groups`: optimizer name -> parameters (the loop builds the optimizers);
    * :meth:`training_step`: one optimisation step on a batch already on the device, in
      ``[-1, 1]``, returning floats for logging;
    * :meth:`generators`: direction (``"AtoB"``/``"BtoA"``) -> generator, what gets exported;
    * :meth:`translate` (used for samples and validation) and optionally :meth:`extra_state`.

    and may override what the loop asks of them: ``dataset`` (which folder reader the loop
    builds: ``"paired"``, ``"unpaired"``, ``"sr"`` or ``"images"``, see :data:`DATASET_KINDS`), ``defaults`` (TrainConfig values for a task
    registered outside the package), :meth:`from_config`, :meth:`prepare`,
    :meth:`validation_summary` / :meth:`validation_scores` and :meth:`sample_rows`. A new task is one module with a ``@register_task`` class (see
    ``img2img.tasks.register_task`` and CONTRIBUTING.md).
    """

    name: ClassVar[str] = ""
    default_direction: ClassVar[str] = "AtoB"
    dataset: ClassVar[str] = "paired"
    defaults: ClassVar[dict[str, Any]] = {}
    scores_itself: ClassVar[bool] = False  # validation needs no val images (the GAN lab scores its own samples)
    extra_fields: ClassVar[tuple[str, ...]] = ()  # TrainConfig fields the task reads that are not constructor arguments

    # ---------------------------------------------------------------- the task's part of the config
    @classmethod
    def config_fields(cls) -> set[str]:
        """The TrainConfig fields this task takes: its keyword-only constructor arguments and ``extra_fields``."""
        names = {n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY}
        return names | set(cls.extra_fields)

    @classmethod
    def configure(cls, cfg: Any) -> None:
        """Called by ``TrainConfig`` before ``defaults`` fill the unset fields: settings that follow
        from other options (the GAN lab's ``--arch`` chooses the generator and learning rates)."""

    @classmethod
    def finish_config(cls, cfg: Any) -> None:
        """Called by ``TrainConfig`` after the defaults: the task's derived values and its checks
        (``ValueError`` naming the option)."""

    @classmethod
    def discriminator_norm(cls, cfg: Any) -> str | None:
        """The PatchGAN's norm when the user gives none (``--d-norm``); None: the task resolves its
        discriminator's options itself."""
        return "batch"

    #: the ``--best-metric`` values this task's validation scores ("last" needs no score)
    best_metrics: tuple[str, ...] = ("psnr", "ssim", "sharpness", "last")

    @classmethod
    def default_best_metric(cls, cfg: Any) -> str:
        """What picks ``RUN/best`` when ``--best-metric`` is not given."""
        return "psnr"

    @classmethod
    def from_config(cls, cfg: Any) -> "Task":
        """Build from a TrainConfig: every keyword-only constructor argument named like a config field."""
        names = [n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]
        return cls(**cls.config_kwargs(cfg, names))

    @classmethod
    def config_kwargs(cls, cfg: Any, names: list[str] | None = None) -> dict[str, Any]:
        """The constructor's keyword arguments taken from a TrainConfig (fields with the same names)."""
        if names is None:
            names = [n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]
        return {n: copy.deepcopy(getattr(cfg, n)) for n in names if hasattr(cfg, n)}

    def prepare(self, run_dir: Any, train_set: Any, val_set: Any) -> None:
        """Called by the loop once the datasets exist, before training (rank 0 passes the run
        folder, other ranks None): e.g. the GAN lab trains (or loads) the classifier of its scores."""

    @torch.no_grad()
    def validation_summary(self, batches: Any) -> dict[str, float]:
        """Mean validation scores over prepared val batches (``{"A", "B"}`` in ``[-1, 1]``): the
        mean of :meth:`validation_scores` per image."""
        sums: dict[str, float] = {}
        count = 0
        for batch in batches:
            a, b = batch["A"], batch["B"]
            for key, values in self.validation_scores(a, b).items():
                sums[key] = sums.get(key, 0.0) + float(values.sum())
            count += a.shape[0]
        return {key: value / max(count, 1) for key, value in sums.items()}

    @torch.no_grad()
    def validation_scores(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image validation scores of a batch (``val_*`` name -> ``(N,)``): the output against
        the target by PSNR, SSIM and sharpness ratio."""
        from ..data.augment import to_uint8
        from ..metrics import psnr, sharpness_ratio, ssim

        out = self.translate_for_scoring(a, b).float()
        outs, targets = (to_uint8(t[:, :3]).permute(0, 2, 3, 1).cpu().numpy() for t in (out, b))
        sharpness = torch.tensor([min(sharpness_ratio(o, t), 1e6) for o, t in zip(outs, targets)], dtype=torch.float64)
        return {
            "val_psnr": psnr(out, b, reduction="none"),
            "val_ssim": ssim(out, b, reduction="none"),
            "val_sharpness": sharpness,
        }

    @torch.no_grad()
    def sample_rows(
        self, a: torch.Tensor, b: torch.Tensor
    ) -> tuple[list[list[torch.Tensor]], torch.Tensor, torch.Tensor]:
        """``(rows of columns for the sample grid, outputs, references)``: ``input | output | target``;
        the outputs' diversity against the references' detects mode collapse."""
        out = self.translate_for_scoring(a, b)
        return [[a, out, b]], out, b

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], opt: Optimization, step: int) -> dict[str, float]:
        raise NotImplementedError

    def generators(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def discriminators(self) -> list[nn.Module]:
        raise NotImplementedError

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str | None = None) -> torch.Tensor:
        """Run one generator on images in ``[-1, 1]`` whose size is already a valid multiple."""
        return self.generators()[direction or self.default_direction](images)

    @torch.no_grad()
    def translate_for_scoring(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The output validation scores and sample grids show for input ``a`` (``b``: its target,
        from which a hint model draws its validation hints)."""
        return self.translate(a)

    # ------------------------------------------------------------ averaged weights (--ema)
    def average_weights(self, decay: float) -> None:
        """Keep an exponential moving average of the generators' weights (``img2img.averaging``), a
        submodule ``averaged``, so that checkpoints and rollbacks carry it; the loop updates it after
        every step and validates, samples and saves with it."""
        self.averaged = WeightAverage(self.generators(), decay)

    @property
    def weight_average(self) -> WeightAverage | None:
        """The average of :meth:`average_weights`, or None."""
        return self._modules.get("averaged")  # type: ignore[return-value]

    def served_generators(self) -> dict[str, nn.Module]:
        """The generators a model folder gets: the averaged ones under ``--ema``, else the trained ones."""
        average = self.weight_average
        return dict(average.nets.items()) if average is not None else self.generators()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Within the block the generators hold the weights that are served (the average under
        ``--ema``): validation and samples score what ``RUN/model`` and ``RUN/best`` will hold."""
        average = self.weight_average
        with average.applied(self.generators()) if average is not None else contextlib.nullcontext():
            yield

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Training state that is not parameters or buffers (image pools); saved in checkpoints."""
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        pass

    def io_spec(self) -> dict[str, Any]:
        """Input/output description written into the exported model's config."""
        return generator_io_spec(self.generators()[self.default_direction])


def generator_io_spec(g: nn.Module) -> dict[str, Any]:
    """The input/output description of an image generator's model folder (RGB or gray in and out,
    values in ``[-1, 1]``; its scale, size multiple, minimum size and per-image statistics)."""
    return {
        "input": {
            "channels": g.in_channels,
            "color_space": "rgb" if g.in_channels == 3 else "gray",
            "range": [-1.0, 1.0],
        },
        "output": {
            "channels": g.out_channels,
            "color_space": "rgb" if g.out_channels == 3 else "gray",
            "range": [-1.0, 1.0],
        },
        "scale": int(getattr(g, "scale", 1)),
        "size_multiple": int(getattr(g, "size_multiple", 1)),
        "min_size": int(getattr(g, "min_size", 1)),
        "image_statistics": uses_image_statistics(g),
        "color": {"space": "rgb"},
    }


# The training settings of the pix2pix and CycleGAN papers (Isola et al. 2017, Zhu et al. 2017): 256 px
# crops, batches of 1, Adam(2e-4, beta1 0.5), constant then linear decay to 0, no warm-up.
ISOLA_ZHU_SETTINGS: dict[str, Any] = {
    "size": 256,
    "batch_size": 1,
    "lr": 2e-4,
    "beta1": 0.5,
    "lr_schedule": "linear",
    "warmup_steps": 0,
}

TASKS: dict[str, type[Task]] = {}


#: the folder readers the training loop builds (``Task.dataset``)
DATASET_KINDS = ("paired", "unpaired", "sr", "images")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a :class:`Task` subclass trainable by its ``name`` (``train(name, ...)``).
    Its ``defaults`` fill the TrainConfig values it needs that have no global default
    (``generator``, ``lr``, ...), and its ``configure``/``finish_config`` hooks derive and check the
    rest, for the built-in tasks as for any other."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    if not cls.name:
        raise ValueError(f"{where} needs a name")
    if cls.name in TASKS and TASKS[cls.name] is not cls:
        other = TASKS[cls.name]
        raise ValueError(
            f"{where}: a task named {cls.name!r} is already registered ({other.__module__}.{other.__qualname__}); "
            "choose another name"
        )
    module = cls.__module__.rsplit(".", 1)
    if module[0] == __package__ and module[1] != cls.name:
        raise ValueError(
            f"{where}: a task module in img2img/tasks/ is named like its task (the command line lists the tasks by "
            f"module name): rename the module to {cls.name}.py or the task to {module[1]!r}"
        )
    if cls.dataset not in DATASET_KINDS:
        raise ValueError(f"{where}: dataset must be one of {', '.join(DATASET_KINDS)}, got {cls.dataset!r}")
    if cls.dataset == "images" and (
        cls.sample_rows is Task.sample_rows or cls.validation_summary is Task.validation_summary
    ):  # the defaults translate A and compare with B; "images" batches hold B (and labels) only
        raise ValueError(
            f"{where}: a task reading 'images' (no input A) defines its own sample_rows and validation_summary "
            "(see img2img/tasks/gan.py)"
        )
    TASKS[cls.name] = cls
    return cls


class ImagePool:
    """History of generated images shown to the discriminator (Shrivastava et al. 2017).

    With probability 0.5 a query returns an image generated earlier (and stores the new one in
    its place), which keeps the discriminator from forgetting old modes of the generator. Uses
    the global torch RNG, which checkpoints save, so resuming replays the same choices.
    """

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                i = int(torch.randint(0, self.size, ()).item())
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor:
        return torch.cat(self.images, 0).cpu() if self.images else torch.zeros(0)

    def load(self, images: torch.Tensor, device: torch.device) -> None:
        self.images = [img.unsqueeze(0).to(device) for img in images] if images.numel() else []


class RowReplay:
    """A ring buffer of the last ``capacity`` rows (e.g. per-crop statistics), sampled at random.

    Rows are added a batch at a time; :meth:`sample` draws with replacement with the global torch
    RNG, which checkpoints save, so resuming replays the same draws. :meth:`state` and
    :meth:`load` carry the rows (and the write position) through checkpoints.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.rows: torch.Tensor | None = None  # (capacity, width) once the first rows arrive
        self.count = 0  # rows added so far (the next one goes to count % capacity)

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach()
        if self.rows is None:
            self.rows = rows.new_zeros(self.capacity, rows.shape[1])
        elif rows.shape[1] != self.rows.shape[1]:
            raise ValueError(f"rows of width {rows.shape[1]} added to a buffer of width {self.rows.shape[1]}")
        self.count += rows.shape[0]
        self._put(rows[-self.capacity :])  # of a batch larger than the buffer only the last rows stay

    def _put(self, rows: torch.Tensor) -> None:
        """Write ``rows``, the last ones added, to their ring positions (``count`` already includes them)."""
        assert self.rows is not None
        positions = torch.arange(self.count - rows.shape[0], self.count, device=self.rows.device) % self.capacity
        self.rows[positions] = rows.to(self.rows)

    def sample(self, n: int) -> torch.Tensor:
        if not len(self) or self.rows is None:
            raise ValueError("sample() from an empty replay buffer")
        index = torch.randint(len(self), (n,))
        return self.rows[index.to(self.rows.device)]

    def state(self) -> torch.Tensor:
        """``(count, rows in order of arrival...)`` as one tensor: ``[count, ...]`` then the kept rows."""
        if self.rows is None:
            return torch.zeros(0)
        kept = len(self)
        order = torch.arange(self.count - kept, self.count) % self.capacity
        rows = self.rows[order.to(self.rows.device)].cpu()
        header = torch.full((1, rows.shape[1]), 0.0, dtype=rows.dtype)
        header[0, 0] = float(self.count)
        return torch.cat([header, rows], 0)

    def load(self, state: torch.Tensor, device: torch.device) -> None:
        self.rows, self.count = None, 0
        if not state.numel():
            return
        self.count, rows = int(state[0, 0].item()), state[1:][-self.capacity :].to(device)
        self.rows = rows.new_zeros(self.capacity, rows.shape[1])
        self._put(rows)
