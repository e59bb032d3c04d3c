"""pytest plugin that runs the OASIS STIX Patterning suites against an external engine.

Loaded by run.sh as `-p detente_peer`. Before the suites' modules are imported it swaps the
reference functions the tests call for proxies that ask the engine:

    stix2matcher.matcher.match                 -> ENGINE_CMD match-batch
    stix2patterns.validator.validate           -> ENGINE_CMD validate-batch
    stix2patterns.validator.run_validator      -> ENGINE_CMD validate-batch

The engine is one long-lived process per subcommand: one JSON object per line in, one per
line out, in order, flushed per line (protocol in README.md). The proxies keep the reference's
signatures, defaults (match: STIX 2.0, validate: 2.1), return shapes and exceptions: an engine
error of kind "parse" raises the reference's ParseException, kind "match" its
MatcherException, and anything else fails the test.

Validator messages are not compared (only validity): tests that check a message prefix get a
string that accepts any prefix. The tests listed in SKIPPED exercise private helpers of the
Python reference rather than the engine; they are skipped with their reason, and the summary
counts them.

Environment: ENGINE_CMD (required; shell-split, the subcommand is appended), PEER_TIMEOUT
(seconds per call, default 60), PEER_ENGINE_STDERR (file for the engine's stderr, default
engine-stderr.log in the working directory).
"""
import copy
import json
import os
import queue
import shlex
import subprocess
import threading

import pytest

ENGINE_CMD = os.environ.get("ENGINE_CMD", "")
TIMEOUT = float(os.environ.get("PEER_TIMEOUT", "60"))
STDERR_PATH = os.environ.get("PEER_ENGINE_STDERR", "engine-stderr.log")

# (file name, test function or "*") -> why it does not go to the engine.
SKIPPED = {
    ("test_temporal_qualifiers.py", "test_overlap"):
        "tests the reference's private interval-overlap helper",
    ("test_temporal_qualifiers.py", "test_intervals_within_match"):
        "tests the reference's private WITHIN interval helper",
    ("test_temporal_qualifiers.py", "test_intervals_within_nomatch"):
        "tests the reference's private WITHIN interval helper",
    ("test_inspector.py", "*"):
        "tests stix2patterns' Pattern.inspect() introspection API, not validation",
    ("test_helpers.py", "*"):
        "tests stix2patterns' brackets_check() helper, not validation",
}


class ProtocolError(Exception):
    """The engine crashed, timed out or answered out of protocol."""


class Engine:
    """One `ENGINE_CMD SUB` process, restarted if it exits."""

    def __init__(self, argv, stderr):
        self.argv, self.stderr = argv, stderr
        self.proc = None
        self.lines = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, encoding="utf-8", bufsize=1)
        self.lines = queue.Queue()
        proc, lines = self.proc, self.lines

        def pump():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def ask(self, line):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self.lines.get(timeout=TIMEOUT)
        except (OSError, queue.Empty) as e:
            self.stop(kill=True)
            raise ProtocolError("engine %s: no answer (%s)" % (self.argv[-1], e or "timeout"))
        if answer is None:
            code = self.proc.wait()
            self.proc = None
            raise ProtocolError("engine %s exited with %s without answering" % (self.argv[-1], code))
        return answer

    def stop(self, kill=False):
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Peer:
    """The engines, the exceptions to raise and the call statistics."""

    def __init__(self):
        self.argv = shlex.split(ENGINE_CMD)
        self.stderr = open(STDERR_PATH, "a")
        self.engines = {}
        self.next_id = 0
        self.calls = 0
        self.tests_calling = set()
        self.current = None
        self.parse_error = self.match_error = None

    def call(self, sub, request):
        self.next_id += 1
        request = dict(request, id=self.next_id)
        engine = self.engines.get(sub)
        if engine is None:
            engine = self.engines[sub] = Engine(self.argv + [sub], self.stderr)
        self.calls += 1
        if self.current:
            self.tests_calling.add(self.current)
        raw = engine.ask(json.dumps(request, ensure_ascii=True, allow_nan=False))
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ProtocolError("engine %s wrote non-JSON: %r" % (sub, raw[:200]))
        if not isinstance(answer, dict) or answer.get("id", request["id"]) != request["id"]:
            raise ProtocolError("engine %s: answer %r does not belong to request %d"
                                % (sub, raw[:200], request["id"]))
        if "error" in answer:
            kind = answer.get("kind")
            if kind == "parse":
                raise self.parse_error(str(answer["error"]))
            if kind == "match":
                raise self.match_error(str(answer["error"]))
            raise ProtocolError("engine %s: error without a valid kind: %r" % (sub, raw[:200]))
        return answer

    def close(self):
        for engine in self.engines.values():
            engine.stop()
        self.stderr.close()


PEER = None


class AnyPrefix(str):
    """A validator message that satisfies any `startswith` check: messages are not compared."""

    def startswith(self, *_args, **_kwargs):
        return True


def observations(observed, stix_version):
    """The observations `match` binds to, indexed as the engine's `observations` are.

    STIX 2.0: the observed-data SDOs as given. STIX 2.1: the bundles merged as the reference
    merges them (deepmerge's always_merger), then one bundle per observed-data object holding
    it and the objects its `object_refs` name, in order of appearance.
    """
    if stix_version != "2.1":
        return list(observed)
    from deepmerge import always_merger

    merged = {}
    for bundle in observed:
        merged = always_merger.merge(merged, copy.deepcopy(bundle))
    objects = merged.get("objects", [])
    by_id = {o.get("id"): o for o in objects if o.get("type") != "observed-data"}
    out = []
    for od in objects:
        if od.get("type") == "observed-data":
            refs = [by_id[r] for r in od.get("object_refs", []) if r in by_id]
            out.append(dict(merged, objects=[od] + refs))
    return out


def match(pattern, observed_data_sdos, verbose=False, stix_version="2.0"):
    """Proxy for stix2matcher.matcher.match: the SDOs of the engine's first binding, or []."""
    answer = PEER.call("match-batch", {"pattern": pattern, "observed": observed_data_sdos,
                                       "stix_version": stix_version})
    if not isinstance(answer.get("matched"), bool):
        raise ProtocolError("match-batch answer lacks a boolean 'matched': %r" % answer)
    if not answer["matched"]:
        return []
    indices = answer.get("observations")
    if not isinstance(indices, list):
        raise ProtocolError("a match without 'observations': %r" % answer)
    pool = observations(observed_data_sdos, stix_version)
    if not all(isinstance(i, int) and 0 <= i < len(pool) for i in indices):
        raise ProtocolError("observation index out of range: %r" % indices)
    return [pool[i] for i in sorted(set(indices))]


def _errors(pattern, stix_version):
    answer = PEER.call("validate-batch", {"pattern": pattern, "stix_version": stix_version})
    if not isinstance(answer.get("valid"), bool):
        raise ProtocolError("validate-batch answer lacks a boolean 'valid': %r" % answer)
    if answer["valid"]:
        return []
    return [AnyPrefix(e) for e in (answer.get("errors") or ["FAIL: invalid pattern"])]


def run_validator(pattern, stix_version="2.1"):
    """Proxy for stix2patterns.validator.run_validator: the list of errors."""
    return _errors(pattern, stix_version)


def validate(user_input, stix_version="2.1", ret_errs=False, print_errs=False):
    """Proxy for stix2patterns.validator.validate."""
    errors = _errors(user_input, stix_version)
    if print_errs:
        print("\n".join(errors))
    return (not errors, errors) if ret_errs else not errors


PROXIES = {"match": match, "validate": validate, "run_validator": run_validator}
REFERENCES = {}


def pytest_configure(config):
    global PEER
    if not ENGINE_CMD:
        raise pytest.UsageError("detente_peer: set ENGINE_CMD")
    import stix2matcher.matcher as matcher
    import stix2patterns.validator as validator
    from stix2patterns.pattern import ParseException

    REFERENCES.update(match=matcher.match, validate=validator.validate,
                      run_validator=validator.run_validator)
    matcher.match = match
    validator.validate = validate
    validator.run_validator = run_validator
    PEER = Peer()
    PEER.parse_error, PEER.match_error = ParseException, matcher.MatcherException


def pytest_unconfigure(config):
    if PEER is not None:
        PEER.close()


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        module = getattr(item, "module", None)
        # A test module that imported a reference function by name still holds the original.
        for name, proxy in PROXIES.items():
            if module is not None and getattr(module, name, None) is REFERENCES[name]:
                setattr(module, name, proxy)
        file = os.path.basename(str(item.fspath))
        test = getattr(item, "originalname", None) or item.name.split("[")[0]
        reason = SKIPPED.get((file, test)) or SKIPPED.get((file, "*"))
        if reason:
            item.add_marker(pytest.mark.skip(reason="not an engine test: " + reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    PEER.current = item.nodeid
    yield
    PEER.current = None


def silent_passes(terminalreporter):
    """Passing tests that never asked the engine: a proxy that was not installed."""
    passed = [r.nodeid for r in terminalreporter.stats.get("passed", []) if r.when == "call"]
    return [n for n in passed if n not in PEER.tests_calling]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reasons = {}
    for r in terminalreporter.stats.get("skipped", []):
        reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else str(r.longrepr)
        reasons[reason] = reasons.get(reason, 0) + 1
    terminalreporter.write_sep("-", "detente pattern peer")
    terminalreporter.write_line("engine: %s; %d calls" % (ENGINE_CMD, PEER.calls))
    for reason, n in sorted(reasons.items()):
        terminalreporter.write_line("skipped %d: %s" % (n, reason))
    silent = silent_passes(terminalreporter)
    if silent:
        terminalreporter.write_line("ERROR: %d passing tests never asked the engine, e.g. %s"
                                    % (len(silent), silent[0]))
