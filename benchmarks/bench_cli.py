"""`dse` command-line speed: wall time of whole `dse sim` command lines, each in a fresh subprocess (what a
user waits for: interpreter start, imports, argument parsing, the simulation, printing), plus the import of
``dse.cli`` alone.

Prints one table: per command line, the median, min and max wall time of ``--repeat`` runs, the median CPU
time (user + system of the subprocess: what the command costs when other processes share the CPUs, as on a
2-core machine shared by several test runs, where wall times swing by 2x), and whether
the run imported pandas, networkx or plotly (from ``python -X importtime``, one extra run: the console
path of `dse sim` should import none of them; ``--out`` may).  Then the 12 slowest imports (cumulative) of
the first command line.  Goal (issue 5): ``dse sim --arch neupims --workload gpt3-175b --phase decode
--batch 256`` under 2 s.

The environment is used as it is: with ``PYTHONDONTWRITEBYTECODE=1`` (this repository's development
shell) every project module is compiled from source on each run (~0.2 s); ``--bytecode`` times the same
commands with a byte-code cache in a temporary ``PYTHONPYCACHEPREFIX`` (warmed by one untimed run), as an
installed package would run.

``--root DIR`` times another checkout of coex (e.g. ``git archive <commit> | tar -x -C DIR``) with this
virtual environment: the command lines run in DIR with DIR first on ``PYTHONPATH``, for before/after tables.

    python benchmarks/bench_cli.py [--repeat 5] [--bytecode] [--root DIR] [--cmd "dse sim ..."]...
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DSE = [sys.executable, "-c", "import sys; from dse.cli import main; sys.argv[0] = 'dse'; main()"]

COMMANDS = (
    "dse sim --arch neupims --workload gpt3-175b --phase decode --batch 256",
    "dse sim --arch neupims --workload gpt3-175b --phase decode --batch 256 --json",
    "dse sim --arch duplex --workload mixtral-8x7b --phase mixed --batch 64 --prefill 2 --seq-len 512 --kv-len 1024",
    "dse sim --arch tpu-v1 --workload bert-base",
    "dse sim --arch h100 --workload llama2-7b --phase decode --batch 16",
)
HEAVY = ("pandas", "networkx", "plotly")


def _argv(cmd: str) -> list[str]:
    words = cmd.split()
    if words[0] == "dse":
        return [*DSE, *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise SystemExit(f"--cmd {cmd!r}: expected a command line starting with 'dse' or 'python'")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(argv: list[str], env: dict[str, str], root: Path) -> tuple[float, float]:
    """(wall s, CPU s = user + system) of one run of `argv` in a subprocess."""
    c, t = _cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, cpu = time.perf_counter() - t, _cpu() - c
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return wall, cpu


def _imports(argv: list[str], env: dict[str, str], root: Path) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of every import of one run, from ``-X importtime``."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=root, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line[len("import time:"):].split("|")
            if cum.strip().isdigit():
                rows.append((int(cum), name.rstrip()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per command line (median reported)")
    ap.add_argument("--bytecode", action="store_true", help="time with a byte-code cache (module docstring)")
    ap.add_argument("--cmd", action="append", help="command line to time instead of the defaults (repeatable)")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout of coex to time (default: this one)")
    args = ap.parse_args()
    if args.repeat < 1:
        raise SystemExit(f"--repeat {args.repeat}: expected at least 1")
    root = args.root.resolve()
    if not (root / "dse" / "cli.py").is_file():
        raise SystemExit(f"--root {args.root}: expected a coex checkout (no dse/cli.py there)")

    env = dict(os.environ, COLUMNS="120")
    if root != ROOT:
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    tmp = None
    if args.bytecode:
        tmp = tempfile.TemporaryDirectory(prefix="coex-pycache-")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tmp.name
    cases = [("import dse.cli", [sys.executable, "-c", "import dse.cli"])]
    cases += [(c, _argv(c)) for c in (args.cmd or COMMANDS)]

    print(f"checkout {root}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}, byte-code cache: "
          f"{'on (temporary prefix)' if args.bytecode else 'as the environment says'} "
          f"(PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '')!r}), {args.repeat} runs each\n")
    print(f"{'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>7}  {'imports ' + '/'.join(HEAVY):<26} command")
    first_imports = None
    for label, argv in cases:
        _run(argv, env, root)  # warm the OS file cache (and the byte-code cache with --bytecode)
        runs = [_run(argv, env, root) for _ in range(args.repeat)]
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        imp = _imports(argv, env, root)
        if first_imports is None and label != "import dse.cli":
            first_imports = (label, imp)
        loaded = {name.strip() for _, name in imp}
        heavy = "/".join("yes" if h in loaded else "no" for h in HEAVY)
        print(f"{statistics.median(walls):9.3f} {min(walls):7.3f} {max(walls):7.3f} {statistics.median(cpus):7.3f}  "
              f"{heavy:<26} {label}")
    if first_imports:
        label, imp = first_imports
        print(f"\nslowest imports (cumulative ms) of: {label}")
        for us, name in sorted(imp, reverse=True)[:12]:
            print(f"{us / 1e3:9.1f}  {name}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
