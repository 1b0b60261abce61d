"""The Secret portal backend: org.freedesktop.impl.portal.Secret.RetrieveSecret
at /org/freedesktop/portal/desktop, called the way xdg-desktop-portal calls
it, with a real pipe passed as the fd.  The secret is made on first use
(64 random bytes in an item of the default collection), the same bytes come
back every time, each application has its own, a locked vault is unlocked
first (by `coffer unlock`, or a pinentry that may be cancelled), and bad
input is refused without hurting the agent."""

import os
import select

import dbus
import dbus.types

from harness import BUS_NAME, ERR_INVALID_ARGS, ITEM_IFACE, LOGIN, DBusCallError, main, pump
from prompt_harness import PinentryWorld, PromptTestCase

PORTAL_PATH = '/org/freedesktop/portal/desktop'
PORTAL_IFACE = 'org.freedesktop.impl.portal.Secret'
SCHEMA = 'org.freedesktop.portal.Secret'
HANDLE = '/org/freedesktop/portal/desktop/request/1_42/t'


def read_all(fd, timeout=10.0):
    """Everything written to the pipe until every writer closed it."""
    data = b''
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError('the pipe was not closed by its writer (got %r)' % data)
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk


class PendingCall:
    """One RetrieveSecret in flight: a pipe whose write end went to cofferd."""

    def __init__(self, client, app_id, close_reader=False):
        rfd, wfd = os.pipe()
        self.rfd = rfd
        self.fd = dbus.types.UnixFd(wfd)  # a duplicate travels with the call
        os.close(wfd)
        if close_reader:
            os.close(rfd)
            self.rfd = -1
        self.reply = None
        self.error = None
        client.bus.call_async(BUS_NAME, PORTAL_PATH, PORTAL_IFACE, 'RetrieveSecret', 'osha{sv}',
                              (dbus.ObjectPath(HANDLE), app_id, self.fd, dbus.Dictionary({}, signature='sv')),
                              self._on_reply, self._on_error, timeout=120)

    def _on_reply(self, response, results):
        self.reply = (int(response), dict(results))

    def _on_error(self, error):
        self.error = DBusCallError(error.get_dbus_name(), error.get_dbus_message())

    def done(self):
        return self.reply is not None or self.error is not None

    def finish(self, timeout=30.0):
        """(response, results, bytes read from the pipe)."""
        pump(timeout, until=self.done)
        os.close(self.fd.take())  # our copy of the write end
        if self.error is not None:
            if self.rfd >= 0:
                os.close(self.rfd)
            raise self.error
        if self.reply is None:
            raise AssertionError('RetrieveSecret never answered')
        data = b''
        if self.rfd >= 0:
            data = read_all(self.rfd)
            os.close(self.rfd)
        return self.reply[0], self.reply[1], data


class PortalTestCase(PromptTestCase):

    def retrieve(self, app_id, **kw):
        return PendingCall(self.client, app_id, **kw).finish()

    def app_items(self, app_id):
        unlocked, locked = self.client.search({'app_id': app_id, 'xdg:schema': SCHEMA})
        return unlocked + locked


class PortalTests(PortalTestCase):
    """No pinentry: a locked vault waits for `coffer unlock`."""

    world_options = {'config': {'pinentry': 'none'}}

    def setUp(self):
        if self.locked():
            self.assertEqual(self.world.unlock_vault().returncode, 0)

    def test_first_call_creates_the_secret(self):
        self.assertEqual(self.app_items('org.example.First'), [])
        response, results, data = self.retrieve('org.example.First')
        self.assertEqual(response, 0)
        self.assertEqual(results, {})
        self.assertEqual(len(data), 64)
        self.assertNotEqual(data, bytes(64))
        items = self.app_items('org.example.First')
        self.assertEqual(len(items), 1)
        self.assertTrue(items[0].startswith(LOGIN + '/'), items)
        self.assertEqual(str(self.client.get_prop(items[0], ITEM_IFACE, 'Label')),
                         'Application key for org.example.First')
        secret, _ = self.client.get_secret(items[0], self.new_session())
        self.assertEqual(secret, data)

    def test_same_bytes_every_time(self):
        first = self.retrieve('org.example.Again')[2]
        second = self.retrieve('org.example.Again')[2]
        self.assertEqual(len(first), 64)
        self.assertEqual(first, second)
        self.assertEqual(len(self.app_items('org.example.Again')), 1)

    def test_each_app_has_its_own(self):
        one = self.retrieve('org.example.One')[2]
        two = self.retrieve('org.example.Two')[2]
        self.assertEqual((len(one), len(two)), (64, 64))
        self.assertNotEqual(one, two)

    def test_locked_vault_is_unlocked_first(self):
        known = self.retrieve('org.example.Locked')[2]
        self.lock()
        known_call = PendingCall(self.client, 'org.example.Locked')
        new_call = PendingCall(self.client, 'org.example.NewWhileLocked')
        pump(0.7)
        self.assertFalse(known_call.done() or new_call.done(), 'answered before the vault was unlocked')
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        response, _, data = known_call.finish()
        self.assertEqual((response, data), (0, known))
        response, _, data = new_call.finish()
        self.assertEqual((response, len(data)), (0, 64))
        self.assertEqual(self.retrieve('org.example.NewWhileLocked')[2], data)

    def test_bad_app_ids_are_refused(self):
        for app_id in ('', '.hidden', '../etc', 'with space', 'org.example/x', 'é', 'a' * 256):
            with self.subTest(app_id=app_id):
                with self.assertRaises(DBusCallError) as cm:
                    self.retrieve(app_id)
                self.assertEqual(cm.exception.name, ERR_INVALID_ARGS)
        self.assertEqual(self.app_items(''), [])
        self.assertAlive()
        self.assertEqual(self.retrieve('a' * 255)[0], 0)

    def test_reader_gone_is_a_failure_not_a_crash(self):
        response, _, _ = PendingCall(self.client, 'org.example.NoReader', close_reader=True).finish()
        self.assertEqual(response, 2)
        self.assertAlive()

    def test_version_property(self):
        version = self.client.bus.call_blocking(BUS_NAME, PORTAL_PATH, 'org.freedesktop.DBus.Properties', 'Get',
                                                'ss', (PORTAL_IFACE, 'version'))
        self.assertEqual(int(version), 1)


class PortalPinentryTests(PortalTestCase):
    """With a pinentry: its Cancel answers 1 and writes nothing."""

    world_options = {'password': 'portal password'}

    def setUp(self):
        super().setUp()
        if not self.locked():
            self.lock()

    def test_cancelled_unlock_answers_1(self):
        self.world.answers('cancel')
        response, _, data = self.retrieve('org.example.Cancelled')
        self.assertEqual((response, data), (1, b''))
        self.assertTrue(self.locked())
        self.assertAlive()

    def test_pinentry_unlock_then_secret(self):
        self.world.answers('pin portal password')
        response, _, data = self.retrieve('org.example.Prompted')
        self.assertEqual((response, len(data)), (0, 64))
        self.assertFalse(self.locked())
        self.assertEqual(len(self.world.pinentry_runs()), 1)


if __name__ == '__main__':
    main()
