"""pod sync: copy the pod's new sessions into the local database, then mark them synced on the pod.

    pod sync [--port P] [--db PATH]

For each unsynced session file (``/sessions/*.pod``), oldest first:

1. read it in chunks (device.read_file), appending every chunk to ``partial/NAME.part``
   beside the database, so a transfer cut midway resumes where it stopped next time;
2. check the whole file's SHA-256 computed *on the pod* against the bytes received (a
   mismatch: the partial copy is dropped and the file read again from the start);
3. verify every record's CRC (firmware/sessionlog.parse_records: the pod's own reader);
4. import it into SQLite in one transaction (store.import_session: idempotent, a session
   already there with the same content is "unchanged");
5. only then rename it ``.synced`` on the pod (sessionlog.mark_synced, run on the pod), which
   lets the pod delete it when its flash runs short. A cut between 4 and 5 just means
   the next sync finds the session unchanged and marks it then: nothing lost, nothing twice.

A torn last record (power cut while writing) is normal and imported up to the last good
record. A file damaged elsewhere (bad CRC or magic in the middle, no valid header) is
reported, copied to ``quarantine/`` beside the database, its good records (if any) are
imported, and it is marked synced so the pod can reclaim the space; the other sessions
are imported as usual and the command exits 1. The pod's clock is set from the laptop.
"""

import hashlib
import sys
from pathlib import Path

from . import device, paths, store
from .errors import PodError

_TORN_TAIL = 64  # bytes: larger than any record but a header, so a cut at the end is a torn write


def add_arguments(p):
    p.add_argument("--port", help="serial port of the pod (default: $POD_PORT or the one USB pod)")
    p.add_argument("--db", help="session database (default: sessions.sqlite in the user data dir)")


def work_dirs(db):
    base = Path(db.path).parent
    return base / "partial", base / "quarantine"


def fetch(pod, path, size, part_path, on_bytes=None):
    """The file's bytes, resumed from ``part_path`` and checked by SHA-256 on the pod."""
    part_path.parent.mkdir(parents=True, exist_ok=True)
    have = part_path.read_bytes() if part_path.exists() else b""
    if len(have) > size:
        have = b""  # not the same file any more
    for _attempt in (0, 1):
        if on_bytes and have:
            on_bytes(len(have))
        with open(part_path, "ab" if have else "wb") as part:

            def keep(chunk, part=part):
                part.write(chunk)
                part.flush()
                if on_bytes:
                    on_bytes(len(chunk))

            data = pod.read_file(path, on_chunk=keep, have=have, size=size)
        if pod.sha256(path) == hashlib.sha256(data).hexdigest():
            return data
        have = b""  # the partial copy was of something else: read it all again
        part_path.unlink()
    raise PodError("%s: the copy does not match the file on the pod twice in a row (bad cable?)" % path)


def verdict(data):
    """``(kind, problem)``: kind "ok", "torn" (tail cut by a power cut), "empty" (the power
    was cut while the session's header was being written: there is nothing to lose) or
    "corrupt"."""
    paths.use_firmware()
    import sessionlog

    records, end, problem = sessionlog.parse_records(data)
    if not records and end == 0 and (not data or "truncated" in (problem or "")):
        return "empty", problem or "empty file"
    if not records or records[0]["type"] != "header":
        return "corrupt", problem or "no session header"
    if problem is None:
        return "ok", None
    if len(data) - end <= _TORN_TAIL and "truncated" in problem:
        return "torn", problem
    return "corrupt", problem


def sync_pod(pod, db, show_progress=True, hook=None):
    """Sync every unsynced session of ``pod`` into ``db``; a list of (name, outcome, detail).

    ``hook(name, n_bytes)`` is called after every chunk (tests use it to cut the line).
    """
    partial, quarantine = work_dirs(db)
    sdir = pod.paths["SESSION_DIR"]
    names = sorted((n, size) for n, size, is_dir in pod.listdir(sdir)
                   if not is_dir and n.endswith(".pod") and n.startswith("S"))
    results = []
    if not names:
        return results
    from tqdm import tqdm

    total = sum(size for _, size in names)
    with tqdm(total=total, unit="B", unit_scale=True, desc="syncing", leave=False,
              disable=not (show_progress and sys.stderr.isatty())) as bar:
        for name, size in names:
            path = sdir + "/" + name

            def on_bytes(n, name=name):
                bar.update(n)
                if hook:
                    hook(name, n)

            data = fetch(pod, path, size, partial / (name + ".part"), on_bytes)
            kind, problem = verdict(data)
            detail = ""
            if kind == "corrupt":
                quarantine.mkdir(parents=True, exist_ok=True)
                kept = quarantine / name
                kept.write_bytes(data)
                detail = "%s; kept in %s" % (problem, kept)
            if kind == "empty":
                outcome = "empty"
                detail = "power cut before its header was written; nothing recorded"
            else:
                try:
                    outcome = store.import_session(db, data, file_name=name)
                except store.NotASession:  # a locked database, say, is not this: it stops the sync
                    outcome = "not imported"
            if kind == "corrupt":
                outcome = "corrupt (%s)" % outcome
            elif kind == "torn":
                detail = "last record cut (%s)" % problem
            pod.exec("import sessionlog\nsessionlog.mark_synced(%r)" % path)
            (partial / (name + ".part")).unlink(missing_ok=True)
            results.append((name, outcome, detail))
    return results


def run(args):
    if args.db and not Path(args.db).parent.is_dir():
        # A mistyped --db must not become a stray database the sessions go to (marked synced
        # on the pod, so the right one never gets them): only the default place is made.
        raise PodError("--db %s: the folder %s does not exist" % (args.db, Path(args.db).parent))
    db = store.open_db(args.db)
    for folder in work_dirs(db):
        if folder.exists() and not folder.is_dir():
            raise PodError("%s is a file, where pod sync keeps a folder of its own beside the database: "
                           "move the file away" % folder)
    with device.connect(args.port) as pod:
        pod.set_clock()
        results = sync_pod(pod, db)
    if not results:
        print("nothing new on the pod; database %s" % db.path)
        return 0
    for name, outcome, detail in results:
        print("%-22s %s%s" % (name, outcome, ("  " + detail) if detail else ""))
    counts = {}
    for _, outcome, _ in results:
        key = outcome.split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
    print("synced %d session(s) from the pod: %s; database %s"
          % (len(results), ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())), db.path))
    if counts.get("corrupt"):
        print("pod: %d damaged session file(s) kept aside (see above)" % counts["corrupt"], file=sys.stderr)
        return 1
    return 0
