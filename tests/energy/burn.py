"""A CPU burner for the energy tests (run as a script, not collected by pytest).

    python burn.py CPU_S DUTY [CHILD_CPU_S]

Prints "ready" and waits for a line on stdin; then burns CPU_S seconds of its own CPU time in
20 ms periods busy for DUTY of each, while an optional child process burns CHILD_CPU_S; reaps the
child, prints "done", and stays alive until stdin closes, so its final CPU time can still be read.
Budgets are in CPU time, not wall time, so other load on the machine stretches the run but does
not change how much CPU each process uses.
"""

import subprocess
import sys
import time


def burn(cpu_s: float, duty: float, period_s: float = 0.02) -> None:
    start = time.process_time()
    while (used := time.process_time() - start) < cpu_s:
        stop = time.process_time() + min(period_s * duty, cpu_s - used)
        while time.process_time() < stop:
            pass
        if duty < 1:
            time.sleep(period_s * (1 - duty))


def main() -> None:
    cpu_s, duty = float(sys.argv[1]), float(sys.argv[2])
    child = None
    if len(sys.argv) > 3:
        child = subprocess.Popen([sys.executable, __file__, sys.argv[3], str(duty)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
    print("ready", flush=True)
    sys.stdin.readline()
    if child is not None:
        child.stdin.write("go\n")
        child.stdin.flush()
    burn(cpu_s, duty)
    if child is not None:
        assert child.stdout.readline().strip() == "done"
        child.stdin.close()
        child.wait()  # reaped: its CPU time moves into this process's cutime
    print("done", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
