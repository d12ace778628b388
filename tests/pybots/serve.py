"""Serves app.py on 127.0.0.1 the way students run their bots.

    python3 tests/pybots/serve.py --server flask --port 5000
    python3 tests/pybots/serve.py --server gunicorn --port 5000 --keep-alive 1

flask: Werkzeug's threaded development server (`flask run`).
gunicorn: one gthread worker with 4 threads, which keeps connections alive
for --keep-alive seconds, then closes them.

It exits when its parent dies, and when its stdin is a pipe that closes, so a
test that is killed leaves nothing behind.
"""

import argparse
import ctypes
import os
import signal
import stat
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import app  # noqa: E402


def die_with_parent(sig=signal.SIGTERM):
    """Linux: get `sig` when the parent exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def exit_when_stdin_closes(on_close):
    """If stdin is a pipe or socket, call on_close once it reaches EOF. A
    terminal or /dev/null is left alone, so it also runs by hand."""
    mode = os.fstat(0).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return

    def watch():
        while os.read(0, 4096):
            pass
        on_close()

    threading.Thread(target=watch, daemon=True).start()


def serve_flask(port):
    exit_when_stdin_closes(lambda: os._exit(0))
    app.run(host="127.0.0.1", port=port, threaded=True, debug=False, use_reloader=False)


def serve_gunicorn(port, keep_alive):
    from gunicorn.app.base import BaseApplication

    def post_fork(_server, _worker):
        # The worker dies with the master, not a second later.
        die_with_parent(signal.SIGKILL)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"127.0.0.1:{port}",
                "worker_class": "gthread",
                "workers": 1,
                "threads": 4,
                "keepalive": keep_alive,
                "graceful_timeout": 2,
                "loglevel": "warning",
                "post_fork": post_fork,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    def stop():
        # SIGINT: the arbiter's quick shutdown; exit anyway if it hangs.
        os.kill(os.getpid(), signal.SIGINT)
        backstop = threading.Timer(5, lambda: os._exit(0))
        backstop.daemon = True
        backstop.start()

    exit_when_stdin_closes(stop)
    Server().run()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["flask", "gunicorn"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keep-alive", type=int, default=2,
                        help="gunicorn's keep-alive in seconds (default 2, gunicorn's own)")
    args = parser.parse_args()
    die_with_parent()
    if args.server == "flask":
        serve_flask(args.port)
    else:
        serve_gunicorn(args.port, args.keep_alive)


if __name__ == "__main__":
    main()
