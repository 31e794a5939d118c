"""The plan: every leaf's count, rate, requested share and integer quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flanmix.errors import PlanError
from flanmix.plan.quotas import first_exhausted, fixed_total
from flanmix.plan.rates import flatten, leaf_rate
from flanmix.spec.load import Leaf, Mixture, parse_leaf_type
from flanmix.spec.models import TotalEpoch


@dataclass(frozen=True)
class LeafPlan:
    collection: str
    task: str
    template_type: str  # the leaf type: a template type, plus `+x_shot` for x-shot leaves
    available: int  # n: the leaf's rows
    rate: float  # flattened mixing rate (seqio's, before normalisation)
    share: float  # requested share: rate / sum of rates
    quota: int  # rows this leaf contributes
    cap: int | None = None  # the rate rule's cap on n (a cap on the weight, not a truncation)
    task_source: str = ""  # the submixture, e.g. CoT for both cot and cot_ii

    @property
    def leaf(self) -> str:
        return f"{self.task}/{self.template_type}"


@dataclass(frozen=True)
class Plan:
    mixture: str
    seed: int
    epoch: str
    leaves: tuple[LeafPlan, ...]

    @property
    def total(self) -> int:
        return sum(leaf.quota for leaf in self.leaves)

    def rows(self) -> list[dict[str, object]]:
        total = self.total
        return [
            {
                "leaf": lp.leaf,
                "collection": lp.collection,
                "template_type": parse_leaf_type(lp.template_type)[0],
                "task": lp.task,
                "n": lp.available,
                "cap": lp.cap,
                "rate": lp.rate,
                "share": lp.share,
                "quota": lp.quota,
                "realised_share": lp.quota / total if total else 0.0,
                "passes": lp.quota / lp.available if lp.available else 0.0,
                "leaf_type": lp.template_type,
                "task_source": lp.task_source,
            }
            for lp in self.leaves
        ]

    def exhausted(self) -> list[LeafPlan]:
        """Under `first_exhausted`, the leaf (or tied leaves) written in full: the epoch ends
        when it runs out."""
        if self.epoch != "first_exhausted":
            return []
        return [lp for lp in self.leaves if lp.available and lp.quota == lp.available]


def epoch_name(epoch: str | TotalEpoch) -> str:
    if isinstance(epoch, TotalEpoch):
        return f"total={epoch.total}" + (" with repeats" if epoch.repeats else "")
    return epoch


def task_leaf_counts(mixture: Mixture, task_counts: Mapping[str, int]) -> dict[Leaf, int]:
    """Every leaf of a task starts with the task's source rows (the plan before rendering)."""
    return {(t, tt): task_counts[t] for t, tt in mixture.leaves()}


def make_plan(mixture: Mixture, counts: Mapping[Leaf, int]) -> Plan:
    """Rates from the mixture tree and the leaves' row counts; quotas from the epoch rule.

    A build uses this plan, made from source rows (what `flanmix plan` shows), and replaces
    dropped rows from the leaf's next rows in hash order. A leaf with no rows at all gets no
    rate and no quota.
    """
    leaves = mixture.leaves()
    live = [leaf for leaf in leaves if counts.get(leaf, 0) > 0]
    if not live:
        raise PlanError("no leaf has any rows to write", file=mixture.file)
    raw = {leaf: leaf_rate(mixture.tasks[leaf[0]].rate, counts.get(leaf, 0)) for leaf in leaves}
    raw = {leaf: rate if leaf in live else 0.0 for leaf, rate in raw.items()}
    rates = flatten(mixture.tree, raw)
    total_rate = sum(rates.values())
    shares = {leaf: rates.get(leaf, 0.0) / total_rate for leaf in leaves}
    live_counts = [counts[leaf] for leaf in live]
    live_shares = [shares[leaf] for leaf in live]
    try:
        if mixture.epoch == "first_exhausted":
            live_quotas = first_exhausted(live_counts, live_shares)
        elif mixture.epoch == "all":
            live_quotas = list(live_counts)
        else:
            assert isinstance(mixture.epoch, TotalEpoch)
            live_quotas = fixed_total(
                mixture.epoch.total, live_counts, live_shares, mixture.epoch.repeats
            )
    except PlanError as e:
        raise PlanError(
            e.message, file=mixture.file, path="epoch", line=mixture.epoch_line, hint=e.hint
        ) from None
    quotas = dict(zip(live, live_quotas, strict=True))
    return Plan(
        mixture=mixture.name,
        seed=mixture.seed,
        epoch=epoch_name(mixture.epoch),
        leaves=tuple(
            LeafPlan(
                mixture.tasks[t].collection,
                t,
                tt,
                counts.get((t, tt), 0),
                rates.get((t, tt), 0.0),
                shares[(t, tt)],
                quotas.get((t, tt), 0),
                getattr(mixture.tasks[t].rate, "cap", None),
                mixture.tasks[t].task_source,
            )
            for t, tt in leaves
        ),
    )
