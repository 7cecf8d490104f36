"""``verify.classify`` against a brute-force oracle over random histories and random deletions.

The runbook ("Migration tracking desync") offers ``MIGRATE_REPAIR_TRACKING=1`` only when the
state is provably auto-repairable, so the classifier must never say ``repairable`` when it is
not. Here random migration histories are built from a small vocabulary of object keys (creates,
``IF NOT EXISTS`` creates, drops, renames of tables, row writes, opaque code, migrations with no
record of their effects), random objects are deleted from the resulting schema and unrelated
objects are added, and ``classify`` must agree with an oracle that simulates the history with
plain dictionaries (not ``effects.Model``): which migration owns each object now, and whether
it is still certain to exist.

Pure: no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrydon_migrate import verify
from scrydon_migrate.verify import AppliedMigration, Classification, Kind, State

Op = tuple[str, ...]
Draw = Callable[[st.SearchStrategy[Any]], Any]

REPAIR_OFFER = "Re-run with MIGRATE_REPAIR_TRACKING=1 to rewind tracking from"

SCHEMAS = ("public", "app")
TABLES = ("t1", "t2", "t3")
COLUMNS = ("c1", "c2", "c3")
INDEXES = ("i1", "i2")
CONSTRAINTS = ("k1", "k2")
TRIGGERS = ("g1",)
FUNCTIONS = ("f1/1", "f1/10", "f2/0")
TYPES = ("e1", "e2")
LABELS = ("a", "b", "c")
# Tables no migration creates (created by hand or by another tool) that migrations may write to.
EXTERNAL_TABLES = ("table:public.x1", "table:app.x2")
# Objects that have nothing to do with any migration.
UNRELATED = (
    "schema:reporting",
    "extension:pgcrypto",
    "table:public.legacy",
    "column:public.legacy.id",
    "index:public.legacy.legacy_pkey",
    "constraint:public.legacy.legacy_pkey",
    "function:public.audit/0",
    "type:app.mood",
    "enumvalue:app.mood.ok",
)

CHILD_KINDS = ("column", "index", "constraint", "trigger")
# What a DROP ... CASCADE may have taken with it (besides tables' own children): the module
# docstring names views, constraints, triggers and functions; indexes on a dropped column go too.
CASCADE_KINDS = ("index", "constraint", "trigger", "function")

VOCABULARY = tuple(
    [f"table:{s}.{t}" for s in SCHEMAS for t in TABLES]
    + [f"column:{s}.{t}.{c}" for s in SCHEMAS for t in TABLES for c in COLUMNS]
    + [f"index:{s}.{t}.{i}" for s in SCHEMAS for t in TABLES for i in INDEXES]
    + [f"constraint:{s}.{t}.{k}" for s in SCHEMAS for t in TABLES for k in CONSTRAINTS]
    + [f"trigger:{s}.{t}.{g}" for s in SCHEMAS for t in TABLES for g in TRIGGERS]
    + [f"function:public.{f}" for f in FUNCTIONS]
    + [f"type:{s}.{e}" for s in SCHEMAS for e in TYPES]
    + [f"enumvalue:{s}.{e}.{a}" for s in SCHEMAS for e in TYPES for a in LABELS]
)


# --------------------------------------------------------------------------------------------
# The oracle: a deliberately simple simulation, one dictionary entry per object.
# --------------------------------------------------------------------------------------------


def kind_of(key: str) -> str:
    return key.partition(":")[0]


def schema_of(key: str) -> str:
    return key.partition(":")[2].split(".")[0]


def last_name(key: str) -> str:
    """``c1`` for ``column:public.t1.c1``, ``t1`` for ``table:public.t1``."""
    return key.partition(":")[2].split(".")[-1]


def parent_of(key: str) -> str | None:
    """The table owning a column/index/constraint/trigger, the type owning an enum value."""
    kind, _, rest = key.partition(":")
    parts = rest.split(".")
    if kind in CHILD_KINDS:
        return f"table:{parts[0]}.{parts[1]}"
    if kind == "enumvalue":
        return f"type:{parts[0]}.{parts[1]}"
    return None


def child_key(child: str, new_parent: str) -> str:
    """``child`` re-homed under ``new_parent`` (a renamed or moved table)."""
    return f"{kind_of(child)}:{new_parent.partition(':')[2]}.{last_name(child)}"


# The oracle's switches that emulate bugs this suite found in ``classify`` (all fixed now). The
# regression examples below show each bug's counterexample: the fixed classifier agrees with the
# plain oracle, and the emulated bug would have offered a repair on a partial state.
NX_COUNTS_AS_CREATED = "if-not-exists-counts-as-created"
STALE_UNCERTAINTY = "stale-cascade-uncertainty"
OVERLOAD_PREFIX = "drop-function-prefix-overmatch"
KNOWN_BUGS: frozenset[str] = frozenset()


@dataclass
class Obj:
    owner: int
    certain: bool = True


@dataclass
class World:
    """The schema a history leaves: object key -> (the migration that created it, certain?)."""

    emulate: frozenset[str] = frozenset()
    objects: dict[str, Obj] = field(default_factory=dict)
    # The tables each migration really created (an IF NOT EXISTS that found the table creates nothing).
    created_tables: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    # The tables named by each migration's CREATE statements, whether or not they created anything.
    named_in_creates: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    # STALE_UNCERTAINTY only: keys dropped by DROP INDEX / DROP FUNCTION while uncertain, which
    # ``effects.Model`` keeps marked uncertain, so an object later renamed to that key is too.
    stale: set[str] = field(default_factory=set)
    ever: set[str] = field(default_factory=set)

    def existing(self, kind: str) -> list[str]:
        return sorted(k for k in self.objects if kind_of(k) == kind)

    def children(self, key: str) -> list[str]:
        return [k for k in self.objects if parent_of(k) == key]

    def remove(self, keys: Iterable[str]) -> None:
        for k in list(keys):
            for child in self.children(k):
                del self.objects[child]
            self.objects.pop(k, None)

    def remove_by_name(self, keys: Iterable[str]) -> None:
        """DROP INDEX / DROP FUNCTION (the ops that name no table or whole key)."""
        keys = list(keys)
        if STALE_UNCERTAINTY in self.emulate:
            self.stale.update(k for k in keys if not self.objects[k].certain)
        self.remove(keys)

    def apply(self, version: int, op: Op) -> None:
        action = op[0]
        if action == "create":
            key, flags = op[1], op[2]
            self.stale.discard(key)
            if kind_of(key) == "table":
                self.named_in_creates[version].add(key)
            if key in self.objects and flags == "nx":
                # IF NOT EXISTS / OR REPLACE on an existing object: it certainly exists now, and
                # it is still the object its creator made.
                self.objects[key].certain = True
            else:
                self.objects[key] = Obj(version)
                if kind_of(key) == "table":
                    self.created_tables[version].add(key)
        elif action == "drop":
            self.stale.discard(op[1])
            self.remove([op[1]])
        elif action == "drop_index":
            _, schema, name = op
            self.remove_by_name(k for k in self.existing("index") if schema_of(k) == schema and last_name(k) == name)
        elif action == "drop_prefix":
            # ``function:s.f/1`` drops that overload, ``function:s.f/`` drops them all.
            name, _, args = op[1].partition("/")
            if OVERLOAD_PREFIX in self.emulate:
                self.remove_by_name(k for k in self.existing("function") if k.startswith(op[1]))
            else:
                self.remove_by_name(
                    k
                    for k in self.existing("function")
                    if k.partition("/")[0] == name and args in ("", k[len(name) + 1 :])
                )
        elif action == "rename":
            old, new = op[1], op[2]
            moved = {old: new} | {child: child_key(child, new) for child in self.children(old)}
            objs = {target: self.objects.pop(source) for source, target in moved.items()}
            self.objects.update(objs)
            for target, obj in objs.items():
                if target in self.stale:
                    obj.certain = False
                    self.stale.discard(target)
        elif action == "cascade":
            for k, obj in self.objects.items():
                if kind_of(k) in CASCADE_KINDS:
                    obj.certain = False
        else:
            assert action in ("write", "opaque"), op
        self.ever.update(self.objects)

    def expected_of(self, version: int) -> frozenset[str]:
        return frozenset(k for k, obj in self.objects.items() if obj.owner == version and obj.certain)


def simulate(history: Iterable[AppliedMigration], emulate: frozenset[str] = frozenset()) -> World:
    world = World(emulate)
    for migration in sorted(history, key=lambda m: m.version):
        for op in migration.ops:
            world.apply(migration.version, op)
    return world


@dataclass(frozen=True)
class Expected:
    kind: str
    verdicts: tuple[tuple[int, str, frozenset[str], frozenset[str]], ...]  # version, state, expected, missing
    rewind_from: int | None
    rewind_versions: tuple[int, ...]


def oracle(
    history: Sequence[AppliedMigration],
    present: set[str] | frozenset[str],
    emulate: frozenset[str] = frozenset(),
) -> Expected:
    """The classification the module docstring and the runbook call for (``emulate``: see ``KNOWN_BUGS``)."""
    ordered = sorted(history, key=lambda m: m.version)
    world = simulate(ordered, emulate)
    verdicts = []
    for m in ordered:
        expected = world.expected_of(m.version)
        missing = expected - present
        if not expected:
            state = "nothing-to-check"
        elif not missing:
            state = "present"
        elif missing == expected:
            state = "absent"
        else:
            state = "partial"
        verdicts.append((m.version, state, expected, frozenset(missing)))
    states = [v[1] for v in verdicts]

    def verdict(kind: str, rewind_index: int | None = None) -> Expected:
        if rewind_index is None:
            return Expected(kind, tuple(verdicts), None, ())
        versions = tuple(m.version for m in ordered[rewind_index:])
        return Expected(kind, tuple(verdicts), versions[0], versions)

    if "absent" not in states and "partial" not in states:
        return verdict("healthy")
    if "partial" in states:
        return verdict("partial")
    first = states.index("absent")
    if "present" in states[first:]:
        return verdict("non-contiguous")
    # Re-applying the tail is harmless unless it ran something unrecorded, or wrote to rows of a
    # table that exists now and that the tail did not itself create.
    tail = ordered[first:]
    created = world.named_in_creates if NX_COUNTS_AS_CREATED in emulate else world.created_tables
    created_in_tail = set().union(*(created[m.version] for m in tail))
    for m in tail:
        if not m.known or any(op[0] == "opaque" for op in m.ops):
            return verdict("partial")
        if any(op[0] == "write" and op[1] in present and op[1] not in created_in_tail for op in m.ops):
            return verdict("partial")
    return verdict("repairable", first)


def observed(result: Classification) -> Expected:
    return Expected(
        result.kind.value,
        tuple((v.version, v.state.value, v.expected, v.missing) for v in result.verdicts),
        result.rewind_from.version if result.rewind_from is not None else None,
        result.rewind_versions,
    )


# --------------------------------------------------------------------------------------------
# Strategies: histories that could really have run, then what is left of them.
# --------------------------------------------------------------------------------------------


def flags_for(draw: Draw, world: World, key: str) -> str:
    """``nx`` for an object that certainly exists (a plain CREATE would have failed), else either."""
    if key in world.objects and world.objects[key].certain:
        return "nx"
    return str(draw(st.sampled_from(("", "nx"))))


def statement(draw: Draw, world: World, touched: Sequence[str] = ()) -> list[Op]:
    """The ops of one random statement that is valid against ``world`` (empty when the pick is not).

    ``touched``: the tables the migration's earlier statements created or named, which its
    writes favour (a migration that creates a table often fills it).
    """
    tables = world.existing("table")
    # Repetition is weight; the rare ones come last (hypothesis shrinks towards the first).
    actions = ["create_table"] * 3 + ["create_function", "create_type", "write"]
    if tables:
        actions += ["add_column", "create_index", "create_index", "add_constraint", "create_trigger"]
        actions += ["rename_table", "rename_table", "write", "write"]
    if world.existing("column"):
        actions += ["rename_column"]
    if world.existing("type"):
        actions += ["add_enum_value"]
    if world.objects:
        actions += ["drop"] * 4
    action = draw(st.sampled_from([*actions, "opaque"]))
    schema = draw(st.sampled_from(SCHEMAS))

    if action == "create_table":
        table = f"table:{schema}.{draw(st.sampled_from(TABLES))}"
        flags = flags_for(draw, world, table)
        columns = draw(st.lists(st.sampled_from(COLUMNS), unique=True, max_size=3))
        return [("create", table, flags)] + [("create", f"column:{table[6:]}.{c}", flags) for c in columns]
    if action == "create_function":
        function = f"function:public.{draw(st.sampled_from(FUNCTIONS))}"
        return [("create", function, flags_for(draw, world, function))]
    if action == "create_type":
        type_ = f"type:{schema}.{draw(st.sampled_from(TYPES))}"
        if type_ in world.objects:
            return []
        labels = draw(st.lists(st.sampled_from(LABELS), unique=True, max_size=3))
        return [("create", type_, "")] + [("create", f"enumvalue:{type_[5:]}.{a}", "") for a in labels]
    if action == "write":
        still_there = [t for t in touched if t in world.objects]
        return [("write", draw(st.sampled_from([*still_there, *tables, *EXTERNAL_TABLES])))]
    if action == "opaque":
        return [("opaque",)]
    if action == "add_column":
        column = f"column:{draw(st.sampled_from(tables))[6:]}.{draw(st.sampled_from(COLUMNS))}"
        return [("create", column, flags_for(draw, world, column))]
    if action == "create_index":
        index = f"index:{draw(st.sampled_from(tables))[6:]}.{draw(st.sampled_from(INDEXES))}"
        taken = [k for k in world.existing("index") if schema_of(k) == schema_of(index)]
        if index not in world.objects and last_name(index) in {last_name(k) for k in taken}:
            return []  # index names are unique per schema
        return [("create", index, flags_for(draw, world, index))]
    if action == "add_constraint":
        constraint = f"constraint:{draw(st.sampled_from(tables))[6:]}.{draw(st.sampled_from(CONSTRAINTS))}"
        if constraint in world.objects:
            return []
        return [("create", constraint, "")]
    if action == "create_trigger":
        trigger = f"trigger:{draw(st.sampled_from(tables))[6:]}.{draw(st.sampled_from(TRIGGERS))}"
        return [("create", trigger, flags_for(draw, world, trigger))]
    if action == "rename_table":
        old = draw(st.sampled_from(tables))
        gone = sorted(k for k in world.ever if kind_of(k) == "table" and k not in world.objects)
        new = draw(st.sampled_from([*gone, *(f"table:{schema}.{t}" for t in TABLES)]))
        if new in world.objects:
            return []
        moving = {last_name(k) for k in world.children(old) if kind_of(k) == "index"}
        taken = {
            last_name(k) for k in world.existing("index") if schema_of(k) == schema_of(new) and parent_of(k) != old
        }
        if moving & taken:
            return []
        return [("rename", old, new)]
    if action == "rename_column":
        old = draw(st.sampled_from(world.existing("column")))
        new = old.rsplit(".", 1)[0] + "." + draw(st.sampled_from(COLUMNS))
        if new in world.objects:
            return []
        return [("rename", old, new)]
    if action == "add_enum_value":
        value = f"enumvalue:{draw(st.sampled_from(world.existing('type')))[5:]}.{draw(st.sampled_from(LABELS))}"
        return [("create", value, flags_for(draw, world, value))]
    assert action == "drop"
    uncertain = [k for k, obj in sorted(world.objects.items()) if not obj.certain]
    victim = draw(st.sampled_from([*uncertain, *(k for k in sorted(world.objects) if kind_of(k) != "enumvalue")]))
    kind = kind_of(victim)
    if kind == "index":
        ops: list[Op] = [("drop_index", schema_of(victim), last_name(victim))]
    elif kind == "function":
        every_overload = draw(st.booleans())
        ops = [("drop_prefix", victim.partition("/")[0] + "/") if every_overload else ("drop", victim)]
    else:
        ops = [("drop", victim)]
    if kind in ("table", "column") and draw(st.booleans()):
        ops.append(("cascade",))
    return ops


@st.composite
def histories(draw: Draw) -> list[AppliedMigration]:
    count = draw(st.integers(1, 12))
    version = draw(st.integers(1, 50))
    world = World()
    history = []
    for step in range(1, count + 1):
        version += draw(st.integers(1, 30))
        known = draw(st.sampled_from([True] * 15 + [False]))
        ops: list[Op] = []
        if known:
            for _ in range(draw(st.integers(0, 5))):
                touched = sorted({op[1] for op in ops if op[0] == "create" and kind_of(op[1]) == "table"})
                for op in statement(draw, world, touched):
                    world.apply(version, op)
                    ops.append(op)
        history.append(AppliedMigration(version, f"{version:04d}_step_{step}.sql", tuple(ops), known))
    return history


@dataclass(frozen=True)
class Scenario:
    applied: tuple[AppliedMigration, ...]  # in no particular order: classify sorts by version
    present: frozenset[str]
    how: str


@st.composite
def scenarios(draw: Draw) -> Scenario:
    history = draw(histories())
    world = simulate(history)
    existing = set(world.objects)
    uncertain = sorted(k for k, obj in world.objects.items() if not obj.certain)
    if uncertain:  # what a CASCADE may have taken is gone or not
        existing -= draw(st.sets(st.sampled_from(uncertain)))
    footprints = [sorted(world.expected_of(m.version)) for m in history]
    with_objects = [i for i, fp in enumerate(footprints) if fp]

    how = draw(st.sampled_from(["last k", "one whole", "one object", "part of one", "any", "nothing"]))
    deleted: set[str] = set()
    if how == "last k":
        k = draw(st.integers(1, len(history)))
        deleted = {key for fp in footprints[-k:] for key in fp}
    elif how in ("one whole", "one object", "part of one") and with_objects:
        i = draw(st.sampled_from(with_objects))
        how += f" (#{i + 1})"
        if how.startswith("one whole"):
            deleted = set(footprints[i])
        elif how.startswith("one object"):
            deleted = {draw(st.sampled_from(footprints[i]))}
        else:
            deleted = draw(st.sets(st.sampled_from(footprints[i]), min_size=1))
    elif how == "any" and existing:
        deleted = draw(st.sets(st.sampled_from(sorted(existing))))
    # A dropped table takes its columns, indexes, constraints and triggers; a type its values.
    deleted |= {k for k in existing if parent_of(k) in deleted}
    never_created = [k for k in VOCABULARY if k not in world.ever]
    extras = draw(st.sets(st.sampled_from(sorted(set(never_created) | set(EXTERNAL_TABLES) | set(UNRELATED)))))
    applied = tuple(draw(st.permutations(history)))
    return Scenario(applied, frozenset((existing - deleted) | extras), how)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


def m(version: int, *ops: Op, known: bool = True) -> AppliedMigration:
    return AppliedMigration(version, f"{version:04d}_step.sql", tuple(ops), known)


def create(key: str, flags: str = "") -> Op:
    return ("create", key, flags)


@settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_classify_agrees_with_the_brute_force_oracle(scenario: Scenario) -> None:
    result = verify.classify(list(scenario.applied), set(scenario.present))
    assert observed(result) == oracle(scenario.applied, scenario.present, KNOWN_BUGS)


@settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_rewind_is_offered_if_and_only_if_the_state_is_repairable(scenario: Scenario) -> None:
    result = verify.classify(list(scenario.applied), set(scenario.present))
    offered = REPAIR_OFFER in verify.advice(result)
    assert offered == (result.kind is Kind.REPAIRABLE)
    if offered:
        assert result.rewind_from is not None
        assert verify.advice(result).endswith(f"{REPAIR_OFFER} {result.rewind_from.label}.")
        assert result.rewind_from.state is State.ABSENT


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sets(st.sampled_from(sorted(set(EXTERNAL_TABLES) | set(UNRELATED)))))
def test_a_schema_with_everything_its_history_left_is_healthy_whatever_else_exists(
    history: list[AppliedMigration], extras: set[str]
) -> None:
    present = set(simulate(history).objects) | extras
    result = verify.classify(history, present)
    assert result.kind is Kind.HEALTHY
    assert REPAIR_OFFER not in verify.advice(result)


# --------------------------------------------------------------------------------------------
# Examples, named after the behaviour
# --------------------------------------------------------------------------------------------

HISTORY = [
    m(1, create("table:public.t1"), create("column:public.t1.c1"), create("index:public.t1.i1")),
    m(2, create("table:public.t2"), create("column:public.t2.c1")),
    m(3, create("column:public.t1.c2"), create("function:public.f1/1", "nx")),
    m(4, create("type:public.e1"), create("enumvalue:public.e1.a"), create("enumvalue:public.e1.b")),
]
EVERYTHING = set(simulate(HISTORY).objects)


def test_dropping_everything_of_the_last_two_migrations_is_repairable_from_the_first_of_them() -> None:
    present = (
        EVERYTHING
        - {"column:public.t1.c2", "function:public.f1/1", "type:public.e1"}
        - {
            "enumvalue:public.e1.a",
            "enumvalue:public.e1.b",
        }
    )
    result = verify.classify(HISTORY, present)
    assert result.kind is Kind.REPAIRABLE
    assert [v.state for v in result.verdicts] == [State.PRESENT, State.PRESENT, State.ABSENT, State.ABSENT]
    assert result.rewind_from is not None and result.rewind_from.version == 3
    assert result.rewind_versions == (3, 4)
    assert verify.advice(result) == f"{REPAIR_OFFER} 0003_step.sql."


def test_a_missing_middle_migration_followed_by_a_present_one_is_non_contiguous() -> None:
    present = EVERYTHING - {"table:public.t2", "column:public.t2.c1"}
    result = verify.classify(HISTORY, present)
    assert result.kind is Kind.NON_CONTIGUOUS
    assert [v.state for v in result.verdicts] == [State.PRESENT, State.ABSENT, State.PRESENT, State.PRESENT]
    assert result.rewind_from is None and result.rewind_versions == ()
    assert REPAIR_OFFER not in verify.advice(result)


def test_a_migration_with_only_some_of_its_objects_left_is_partial_and_never_repaired() -> None:
    result = verify.classify(HISTORY, EVERYTHING - {"enumvalue:public.e1.b"})
    assert result.kind is Kind.PARTIAL
    assert result.verdicts[-1].state is State.PARTIAL
    assert result.verdicts[-1].missing == {"enumvalue:public.e1.b"}
    assert REPAIR_OFFER not in verify.advice(result)


def test_extra_objects_nobody_created_never_cause_a_desync() -> None:
    result = verify.classify(HISTORY, EVERYTHING | set(UNRELATED) | {"table:public.t3", "column:public.t1.c3"})
    assert result.kind is Kind.HEALTHY
    assert all(v.state is State.PRESENT for v in result.verdicts)


def test_a_renamed_table_keeps_its_columns_owned_by_the_migration_that_created_them() -> None:
    history = [
        m(1, create("table:public.t1"), create("column:public.t1.c1"), create("index:public.t1.i1")),
        m(2, ("rename", "table:public.t1", "table:app.t2")),
        m(3, create("column:app.t2.c2")),
    ]
    everything = {"table:app.t2", "column:app.t2.c1", "index:app.t2.i1", "column:app.t2.c2"}
    result = verify.classify(history, everything)
    assert result.kind is Kind.HEALTHY
    assert [v.expected for v in result.verdicts] == [
        {"table:app.t2", "column:app.t2.c1", "index:app.t2.i1"},
        set(),
        {"column:app.t2.c2"},
    ]
    assert result.verdicts[1].state is State.UNCHECKED
    partly = verify.classify(history, everything - {"column:app.t2.c1"})
    assert partly.kind is Kind.PARTIAL
    assert partly.verdicts[0].missing == {"column:app.t2.c1"}


def test_a_dropped_object_is_no_longer_expected_of_the_migration_that_created_it() -> None:
    history = [
        m(1, create("table:public.t1"), create("column:public.t1.c1"), create("function:public.f1/0")),
        m(2, ("drop", "column:public.t1.c1"), ("drop_prefix", "function:public.f1/")),
    ]
    result = verify.classify(history, {"table:public.t1"})
    assert result.kind is Kind.HEALTHY
    assert result.verdicts[0].expected == {"table:public.t1"}


def test_migrations_with_nothing_to_check_inside_a_gone_tail_do_not_break_it() -> None:
    history = [
        m(1, create("table:public.t1")),
        m(2, create("table:public.t2")),
        m(3, ("write", "table:public.t2")),
        m(4, create("table:public.t3")),
    ]
    result = verify.classify(history, {"table:public.t1"})
    assert [v.state for v in result.verdicts] == [State.PRESENT, State.ABSENT, State.UNCHECKED, State.ABSENT]
    assert result.kind is Kind.REPAIRABLE
    assert result.rewind_versions == (2, 3, 4)


def test_a_gone_tail_that_wrote_to_a_surviving_table_is_partial_not_repairable() -> None:
    history = [
        m(1, create("table:public.t1")),
        m(2, create("table:public.t2"), ("write", "table:public.t1")),
    ]
    result = verify.classify(history, {"table:public.t1"})
    assert result.kind is Kind.PARTIAL
    assert result.rewind_from is None
    assert any("table public.t1" in reason for reason in result.reasons)
    assert REPAIR_OFFER not in verify.advice(result)


def test_a_gone_tail_that_only_wrote_to_tables_it_created_is_repairable() -> None:
    history = [
        m(1, create("table:public.t1")),
        m(2, create("table:public.t2"), ("write", "table:public.t2")),
    ]
    result = verify.classify(history, {"table:public.t1"})
    assert result.kind is Kind.REPAIRABLE
    assert result.rewind_versions == (2,)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(m(3, known=False), id="no-record-of-its-effects"),
        pytest.param(m(3, create("table:public.t3"), ("opaque",)), id="opaque-code"),
    ],
)
def test_an_unknown_or_opaque_migration_in_a_gone_tail_is_partial(tail: AppliedMigration) -> None:
    history = [m(1, create("table:public.t1")), m(2, create("table:public.t2")), tail]
    result = verify.classify(history, {"table:public.t1"})
    assert result.kind is Kind.PARTIAL
    assert result.reasons


def test_classify_orders_migrations_by_version_not_by_position() -> None:
    history = [m(1, create("table:public.t1")), m(2, create("table:public.t2"))]
    result = verify.classify(list(reversed(history)), {"table:public.t1"})
    assert [v.version for v in result.verdicts] == [1, 2]
    assert result.kind is Kind.REPAIRABLE and result.rewind_versions == (2,)


# --------------------------------------------------------------------------------------------
# Fixed bugs: minimal counterexamples where classify used to offer the repair on a state that is
# not provably repairable. They stay as regression tests.
# --------------------------------------------------------------------------------------------

# 0001  CREATE TABLE plans (id int);
# 0002  CREATE TABLE IF NOT EXISTS plans (id int);      -- plans exists: creates nothing
#       INSERT INTO plans VALUES (1);
#       CREATE FUNCTION plan_count() ...;               -- since dropped
NX_TABLE_WRITE = (
    [
        m(1, create("table:public.plans"), create("column:public.plans.id")),
        m(
            2,
            create("table:public.plans", "nx"),
            create("column:public.plans.id", "nx"),
            ("write", "table:public.plans"),
            create("function:public.plan_count/0"),
        ),
    ],
    {"table:public.plans", "column:public.plans.id"},
)

# 0001  CREATE TABLE t1 (c1 int); CREATE INDEX i1 ON t1 (c1);
#       ALTER TABLE t1 DROP COLUMN c1 CASCADE;          -- i1 now uncertain
#       DROP INDEX IF EXISTS i1;                          -- Model keeps index:public.t1.i1 uncertain
#       DROP TABLE t1; CREATE TABLE t2 (c2 int);
# 0002  CREATE INDEX i1 ON t2 (c2); CREATE FUNCTION f() ...;   -- f since dropped
#       ALTER TABLE t2 RENAME TO t1;                      -- its fresh i1 lands on the stale key
STALE_UNCERTAIN_INDEX = (
    [
        m(
            1,
            create("table:public.t1"),
            create("column:public.t1.c1"),
            create("index:public.t1.i1"),
            ("drop", "column:public.t1.c1"),
            ("cascade",),
            ("drop_index", "public", "i1"),
            ("drop", "table:public.t1"),
            create("table:public.t2"),
            create("column:public.t2.c2"),
        ),
        m(
            2,
            create("index:public.t2.i1"),
            create("function:public.f/0"),
            ("rename", "table:public.t2", "table:public.t1"),
        ),
    ],
    {"table:public.t1", "column:public.t1.c2", "index:public.t1.i1"},
)

# 0001  CREATE FUNCTION f(int) ...; CREATE FUNCTION f(int, int, ... 10 ints) ...; CREATE TABLE t2 (...);
# 0002  DROP FUNCTION f(int);          -- was drop_prefix "function:public.f/1", which also un-expected f/10
OVERLOAD_DROP = (
    [
        m(1, create("function:public.f/1"), create("function:public.f/10"), create("table:public.t2")),
        m(2, ("drop", "function:public.f/1")),
    ],
    {"function:public.f/10"},
)

KNOWN_COUNTEREXAMPLES = [
    pytest.param(*NX_TABLE_WRITE, NX_COUNTS_AS_CREATED, id="if-not-exists-then-insert"),
    pytest.param(*STALE_UNCERTAIN_INDEX, STALE_UNCERTAINTY, id="stale-cascade-uncertainty"),
    pytest.param(*OVERLOAD_DROP, OVERLOAD_PREFIX, id="drop-function-f-int-vs-f-10-args"),
]


@pytest.mark.parametrize(("history", "present", "bug"), KNOWN_COUNTEREXAMPLES)
def test_each_fixed_bug_counterexample_is_now_partial_where_the_bug_offered_a_repair(
    history: list[AppliedMigration], present: set[str], bug: str
) -> None:
    """classify agrees with the plain oracle; with the old bug emulated the oracle would say repairable.

    The overload bug was in the ops DROP FUNCTION f(int) produced (a prefix), now an exact drop.
    """
    assert observed(verify.classify(history, present)) == oracle(history, present, frozenset())
    assert oracle(history, present, frozenset()).kind == "partial"
    old_ops = (
        [m(1, *history[0].ops), m(2, ("drop_prefix", "function:public.f/1"))] if bug == OVERLOAD_PREFIX else history
    )
    assert oracle(old_ops, present, frozenset({bug})).kind == "repairable"


def test_create_if_not_exists_of_a_table_that_already_existed_does_not_make_writes_to_it_safe() -> None:
    history, present = NX_TABLE_WRITE
    result = verify.classify(history, present)
    assert [v.state for v in result.verdicts] == [State.PRESENT, State.ABSENT]
    assert result.kind is Kind.PARTIAL
    assert REPAIR_OFFER not in verify.advice(result)


def test_an_index_dropped_after_a_cascade_does_not_hide_a_later_index_renamed_onto_its_key() -> None:
    history, present = STALE_UNCERTAIN_INDEX
    result = verify.classify(history, present)
    assert result.verdicts[1].expected == {"index:public.t1.i1", "function:public.f/0"}
    assert result.verdicts[1].state is State.PARTIAL
    assert result.kind is Kind.PARTIAL
    assert REPAIR_OFFER not in verify.advice(result)


def test_dropping_one_overload_of_a_function_keeps_expecting_the_others() -> None:
    history, present = OVERLOAD_DROP
    result = verify.classify(history, present)
    assert result.verdicts[0].expected == {"function:public.f/10", "table:public.t2"}
    assert result.verdicts[0].state is State.PARTIAL
    assert result.kind is Kind.PARTIAL
    assert REPAIR_OFFER not in verify.advice(result)
