"""Graph state says what it holds: the graphs' JSON schemas (Studio's forms) name typed fields, every TypedDict
of a pydantic dump matches its model key by key and type by type, real dumps validate against them, and a
checkpoint written before the types (with its ``calls`` list) still loads."""

from __future__ import annotations

import inspect
import operator
import types
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

from dsr.contract import dumps
from dsr.contract.dumps import MIRRORS, CreativeDirectivesDump, EpisodeSpecDump, FactDump, TaskInputDump
from dsr.contract.state import EpisodeState, SceneState
from dsr.graph import routing
from dsr.graph.builder import compile_episode_graph, compile_scene_graph
from dsr.memory import Fact
from dsr.story.episode_spec import load_episode
from dsr.story.schemas import CreativeDirectives
from tests.recording import DIRECTIVES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "harbor-lights.yaml"
TYPEDDICT_OF = {model: typed for typed, model in MIRRORS.items()}


def _shape(tp: Any) -> Any:
    """``tp`` with constraints dropped and each model replaced by its TypedDict, to compare the two sides."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _shape(args[0])
    if origin in (Union, types.UnionType):
        return ("union", frozenset(_shape(a) for a in args))
    if origin is Literal:
        return ("literal", frozenset(args))
    if origin is not None:
        return (origin, tuple(_shape(a) for a in args))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return TYPEDDICT_OF.get(tp, tp)
    return tp


def _model_fields(model: type[BaseModel]) -> dict[str, tuple[Any, bool]]:
    """field -> (its type as a TypedDict would write it, whether a dump given to a graph must have it)."""
    fields = {name: (_shape(f.annotation), f.is_required()) for name, f in model.model_fields.items()}
    computed = {name: (_shape(f.return_type), False) for name, f in model.model_computed_fields.items()}
    return fields | computed


def _typeddict_fields(typed: type) -> dict[str, tuple[Any, bool]]:
    hints = get_type_hints(typed, include_extras=True)
    out = {}
    for name, hint in hints.items():
        optional = get_origin(hint) is NotRequired
        out[name] = (_shape(get_args(hint)[0] if optional else hint), not optional)
    return out


@pytest.mark.parametrize("typed", list(MIRRORS), ids=lambda t: t.__name__)
def test_each_dump_typeddict_mirrors_its_model(typed: type) -> None:
    """Same keys, the same ones required (a model default is NotRequired), the same value types."""
    assert _typeddict_fields(typed) == _model_fields(MIRRORS[typed])
    assert typed.__required_keys__ == {k for k, (_, required) in _typeddict_fields(typed).items() if required}


def test_every_typeddict_of_a_dump_is_mirrored_and_every_nested_model_has_one() -> None:
    declared = {v for v in vars(dumps).values() if is_typeddict(v)}
    assert declared == set(MIRRORS)
    for model in MIRRORS.values():
        for field in model.model_fields.values():
            for arg in [field.annotation, *get_args(field.annotation)]:
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    assert arg in TYPEDDICT_OF, (
                        f"{model.__name__} nests {arg.__name__}, which has no TypedDict"
                    )


def test_real_dumps_validate_against_their_typeddicts() -> None:
    spec = load_episode(EXAMPLE)
    x = spec.task_input(1)
    fact = Fact(series="s", episode=1, scene_no=2, text="Mara hides the key.", characters=["MARA"])
    for typed, model in [
        (EpisodeSpecDump, spec),
        (TaskInputDump, x),
        (CreativeDirectivesDump, CreativeDirectives.model_validate_json(DIRECTIVES)),
        (FactDump, fact),
    ]:
        dumped = dumps.dump(model)
        assert dumped == model.model_dump(mode="json")
        assert TypeAdapter(typed).validate_python(dumped, strict=True) == dumped
        assert set(dumped) == set(get_type_hints(typed)), "a dump has every key"
    # What a person gives a graph may leave out what the model defaults.
    TypeAdapter(EpisodeSpecDump).validate_python({"title": "T", "series": "s", "scenes": [{"outline": "O"}]})


@pytest.mark.parametrize("compile_graph", [compile_scene_graph, compile_episode_graph])
def test_graph_schemas_build_without_warnings_and_name_typed_fields(compile_graph) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graph = compile_graph()
        schemas = [graph.get_input_jsonschema(), graph.get_output_jsonschema()]
    for schema in schemas:
        defs = schema["$defs"]
        fields = schema["properties"]
        assert "calls" not in fields and fields["timings"]["items"] == {"$ref": "#/$defs/NodeTiming"}
        assert fields["x"] == {"$ref": "#/$defs/TaskInputDump"}
        assert {"outline", "previous", "characters", "meta"} == set(defs["TaskInputDump"]["properties"])
        assert defs["TaskInputDump"]["required"] == ["outline"]
        assert defs["MetadataDump"]["properties"]["language"]["enum"] == ["en", "zh"]
        verdict = defs["Verdict"]["properties"]
        assert verdict["decision"]["enum"] == ["pass", "revise", "accept_with_findings", "escalate"]
        assert verdict["findings"]["items"] == {"$ref": "#/$defs/FindingDump"}
        assert set(defs["AcceptedScene"]["properties"]) >= {"scene_no", "status", "screenplay", "verdict_log"}
        if compile_graph is compile_episode_graph:
            assert fields["spec"] == {"$ref": "#/$defs/EpisodeSpecDump"}
            assert set(defs["EpisodeSpecDump"]["required"]) == {"title", "series", "scenes"}
            assert defs["SceneEntryDump"]["required"] == ["outline"]


def test_no_state_field_is_an_untyped_dict() -> None:
    """Every state field names what it holds: no ``dict[str, Any]`` (or list of them) at any depth of the
    graph-made records; only the free-form ``metadata`` of the episode file is a mapping of anything."""

    def untyped(tp: Any, seen: set[type]) -> list[str]:
        """Where ``tp`` holds a ``dict[str, Any]``: ``TypedDictName.key`` paths (a bare one: ``"Any"``)."""
        origin, args = get_origin(tp), get_args(tp)
        if origin is dict and args[1] is Any:
            return ["Any"]
        if is_typeddict(tp):
            if tp in seen:
                return []
            seen.add(tp)
            found = [(key, path) for key, hint in get_type_hints(tp).items() for path in untyped(hint, seen)]
            return [f"{tp.__name__}.{key}" if path == "Any" else path for key, path in found]
        return [path for arg in args for path in untyped(arg, seen)]

    assert untyped(EpisodeState, set()) == ["EpisodeSpecDump.metadata"]


def _typeddicts_in(tp: Any, seen: set[type]) -> set[type]:
    """Every TypedDict ``tp`` is or holds, at any depth."""
    if is_typeddict(tp):
        if tp in seen:
            return seen
        seen.add(tp)
        for hint in get_type_hints(tp).values():
            _typeddicts_in(hint, seen)
        return seen
    for arg in get_args(tp):
        _typeddicts_in(arg, seen)
    return seen


def test_every_typeddict_in_state_knows_its_optional_keys_at_run_time() -> None:
    """typing_extensions' TypedDict (pydantic refuses typing's on Python 3.11), with annotations read when the
    class is made, so ``__required_keys__`` leaves out every ``NotRequired`` key."""
    typeddicts = _typeddicts_in(EpisodeState, set())
    assert len(typeddicts) > 20
    for typed in typeddicts:
        hints = get_type_hints(typed, include_extras=True)
        marked = {k: get_origin(h) for k, h in hints.items()}
        required = {
            k for k, m in marked.items() if m is Required or (typed.__total__ and m is not NotRequired)
        }
        assert typed.__required_keys__ == required, typed.__name__
        assert type(typed) is type(EpisodeState), f"{typed.__name__} is not a typing_extensions.TypedDict"


def test_routers_read_the_typed_state() -> None:
    for name, router in inspect.getmembers(routing, inspect.isfunction):
        if not name.startswith("route_"):
            continue
        hints = get_type_hints(router)
        assert hints["state"] in (SceneState, EpisodeState), name
        assert get_origin(hints["return"]) is Literal, name


def test_a_checkpoint_with_the_old_calls_list_still_loads() -> None:
    """Checkpoints written while state kept a ``calls`` list load into today's graph (the list is ignored)
    and resume where they were."""

    class OldState(SceneState, total=False):
        calls: Annotated[list[dict[str, Any]], operator.add]

    old = StateGraph(OldState)
    old.add_node("retrieve_context", lambda state: {})
    old.add_edge(START, "retrieve_context")
    saver, config = InMemorySaver(), {"configurable": {"thread_id": "old"}}
    x = load_episode(EXAMPLE).task_input(0).model_dump(mode="json")
    call = {
        "scene": 1,
        "node": "planner",
        "role": "planner",
        "requests": 1,
        "seconds": 0.1,
        "ok": True,
        "note": "",
    }
    old.compile(checkpointer=saver, interrupt_before=["retrieve_context"]).invoke(
        {"x": x, "calls": [call], "timings": [], "scenes": []}, config
    )
    snapshot = compile_scene_graph(saver).get_state(config)
    assert snapshot.values["x"] == x and "calls" not in snapshot.values
    assert snapshot.next == ("retrieve_context",)
