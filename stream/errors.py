"""The one error type users see: a single line that names the problem and the fix."""


class DfstreamError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits non-zero."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}" if fix else problem)


class UsageError(DfstreamError):
    """A bad command line (unknown stage, option value out of range); exit status 2 as argparse."""

    exit_code = 2
