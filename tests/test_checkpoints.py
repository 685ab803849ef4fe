"""Choosing a run's checkpoint store (run/checkpoints.py): SQLite by default, Postgres by address, never a
password in what a run records. The runs against a real PostgreSQL are in tests/test_shared_servers.py."""

from __future__ import annotations

import pytest

from dsr.common.errors import BadInput
from dsr.run.checkpoints import ENV, CheckpointStore, choose, connection_string, stored_address

URL = "postgresql://dsr:pw@db.example:6543/screen"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_sqlite_is_the_default_and_keeps_the_old_thread():
    store = choose(None)
    assert (
        store == CheckpointStore()
        and store.thread_id("episode") == "episode"
        and store.record() == {"store": "sqlite"}
    )
    assert choose("sqlite") == CheckpointStore()


def test_a_postgres_address_records_no_password_and_a_thread_of_its_own(monkeypatch):
    first, second = choose(URL), choose(URL)
    assert first.url == "postgresql://dsr@db.example:6543/screen" and "pw" not in str(first.record())
    assert first.thread != second.thread and first.thread_id("episode") == f"{first.thread}:episode"
    monkeypatch.setenv(ENV, URL)
    assert choose(None).store == "postgres"  # the environment chooses when the option does not
    assert CheckpointStore.from_record(first.record()) == first


def test_the_stored_address_has_no_password_in_any_form():
    assert (
        stored_address("postgresql://u:p%40ss@h/db?password=x&sslmode=require")
        == "postgresql://u@h/db?sslmode=require"
    )
    assert stored_address("postgresql://u:pa#ss@h/db") == "postgresql://u@h/db"  # libpq: '#' is password text
    assert stored_address("postgresql://u:pa?ss@[::1]:5433/db") == "postgresql://u@[::1]:5433/db"
    assert stored_address("host=h dbname=db user=u password='p w'") == "host=h dbname=db user=u"
    assert stored_address("postgres://h:5432/db") == "postgres://h:5432/db"


def test_anything_else_is_refused_in_one_line():
    for bad in (
        "mysql://h/db",
        "/tmp/checkpoints.db",
        "postgresql://h:notaport/db",
        "postgresql://u:pw@[::1:1/db",  # an unclosed IPv6 bracket: once a ValueError traceback
        "postgresql://u:se/cret@h/db",
    ):
        with pytest.raises(BadInput, match="checkpoint|--checkpoints") as info:
            choose(bad)
        assert "\n" not in str(info.value) and "cret" not in str(info.value)


def test_resume_takes_the_password_from_an_address_naming_the_same_database(monkeypatch):
    store = choose(URL)
    assert connection_string(store) == store.url  # libpq then reads PGPASSWORD or ~/.pgpass
    assert connection_string(store, URL) == URL
    monkeypatch.setenv(ENV, "postgresql://dsr:pw@db.example:6543/screen")
    assert connection_string(store) == URL
    monkeypatch.setenv(ENV, "postgresql://dsr:pw@elsewhere:5432/other")  # another database: ignored
    assert connection_string(store) == store.url
    with pytest.raises(BadInput, match="keeps its checkpoints in postgresql://dsr@db.example:6543/screen"):
        connection_string(store, "postgresql://dsr:pw@elsewhere:5432/other")  # named explicitly: refused


def test_a_damaged_record_is_bad_input():
    with pytest.raises(BadInput, match="damaged"):
        CheckpointStore.from_record({"store": "postgres", "colour": "blue"})
    with pytest.raises(BadInput, match="without its url"):
        CheckpointStore.from_record({"store": "postgres"})


def test_a_memory_server_address_is_host_and_port_only():
    from dsr.memory.client import is_server, memory_location

    assert (
        is_server("http://127.0.0.1:8000")
        and is_server("https://chroma.example")
        and not is_server("runs/memory")
    )
    for bad in ("http://127.0.0.1:8000/some/path", "http://:8000", "http://h:port", "http://h:8000?tenant=x"):
        with pytest.raises(BadInput, match="is not a Chroma server address"):
            memory_location(bad)


def test_a_node_that_saved_its_writes_before_the_kill_is_not_a_finished_run():
    """Killed after a node saved its writes but before the next step's checkpoint, a run shows no ``next`` node;
    it is still unfinished (dsr resume applies the writes and goes on), not "already complete" with its scenes
    unwritten (seen for real: tests/test_graph_e2e.py's kill, once the ONNX engine made nodes fast)."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from dsr.run.runner import _pending

    class Count(TypedDict):
        n: int

    builder = StateGraph(Count)
    builder.add_node("first", lambda s: {"n": s["n"] + 1})
    builder.add_node("second", lambda s: {"n": s["n"] + 10})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    saver = InMemorySaver()
    thread = {"configurable": {"thread_id": "killed"}}
    builder.compile(checkpointer=saver, interrupt_before=["second"]).invoke({"n": 0}, thread)
    graph = builder.compile(checkpointer=saver)
    snapshot = graph.get_state(thread)
    saver.put_writes(snapshot.config, [("n", 11)], snapshot.tasks[0].id)  # "second" done, then SIGKILL
    assert graph.get_state(thread).next == ()
    assert not _pending(graph, thread)[0], "the saved writes are still to apply"
    assert graph.invoke(None, thread) == {"n": 11}
    assert _pending(graph, thread)[0]
