"""pytest set-up: the firmware's pure-logic modules import from firmware/ as on the pod."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("firmware", os.path.join("tests", "firmware")):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _virtual_pod_diagnosis(request, monkeypatch):
    """Every virtual pod a test ran says how it ended (VirtualPod.diagnosis) when the test fails."""
    from podtools.vpod import pod as vpod_pod

    notes = request.node.virtual_pod_notes = []
    stop = vpod_pod.VirtualPod.stop

    def stop_and_note(self):
        if self._master is not None:
            notes.append(self.diagnosis())
        stop(self)

    monkeypatch.setattr(vpod_pod.VirtualPod, "stop", stop_and_note)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.failed:
        for k, note in enumerate(getattr(item, "virtual_pod_notes", ())):
            report.sections.append(("virtual pod %d" % (k + 1), note))
