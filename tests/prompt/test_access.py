"""Per-application access control (access=ask; agent/access/): the caller is
identified from the bus (pid -> /proc/<pid>/exe -> SHA-256), items remember
their creator, and another application reading one is asked through the
scripted pinentry's CONFIRM: OK = allow once, NOTOK = always allow, Cancel =
deny.  The applications are copies of one small client (access-client.c)
at different paths, so they differ by path and hash; rewriting a copy makes
it a changed program."""

import os
import shutil
import subprocess
import time

import dbus
import dbus.types

from harness import (COLLECTION_IFACE, ERR_NO_SUCH_OBJECT, ITEM_IFACE, LOGIN, SERVICE_IFACE, SS_PATH, DBusCallError,
                     main)
from prompt_harness import PromptTestCase
from test_portal import PendingCall

CLIENT = os.environ['COFFER_TEST_ACCESS_CLIENT']
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
EXIT_DENIED = 3
# "coffer-access" padded with zeros: the internal collection's record id.
INTERNAL = SS_PATH + '/collection/' + b'coffer-access'.ljust(16, b'\0').hex()


class AccessWorldMixin:
    """Copies of the client in the world: each is an application."""

    def app(self, name):
        path = os.path.join(self.world.root, 'apps', name)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy(CLIENT, path)
        return path

    def run_app(self, name, *args):
        result = self.world.run([self.app(name)] + list(args), timeout=120)
        return result.returncode, result.stdout.strip().split('\n') if result.stdout.strip() else [], result.stderr

    def store(self, name, label, value, secret):
        code, out, err = self.run_app(name, 'store', label, value, secret)
        self.assertEqual(code, 0, err)
        return out[0]

    def read(self, name, value):
        code, out, err = self.run_app(name, 'read', value)
        return code, (out[0] if out else None)

    def confirms(self):
        """The CONFIRM questions asked since answers(): their SETDESC texts."""
        descs, last = [], None
        for line in self.world.commands():
            if line.startswith('SETDESC '):
                last = line[len('SETDESC '):]
            elif line == 'CONFIRM':
                descs.append(last)
        return descs


class AccessTests(AccessWorldMixin, PromptTestCase):

    world_options = {'config': {'access': 'ask'}}

    def setUp(self):
        super().setUp()
        if self.locked():
            self.assertEqual(self.world.unlock_vault().returncode, 0)

    def test_same_app_reads_its_own_without_a_question(self):
        value = self.unique()
        self.store('writer', 'Own item', value, 'own-secret')
        self.assertEqual(self.read('writer', value), (0, 'own-secret'))
        self.assertEqual(self.confirms(), [])

    def test_allow_once(self):
        value = self.unique()
        self.store('writer', 'Mail password', value, 's3cret')
        self.world.answers('ok')
        self.assertEqual(self.read('reader', value), (0, 's3cret'))
        descs = self.confirms()
        self.assertEqual(len(descs), 1, self.world.commands())
        self.assertIn('Allow reader (', descs[0])
        self.assertIn('Mail password', descs[0])
        self.assertIn('It was stored by writer (', descs[0])
        self.assertIn('SETOK Allow once', self.world.commands())
        self.assertIn('SETNOTOK Always allow', self.world.commands())
        self.assertIn('SETCANCEL Deny', self.world.commands())
        # once: the next run is asked again
        self.world.answers('cancel')
        self.assertEqual(self.read('reader', value)[0], EXIT_DENIED)
        self.assertEqual(len(self.confirms()), 1)

    def test_deny(self):
        value = self.unique()
        self.store('writer', 'Denied item', value, 'nope')
        self.world.answers('cancel')
        code, out = self.read('reader', value)
        self.assertEqual((code, out), (EXIT_DENIED, None))
        self.assertEqual(len(self.confirms()), 1)

    def test_always_then_revoke(self):
        value = self.unique()
        item = self.store('writer', 'Always item', value, 'kept')
        self.world.answers('notok')
        self.assertEqual(self.read('always-reader', value), (0, 'kept'))
        self.world.answers()  # no answer left: a question would be cancelled
        self.assertEqual(self.read('always-reader', value), (0, 'kept'))
        self.assertEqual(self.confirms(), [])
        listing = self.world.coffer('access', 'list').stdout
        reader = self.app('always-reader')
        self.assertIn(reader, listing)
        self.assertIn(item.rsplit('/', 1)[1], listing)
        self.assertIn('"Always item"', listing)
        revoked = self.world.coffer('access', 'revoke', reader)
        self.assertIn('revoked 1 decision', revoked.stdout)
        self.assertNotIn(reader, self.world.coffer('access', 'list').stdout)
        self.world.answers('cancel')
        self.assertEqual(self.read('always-reader', value)[0], EXIT_DENIED)
        self.assertEqual(len(self.confirms()), 1)
        # nothing left to revoke
        self.assertEqual(self.world.coffer('access', 'revoke', reader, check=False).returncode, 1)

    def test_revoke_one_item(self):
        one, two = self.unique('one'), self.unique('two')
        item_one = self.store('writer', 'One', one, '1')
        self.store('writer', 'Two', two, '2')
        self.world.answers('notok', 'notok')
        self.assertEqual(self.read('picky', one), (0, '1'))
        self.assertEqual(self.read('picky', two), (0, '2'))
        self.world.coffer('access', 'revoke', self.app('picky'), item_one)
        self.world.answers('cancel')
        self.assertEqual(self.read('picky', two), (0, '2'))
        self.assertEqual(self.read('picky', one)[0], EXIT_DENIED)
        self.assertEqual(len(self.confirms()), 1)

    def test_open_question_holds_up_nobody_else(self):
        """While one application's question is open, reads that need no
        question are served, and the agent keeps answering."""
        value = self.unique()
        self.store('writer', 'Busy', value, 'b')
        release = os.path.join(self.world.root, 'release-' + value)
        self.world.answers('when %s cancel' % release)
        waiting = subprocess.Popen([self.app('patient'), 'read', value], env=self.world.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertTrue(self.world.wait_for_command('CONFIRM'), self.world.commands())
            started = time.monotonic()
            self.assertEqual(self.read('writer', value), (0, 'b'))
            self.assertLess(time.monotonic() - started, 5)
            self.assertIsNone(waiting.poll())
        finally:
            open(release, 'w').close()
            waiting.communicate(timeout=30)
        self.assertEqual(waiting.returncode, EXIT_DENIED)

    def test_changed_executable_asks_again(self):
        value = self.unique()
        self.store('writer', 'Changing', value, 'v1')
        self.world.answers('notok')
        self.assertEqual(self.read('changing', value), (0, 'v1'))
        with open(self.app('changing'), 'ab') as f:
            f.write(b'\0another build\0')
        self.world.answers('cancel')
        self.assertEqual(self.read('changing', value)[0], EXIT_DENIED)
        self.assertEqual(len(self.confirms()), 1)

    def test_creator_changed_is_said(self):
        value = self.unique()
        self.store('rebuilt', 'Rebuilt', value, 'x')
        with open(self.app('rebuilt'), 'ab') as f:
            f.write(b'\0patched\0')
        self.world.answers('ok')
        self.assertEqual(self.read('rebuilt', value), (0, 'x'))
        self.assertIn('The program has changed since it stored this secret', self.confirms()[0])

    def test_get_secrets_asks_once_for_all(self):
        a, b = self.unique('a'), self.unique('b')
        self.store('writer', 'First', a, 'A')
        self.store('writer', 'Second', b, 'B')
        self.world.answers('ok')
        code, out, err = self.run_app('bulk', 'read-all', a, b)
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(out), ['A', 'B'])
        descs = self.confirms()
        self.assertEqual(len(descs), 1)
        self.assertIn('2 secrets', descs[0])
        self.world.answers('cancel')
        self.assertEqual(self.run_app('bulk', 'read-all', a, b)[0], EXIT_DENIED)

    def test_interpreter_named_as_such(self):
        """This test runs in python3: reading over its own connection names
        the interpreter, not a script."""
        value = self.unique()
        self.store('writer', 'For python', value, 'py')
        item = self.client.search({'test-key': value})[0][0]
        self.world.answers('cancel')
        with self.assertRaises(DBusCallError) as ctx:
            self.client.get_secret(item, self.new_session())
        self.assertEqual(ctx.exception.name, ACCESS_DENIED)
        self.assertIn('an interpreter: any script it runs', self.confirms()[0])
        # a denial holds while the caller stays on the bus: no second question
        with self.assertRaises(DBusCallError):
            self.client.get_secret(item, self.new_session())
        self.assertEqual(len(self.confirms()), 1)

    def test_portal_frontend_is_served_and_its_item_belongs_to_the_app(self):
        """The owner of org.freedesktop.portal.Desktop may call; the item made
        for the app records the app as its creator."""
        frontend = self.world.connect()
        frontend.bus.request_name('org.freedesktop.portal.Desktop')
        response, _, data = PendingCall(frontend, 'org.example.Sandboxed').finish()
        self.assertEqual((response, len(data)), (0, 64))
        item = self.client.search({'app_id': 'org.example.Sandboxed'})[0][0]
        value = self.unique()
        self.client.set_prop(item, ITEM_IFACE, 'Attributes',
                             dbus.Dictionary({'app_id': 'org.example.Sandboxed', 'test-key': value}, signature='ss'))
        self.world.answers('cancel')
        self.assertEqual(self.read('snooper', value)[0], EXIT_DENIED)
        self.assertIn('It was stored by org.example.Sandboxed (Flatpak)', self.confirms()[0])

    def test_internal_collection_is_invisible(self):
        value = self.unique()
        self.store('writer', 'Hidden test', value, 'h')
        self.world.answers('notok')
        with self.client.signals() as sigs:
            self.assertEqual(self.read('hider', value), (0, 'h'))  # stores a decision
            self.world.coffer('access', 'revoke', self.app('hider'))  # deletes it
            sigs.wait_for(path=LOGIN, member='NoSuchSignal', timeout=0.5)
        self.assertEqual([sig for sig in sigs.received if INTERNAL in sig[2] or INTERNAL in repr(sig[3])], [])
        self.world.answers('notok')
        self.assertEqual(self.read('hider', value), (0, 'h'))
        collections = [str(p) for p in self.client.get_prop(SS_PATH, SERVICE_IFACE, 'Collections')]
        self.assertNotIn(INTERNAL, collections)
        self.assertEqual(sorted(collections), sorted([LOGIN, SS_PATH + '/collection/session']))
        unlocked, locked = self.client.search({})
        self.assertFalse([p for p in unlocked + locked if p.startswith(INTERNAL)], unlocked)
        self.assertEqual(len(self.client.search({'app': 'x'})[0]), 0)
        with self.assertRaises(DBusCallError) as ctx:
            self.client.get_prop(INTERNAL, COLLECTION_IFACE, 'Items')
        self.assertEqual(ctx.exception.name, ERR_NO_SUCH_OBJECT)
        with self.assertRaises(DBusCallError) as ctx:
            self.client.call(INTERNAL, COLLECTION_IFACE, 'SearchItems', 'a{ss}', {})
        self.assertEqual(ctx.exception.name, ERR_NO_SUCH_OBJECT)
        self.assertEqual(str(self.client.service('ReadAlias', 's', 'default')), LOGIN)
        # `coffer status` counts the user's collections and items only.
        status = self.world.coffer('status').stdout
        self.assertIn('collections: 1\n', status)
        login_items = len(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Items'))
        self.assertIn('items: %d\n' % login_items, status)

    def test_decisions_survive_a_restart(self):
        value = self.unique()
        self.store('writer', 'Persistent', value, 'p')
        self.world.answers('notok')
        self.assertEqual(self.read('persistent', value), (0, 'p'))
        self.world.restart_daemon()
        self.world.wait_for_control_socket()
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        self.__class__.client = self.world.connect()
        self.world.answers()
        self.assertEqual(self.read('persistent', value), (0, 'p'))
        self.assertEqual(self.read('writer', value), (0, 'p'))  # the creator, also after a restart
        self.assertEqual(self.confirms(), [])

    def test_portal_refuses_other_callers(self):
        rfd, wfd = os.pipe()
        try:
            with self.assertRaises(DBusCallError) as ctx:
                self.client.call('/org/freedesktop/portal/desktop', 'org.freedesktop.impl.portal.Secret',
                                 'RetrieveSecret', 'osha{sv}',
                                 dbus.ObjectPath('/org/freedesktop/portal/desktop/request/1_1/t'),
                                 'org.example.Victim', dbus.types.UnixFd(wfd), dbus.Dictionary({}, signature='sv'))
            self.assertEqual(ctx.exception.name, ACCESS_DENIED)
        finally:
            os.close(rfd)
            os.close(wfd)
        self.assertEqual(self.client.search({'app_id': 'org.example.Victim'}), ([], []))

    def test_locked_item_is_not_asked_about(self):
        value = self.unique()
        self.store('writer', 'Locked one', value, 'l')
        self.lock()
        code, _, err = self.run_app('late', 'read', value)
        # found (locked), and reading it says IsLocked without a question
        self.assertEqual(code, 4, err)
        self.assertEqual(self.confirms(), [])


class AccessOffTests(AccessWorldMixin, PromptTestCase):
    """The default: the Secret Service as specified, nobody asked."""

    def test_never_asks(self):
        value = self.unique()
        self.store('writer', 'Open', value, 'open')
        self.world.answers('cancel')
        self.assertEqual(self.read('reader', value), (0, 'open'))
        self.assertEqual(self.confirms(), [])
        self.assertEqual(self.world.coffer('access', 'list').stdout.strip().split('\n')[0][:15], '(no decisions: ')

    def test_items_remember_their_creator_all_the_same(self):
        """Turning access=ask on later: an item made while it was off belongs
        to its creator, which is not asked."""
        value = self.unique()
        self.store('early', 'Early', value, 'e')
        self.world.write_config({'pinentry': self.world.config['pinentry'], 'access': 'ask'})
        self.world.restart_daemon()
        self.world.wait_for_control_socket()
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        self.__class__.client = self.world.connect()
        try:
            self.world.answers('cancel')
            self.assertEqual(self.read('early', value), (0, 'e'))
            self.assertEqual(self.read('other', value)[0], EXIT_DENIED)
            self.assertEqual(len(self.confirms()), 1)
        finally:
            self.world.write_config(self.world.config)
            self.world.restart_daemon()
            self.world.wait_for_control_socket()
            self.world.unlock_vault()
            self.__class__.client = self.world.connect()


if __name__ == '__main__':
    main()
