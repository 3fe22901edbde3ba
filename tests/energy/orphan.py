"""A process whose grandchild is orphaned at once (run as a script, not collected by pytest).

    python orphan.py CPU_S MARKER [--subreaper]

Prints "ready" and waits for a line on stdin; then starts a child that starts a grandchild burning CPU_S
seconds of CPU and exits at once, so the grandchild is orphaned before anyone scans for it. When the
grandchild has written MARKER, prints "done" and stays alive until stdin closes.
"""

import os
import subprocess
import sys
import time

GRANDCHILD = (
    "import sys, time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < float(sys.argv[1]):\n"
    "    pass\n"
    "open(sys.argv[2], 'w').write('ok')\n"
)
CHILD = (
    "import subprocess, sys\n"
    "subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2], sys.argv[3]], start_new_session=True)\n"
)


def main() -> None:
    cpu_s, marker = sys.argv[1], sys.argv[2]
    if "--subreaper" in sys.argv:
        from raybench.energy._reaper import become_subreaper

        assert become_subreaper()
    print("ready", flush=True)
    sys.stdin.readline()
    subprocess.run([sys.executable, "-c", CHILD, GRANDCHILD, cpu_s, marker], check=True)  # the child exits at once
    while not os.path.exists(marker):
        time.sleep(0.02)
    time.sleep(0.1)
    print("done", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
