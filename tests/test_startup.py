"""The command line answers help, argument errors and the model list without loading torch (start-up time)."""

import os
import subprocess
import sys

PROBE = """
import sys
from dfstream.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as done:  # argparse ends --help with it
    code = done.code
print("torch" in sys.modules, code)
"""


def probe(*args: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    return done.stdout.split()[-2:], done.stderr


def test_help_and_argument_errors_do_not_load_torch():
    assert probe("--help")[0] == ["False", "0"]
    (loaded, code), err = probe("run", "in.mp4", "--bogus")
    assert (loaded, code) == ("False", "2") and "dfstream has no option --bogus" in err
    assert probe("in.mp4", "out.mp4", "--strength", "2")[0] == ["False", "2"]


def test_the_model_list_does_not_load_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("DFSTREAM_HOME", str(tmp_path))  # an empty store, as on a fresh machine
    done = subprocess.run([sys.executable, "-c", PROBE, "models", "list"], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split()[-2:] == ["False", "0"]
    assert "deoldify-video" in done.stdout and "not installed" in done.stdout and "animegan2-paprika" in done.stdout


def test_run_help_still_lists_the_engines():
    done = subprocess.run([sys.executable, "-m", "dfstream", "run", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert "reference" in done.stdout and "flow" in done.stdout and "classic" in done.stdout


def openmp(**settings: str) -> list[str]:
    """OMP_WAIT_POLICY and GOMP_SPINCOUNT after ``import dfstream``, with only ``settings`` set before."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", "import os, dfstream; print(os.environ.get('OMP_WAIT_POLICY'), "
                           "os.environ.get('GOMP_SPINCOUNT'))"], env={**env, **settings}, capture_output=True,
                          text=True, timeout=120)
    return done.stdout.split()


def test_openmp_workers_spin_briefly_before_they_sleep_unless_the_user_says_otherwise():
    assert openmp() == ["PASSIVE", "10000"]  # GNU OpenMP takes the spin count over the policy
    assert openmp(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "None"]
    assert openmp(GOMP_SPINCOUNT="0") == ["None", "0"]
