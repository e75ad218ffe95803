"""``pod``: the laptop's one command. Subcommands live in a table, each in its own module.

A user's situation (bad file, no pod, unknown session) raises PodError, printed as
``pod: message`` with exit status 1. So are the operating system's refusals (a folder where
a file belongs, a read-only disk: OSError names the path) and a damaged session database.
Anything else is a bug and keeps its traceback.
"""
import argparse
import importlib
import sqlite3
import sys

from . import __version__
from .errors import PodError

# name -> (module, one-line help). Each module has ``add_arguments(parser)`` and ``run(args)``.
COMMANDS = {
    "simulate": ("podtools.simulate", "synthesize a shoe-mounted IMU recording with ground truth"),
    "replay": ("podtools.replay", "run a recording through the pod's own gait engine"),
    "evaluate": ("podtools.evaluate", "replay recordings and score them against their ground truth"),
    "demo": ("podtools.demo", "the newcomer's journey, without hardware"),
    "vpod": ("podtools.vpod_cmd", "start a virtual pod (firmware + simulated hardware) on a serial port"),
    "flash": ("podtools.flash", "install the firmware and a board config on a pod, verified on the pod"),
    "sync": ("podtools.sync", "import the pod's new sessions into the local database"),
    "sessions": ("podtools.sessions_cmd", "list the synced sessions"),
    "review": ("podtools.review", "a session's summary and offline HTML report"),
    "export": ("podtools.export", "a session as CSV or a FIT activity"),
    "config": ("podtools.config_cmd", "read or change the pod's settings"),
    "capture": ("podtools.capture", "record raw IMU on the pod and download it as pod-imu CSV"),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="pod", description="Running-form pod: laptop tools.")
    parser.add_argument("--version", action="version", version="pod (podtools) %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (modname, help_text) in COMMANDS.items():
        module = importlib.import_module(modname)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip().split("\n")[0])
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv=None):
    try:
        parser = build_parser()  # imports every command's module (numpy, ...): Ctrl-C may land here
        args = parser.parse_args(argv)
        return args._module.run(args) or 0
    except PodError as e:
        print("pod: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pod: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a file or folder the user named cannot be made, read or written
        print("pod: %s" % (("%s: %s" % (e.filename, e.strerror)) if e.filename and e.strerror else e),
              file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as e:  # a damaged session database (open_db vets the rest), a full disk
        print("pod: the session database cannot be read or written (%s)" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
