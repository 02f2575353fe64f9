"""bench.profile: py-spy's raw stacks summed by where the time goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profile import main, summarise

WORKER = 'process 7:"python -m engine.cli worker"'
BENCH = 'process 6:"python -m bench"'
ENTRY = "main (engine/cli.py:50);PulseWorker._accounts_agent (engine/worker.py:200)"
RAW = [
    # The core, called from the runtime: the core's (the innermost own code).
    f"{WORKER};{ENTRY};AccountPath._apply (engine/runtime/accounts.py:196);"
    "SignalProcessor.apply (signals/core.py:223);fold_days (signals/folds.py:150) 50",
    # The runtime sending through faust: still the runtime's, which asked for it.
    f"{WORKER};{ENTRY};send (engine/runtime/publisher.py:85);"
    "Topic.send (.venv/lib/python3.11/site-packages/faust/topics.py:190) 20",
    # faust's fetcher thread under nothing of ours but the entry: the library's.
    f"{WORKER};main (engine/cli.py:50);_start_thread (site-packages/mode/threads.py:1);"
    "run (threading.py:975);getmany (site-packages/aiokafka/consumer/consumer.py:1) 25",
    # Only the event loop: asyncio, as no other library is there.
    f"{WORKER};main (engine/cli.py:50);_run_once (asyncio/base_events.py:1907) 5",
    # Another process: left out with --process.
    f"{BENCH};produce (bench/population.py:90) 100",
]


def test_samples_go_to_the_innermost_own_code_else_the_library() -> None:
    profile = summarise(RAW, process="engine.cli worker")

    assert profile.samples == 100
    assert profile.areas == {
        "signals": 50,
        "engine.runtime": 20,
        "library: aiokafka": 25,
        "library: asyncio": 5,
    }
    assert profile.functions["SignalProcessor.apply (signals/core)"] == 50
    assert profile.functions["main (engine/cli)"] == 100


SITE = ".venv/lib/python3.11/site-packages"
LIBRARY_STACKS = [
    # faust's own driver for aiokafka is faust's (a package folder, not a file name)
    f"{WORKER};main (engine/cli.py:50);Fetcher._fetcher ({SITE}/mode/services.py:1);"
    f"getmany ({SITE}/faust/transport/drivers/aiokafka.py:1) 7",
    # a real library beats the thread and event loop it runs on, wherever they are
    f"{WORKER};main (engine/cli.py:50);run (threading.py:975);"
    f"_run_once (asyncio/base_events.py:1907);send ({SITE}/aiokafka/producer.py:1);"
    f"_run_once (asyncio/base_events.py:1907) 3",
    # mode is faust's service library
    f"{WORKER};main (engine/cli.py:50);Service.start ({SITE}/mode/services.py:1) 2",
    # an installed package's topics/ folder is not Pulse's topics
    f"{WORKER};main (engine/cli.py:50);Topic.send ({SITE}/quixstreams/models/topics/topic.py:1) 1",
]


def test_library_samples_go_to_the_library_not_its_thread_or_file_names() -> None:
    profile = summarise(LIBRARY_STACKS)

    assert profile.areas == {
        "library: faust": 9,
        "library: aiokafka": 3,
        "library: other": 1,
    }
    assert not any("topics" in name for name in profile.functions)


def test_without_a_process_every_stack_counts() -> None:
    profile = summarise([*RAW, "", "not a stack line"])

    assert profile.samples == 200
    assert profile.areas["bench"] == 100


def test_the_command_prints_shares_and_refuses_an_empty_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "worker.txt"
    raw.write_text("\n".join(RAW) + "\n")

    main([str(raw), "--process", "engine.cli worker", "--top", "3"])
    out = capsys.readouterr().out
    assert "100 samples" in out
    assert " 50.0%  signals" in out
    assert " 25.0%  library: aiokafka" in out

    with pytest.raises(SystemExit):
        main([str(raw), "--process", "no such process"])
    assert "no samples" in capsys.readouterr().err
