"""``console_main`` (the ``labtrust`` script): main's exit code, exit handlers run,
streams flushed, and the normal shutdown while a thread of ours still runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

_RUN = """
import atexit, sys, threading, time
atexit.register(lambda: print("exit handler ran"))
if {thread}:
    def late():
        time.sleep(0.2)
        print("thread finished")
    threading.Thread(target=late).start()
sys.argv = ["labtrust", *{argv!r}]
from labtrust_gym.cli.main import console_main
console_main()
"""


def _run(argv: list[str], thread: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN.format(argv=argv, thread=thread)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("argv", "rc"), [(["--version"], 0), (["no-such-command"], 2)])
def test_exit_code_is_mains_and_exit_handlers_run(argv: list[str], rc: int) -> None:
    p = _run(argv)
    assert p.returncode == rc, p.stderr
    assert p.stdout.rstrip().endswith("exit handler ran")
    if rc == 0:
        assert p.stdout.startswith("labtrust-gym ")


def test_the_collector_is_back_on_when_the_command_runs() -> None:
    """console_main turns the collector off for start-up; a command runs with it on
    (list-tasks prints while it runs; the exit handler reports what it found)."""
    code = _RUN.format(argv=["list-tasks"], thread=False).replace(
        'atexit.register(lambda: print("exit handler ran"))',
        'import gc; atexit.register(lambda: print("collector on:", gc.isenabled()))',
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "throughput_sla" in p.stdout and p.stdout.rstrip().endswith("collector on: True")


def test_a_running_thread_gets_the_normal_shutdown() -> None:
    p = _run(["--version"], thread=True)
    assert p.returncode == 0, p.stderr
    assert "thread finished" in p.stdout and "exit handler ran" in p.stdout


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    code = (
        "import sys; sys.argv = ['labtrust', 'list-tasks']; "
        "from labtrust_gym.cli.main import console_main; console_main()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader goes away before anything is written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) in (0, 1)
    assert "Traceback" not in err and "BrokenPipeError" not in err


@pytest.mark.parametrize(
    ("env", "want"),
    [({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "2"), ({"OMP_NUM_THREADS": "3"}, None)],
)
def test_blas_runs_single_threaded_unless_the_user_says_otherwise(
    env: dict[str, str], want: str | None
) -> None:
    import json
    import os

    code = _RUN.format(argv=["list-tasks"], thread=False).replace(
        'atexit.register(lambda: print("exit handler ran"))',
        "import json, os; atexit.register(lambda: print(json.dumps("
        "[os.environ.get('OPENBLAS_NUM_THREADS')])))",
    )
    base = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    }
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])[0] == want
