"""Helpers for the sync engine tests: agents (each a harness.World with its
own bus, HOME, store and device id), a shared Apache WebDAV fixture, and
snapshots of what each agent holds, compared over D-Bus.

    with SyncCase.apache() as dav:
        a = Agent('a').start(); a.remote_set(dav.url, dav)
        b = Agent('b', init=False).start(); b.join(dav.url, dav)
"""

import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import LOGIN, ITEM_IFACE, COLLECTION_IFACE
from apache import ApacheDav, available as apache_available
from faultproxy import FaultProxy, _serialise

ACCOUNT = 'account password for the vault'
POLL = int(os.environ.get('COFFER_TEST_SYNC_POLL', '1'))


class RecordingProxy(FaultProxy):
    """The fault proxy without faults, logging each forwarded request as
    (method, target, status, bytes sent by the client, bytes it received):
    HTTP bytes on the wire between agent and proxy, headers included."""

    def __init__(self, upstream_port, **kw):
        super().__init__(upstream_port, **kw)
        self.log = []

    def _forward(self, method, target, headers, body):
        status_line, rheaders, rbody = super()._forward(method, target, headers, body)
        sent = len(_serialise('%s %s HTTP/1.1' % (method, target), headers)) + 2 + len(body)
        received = len(_serialise(status_line, rheaders)) + 2 + len(rbody)
        with self._lock:
            self.log.append((method, target, int(status_line.split(' ')[1]), sent, received))
        return status_line, rheaders, rbody

    def totals(self):
        with self._lock:
            return (len(self.log), sum(e[3] for e in self.log), sum(e[4] for e in self.log))


class Agent(harness.World):
    """A cofferd with a config file that polls often."""

    def __init__(self, name, init=True, poll=POLL, cleanup_days=None, password=None):
        super().__init__(password=password or (harness.PASSWORD + ' ' + name))
        self.name = name
        self.init = init
        self.poll = poll
        self.cleanup_days = cleanup_days
        self._client = None
        self._session = None

    def start(self):
        if self.init:
            return super().start()
        self.root = tempfile.mkdtemp(prefix='coffer-sync-')
        try:
            self._make_tree()
            self._start_bus()
            self.start_daemon()
        except BaseException:
            self.stop()
            raise
        return self

    def start_daemon(self):
        super().start_daemon()
        # the control socket comes right after the bus name
        sock = os.path.join(self.env['XDG_RUNTIME_DIR'], 'coffer', 'control')
        deadline = time.monotonic() + harness.START_TIMEOUT
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _make_tree(self):
        super()._make_tree()
        conf = os.path.join(self.env['XDG_CONFIG_HOME'], 'coffer')
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, 'coffer.conf'), 'w') as f:
            f.write('[agent]\npinentry=none\n[sync]\npoll_interval=%d\n' % self.poll)
            if self.cleanup_days is not None:
                f.write('cleanup_max_age_days=%d\ncleanup_keep=0\n' % self.cleanup_days)

    # -- sync verbs ------------------------------------------------------------
    def remote_set(self, url, dav=None, check=True):
        if dav is not None:
            return self.coffer('remote', 'set', url, '--user', dav.user, '--password-stdin',
                               input='%s\n%s\n' % (dav.password, ACCOUNT), check=check)
        return self.coffer('remote', 'set', url, '--password-stdin', input=ACCOUNT + '\n', check=check)

    def join(self, url, dav=None, check=True, account=ACCOUNT):
        lines = ([dav.password] if dav else []) + [account, self.password]
        args = ['join', url] + (['--user', dav.user] if dav else []) + ['--password-stdin']
        return self.coffer(*args, input='\n'.join(lines) + '\n', check=check)

    def sync(self, check=True):
        return self.coffer('sync', check=check)

    def status(self):
        out = self.coffer('status').stdout
        fields = {}
        for line in out.splitlines():
            key, _, value = line.partition(': ')
            fields[key] = value
        return fields

    # -- D-Bus view --------------------------------------------------------------
    @property
    def client(self):
        if self._client is None or self._client not in self._clients:
            self._client = self.connect()
            self._session = self._client.open_session(harness.ALGO_PLAIN)
        return self._client

    @property
    def session(self):
        self.client
        return self._session

    def create(self, label, attrs, secret, collection=LOGIN):
        path = self.client.create_item(collection, self.session, label, attrs, secret)
        return path.rsplit('/', 1)[1]

    def item_path(self, item_id):
        return LOGIN + '/' + item_id

    def set_secret(self, item_id, secret):
        self.client.set_secret(self.item_path(item_id), self.session, secret.encode())

    def set_label(self, item_id, label):
        self.client.set_prop(self.item_path(item_id), ITEM_IFACE, 'Label', label)

    def delete(self, item_id):
        self.client.delete(self.item_path(item_id))

    def snapshot(self):
        """{item id: (label, attributes, secret)} of the login collection."""
        c = self.client
        out = {}
        for path in c.collection_items(LOGIN):
            label = str(c.get_prop(path, ITEM_IFACE, 'Label'))
            attrs = {str(k): str(v) for k, v in c.get_prop(path, ITEM_IFACE, 'Attributes').items()
                     if not str(k).startswith('xdg:')}
            secret, _ = c.get_secret(path, self.session)
            out[path.rsplit('/', 1)[1]] = (label, attrs, bytes(secret))
        return out

    def history(self, item_id):
        return self.coffer('history', item_id).stdout


class SyncCase(unittest.TestCase):
    """Starts agents and Apache per test and stops them, logs on failure."""

    def setUp(self):
        self.agents = []
        self.dav = None
        self.folders = []

    def tearDown(self):
        failed = any(e for _, e in getattr(self._outcome, 'errors', []) if e) if hasattr(self, '_outcome') else False
        for a in self.agents:
            try:
                if failed or os.environ.get('COFFER_TEST_VERBOSE'):
                    print('\n--- log of agent %s ---\n%s' % (a.name, a.daemon_log()))
                a.stop()
            except AssertionError as e:  # a sanitizer report or crash at exit fails the test
                self.fail(str(e))
        if self.dav is not None:
            self.dav.stop()
            self.dav.cleanup()
        for d in self.folders:
            shutil.rmtree(d, ignore_errors=True)

    def start_dav(self):
        if not apache_available():
            self.skipTest('Apache httpd with mod_dav is not installed')
        self.dav = ApacheDav()
        self.dav.start()
        return self.dav

    def folder(self):
        d = tempfile.mkdtemp(prefix='coffer-share-')
        self.folders.append(d)
        return d

    def agent(self, name, **kw):
        a = Agent(name, **kw)
        self.agents.append(a)
        return a.start()

    def first_and_joined(self, url, dav, n=2, **kw):
        """Agent 0 sets the remote; the others join it."""
        first = self.agent('a', **kw)
        first.remote_set(url, dav)
        rest = []
        for i in range(1, n):
            b = self.agent('abcdefgh'[i], init=False, **kw)
            b.join(url, dav)
            rest.append(b)
        return [first] + rest

    def sync_all(self, agents, rounds=2):
        """Every agent syncs, `rounds` times in turn: enough for any change
        made before to reach everyone."""
        for _ in range(rounds):
            for a in agents:
                a.sync()

    def assertConverged(self, agents):
        snaps = [a.snapshot() for a in agents]
        for a, s in zip(agents[1:], snaps[1:]):
            self.assertEqual(snaps[0], s, 'agent %s differs from agent %s' % (a.name, agents[0].name))
        return snaps[0]

    def wait_until(self, predicate, timeout=15.0, message='condition'):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            harness.pump(0.1)
        self.fail('timed out waiting for ' + message)
