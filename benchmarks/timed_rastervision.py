"""The ``rastervision`` CLI, writing each pipeline command's CPU seconds to a file.

Usage: python benchmarks/timed_rastervision.py SECONDS.json run inprocess ...

The same CLI in the same process: only the in-process runner's per-command
function is wrapped, to add up the CPU time (this process's, and that of the
child processes it reaped) spent in each command. SECONDS.json maps each
command (analyze, chip, train, predict, eval, bundle) to seconds; start-up and
the rest of the run are the difference to the whole process's CPU time.
"""

import json
import resource
import sys
from pathlib import Path

from rastervision.pipeline import cli
from rastervision.pipeline.runner import inprocess_runner


def cpu_seconds() -> float:
    """CPU time so far of this process and of its reaped children."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def main() -> None:
    out = Path(sys.argv[1])
    sys.argv = ["rastervision", *sys.argv[2:]]
    seconds = {}
    run_command = inprocess_runner._run_command

    def timed_run_command(cfg_json_uri, command, *args, **kwargs):
        start = cpu_seconds()
        try:
            return run_command(cfg_json_uri, command, *args, **kwargs)
        finally:
            seconds[command] = seconds.get(command, 0.0) + cpu_seconds() - start
            out.write_text(json.dumps(seconds))

    inprocess_runner._run_command = timed_run_command
    cli._main()


if __name__ == "__main__":
    main()
