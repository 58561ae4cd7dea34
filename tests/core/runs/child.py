"""A command for the run tests: does what its options say, in order.

    python child.py [--stdout TEXT] [--stderr TEXT] [--write NAME TEXT] [--ignore-term]
                    [--grandchild] [--tell FIFO] [--hang] [--params] [--post JSON|unpicklable|param]
                    [--hang-if-param RELEASE] [--exit-param] [--exit CODE]

``--tell FIFO`` writes one line to the named pipe FIFO: this process's pid and, with
``--grandchild``, the pid of a grandchild it forked that ignores SIGTERM and waits
forever, so the test learns both and knows they are running. ``--hang`` then waits
forever (signals aside). ``--params`` prints the run's parameters (getRunParams) on
stdout as JSON; ``--post`` posts results with postRunResults (``param``: the run's
``post`` parameter). ``--hang-if-param
RELEASE`` ends the child there when the run's ``hang`` parameter is false or the file
RELEASE exists, and else goes on with the options after it (``--tell``, ``--hang``);
``--exit-param`` exits with the run's ``exit`` parameter.
"""

import json
import os
import signal
import sys


def wait_forever() -> None:
    while True:
        signal.pause()


def main(argv: list[str]) -> int:
    grandchild = None
    code = 0
    while argv:
        option = argv.pop(0)
        if option == "--stdout":
            print(argv.pop(0), flush=True)
        elif option == "--stderr":
            print(argv.pop(0), file=sys.stderr, flush=True)
        elif option == "--write":
            name, text = argv.pop(0), argv.pop(0)
            with open(name, "w") as f:
                f.write(text)
        elif option == "--ignore-term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif option == "--grandchild":
            grandchild = os.fork()
            if grandchild == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                wait_forever()
        elif option == "--tell":
            with open(argv.pop(0), "w") as fifo:
                fifo.write(f"{os.getpid()} {grandchild or 0}\n")
        elif option == "--hang":
            wait_forever()
        elif option == "--params":
            from labqueue.multirun import getRunParams

            print(json.dumps(getRunParams()), flush=True)
        elif option == "--post":
            from labqueue.multirun import postRunResults

            value = argv.pop(0)
            if value == "param":
                from labqueue.multirun import getRunParams

                value = json.dumps(getRunParams()["post"])
            postRunResults((lambda: None) if value in ('"unpicklable"', "unpicklable") else json.loads(value))
        elif option == "--hang-if-param":
            from labqueue.multirun import getRunParams

            release = argv.pop(0)
            if not getRunParams().get("hang") or os.path.exists(release):
                return code
        elif option == "--exit-param":
            from labqueue.multirun import getRunParams

            code = int(getRunParams().get("exit", 0))
        elif option == "--exit":
            code = int(argv.pop(0))
        else:
            raise SystemExit(f"child.py: unknown option {option}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
