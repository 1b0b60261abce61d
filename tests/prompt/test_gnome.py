"""gnome-keyring's org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface,
as Seahorse and scripts use it: unlock, change and create with a master
password, and ChangeWithPrompt through the (scripted) pinentry."""

import dbus

from harness import (ALGO_DH, ALGO_PLAIN, COLLECTION_IFACE, ERR_NO_SUCH_OBJECT,
                     LOGIN, PROMPT_IFACE, SS_PATH, main)
from prompt_harness import ERR_DENIED, GNOME_IFACE, PromptTestCase

PASSWORD = 'gnome-master'


def label_props(label):
    return dbus.Dictionary({COLLECTION_IFACE + '.Label': dbus.String(label, variant_level=1)}, signature='sv')


class GnomeInterfaceTests(PromptTestCase):

    world_options = {'password': PASSWORD}

    def setUp(self):
        super().setUp()
        self.session = self.client.open_session(ALGO_DH)

    def secret(self, text):
        return self.session.encode(text.encode('utf-8'))

    def test_introspection_lists_the_interface(self):
        xml = self.client.bus.call_blocking('org.freedesktop.secrets', SS_PATH,
                                            'org.freedesktop.DBus.Introspectable', 'Introspect', '', ())
        self.assertIn(GNOME_IFACE, xml)
        self.assertIn('org.freedesktop.Secret.Service', xml)

    def test_unlock_with_master_password(self):
        self.lock()
        self.assertDBusError(ERR_DENIED, self.gnome, 'UnlockWithMasterPassword', 'o(oayays)',
                             dbus.ObjectPath(LOGIN), self.secret('wrong'))
        self.assertTrue(self.locked())
        self.gnome('UnlockWithMasterPassword', 'o(oayays)', dbus.ObjectPath(LOGIN), self.secret(PASSWORD))
        self.assertFalse(self.locked())
        # Already unlocked: nothing to do.
        self.gnome('UnlockWithMasterPassword', 'o(oayays)', dbus.ObjectPath(LOGIN), self.secret(PASSWORD))

    def test_unlock_unknown_collection(self):
        self.assertDBusError(ERR_NO_SUCH_OBJECT, self.gnome, 'UnlockWithMasterPassword', 'o(oayays)',
                             dbus.ObjectPath(SS_PATH + '/collection/nope'), self.secret(PASSWORD))

    def test_plain_session_works_too(self):
        self.lock()
        plain = self.client.open_session(ALGO_PLAIN)
        self.gnome('UnlockWithMasterPassword', 'o(oayays)', dbus.ObjectPath(LOGIN),
                   plain.encode(PASSWORD.encode()))
        self.assertFalse(self.locked())

    def test_change_with_master_password(self):
        self.assertDBusError(ERR_DENIED, self.gnome, 'ChangeWithMasterPassword', 'o(oayays)(oayays)',
                             dbus.ObjectPath(LOGIN), self.secret('wrong'), self.secret('new-one'))
        self.gnome('ChangeWithMasterPassword', 'o(oayays)(oayays)', dbus.ObjectPath(LOGIN),
                   self.secret(PASSWORD), self.secret('new-one'))
        try:
            self.world.lock_vault()
            self.assertNotEqual(self.world.unlock_vault(PASSWORD).returncode, 0)
            self.assertEqual(self.world.unlock_vault('new-one').returncode, 0)
        finally:
            self.gnome('ChangeWithMasterPassword', 'o(oayays)(oayays)', dbus.ObjectPath(LOGIN),
                       self.secret('new-one'), self.secret(PASSWORD))

    def test_create_with_master_password_unlocked(self):
        path = str(self.gnome('CreateWithMasterPassword', 'a{sv}(oayays)', label_props('Seahorse made'),
                              self.secret(PASSWORD)))
        self.assertTrue(path.startswith(SS_PATH + '/collection/'))
        self.assertEqual(self.client.get_prop(path, COLLECTION_IFACE, 'Label'), 'Seahorse made')

    def test_create_with_master_password_locked(self):
        self.lock()
        self.assertDBusError(ERR_DENIED, self.gnome, 'CreateWithMasterPassword', 'a{sv}(oayays)',
                             label_props('Nope'), self.secret('wrong'))
        self.assertTrue(self.locked())
        path = str(self.gnome('CreateWithMasterPassword', 'a{sv}(oayays)', label_props('After unlock'),
                              self.secret(PASSWORD)))
        self.assertFalse(self.locked())
        self.assertEqual(self.client.get_prop(path, COLLECTION_IFACE, 'Label'), 'After unlock')

    def test_change_with_prompt(self):
        self.world.answers('pin bad-current', 'pin prompted-new', 'pin ' + PASSWORD)
        prompt = str(self.gnome('ChangeWithPrompt', 'o', dbus.ObjectPath(LOGIN)))
        self.assertNotEqual(prompt, '/')
        dismissed, result = self.run_prompt(prompt)
        self.assertFalse(dismissed, self.world.daemon_log())
        self.assertEqual(result, '')
        commands = self.world.commands()
        self.assertEqual(commands.count('GETPIN'), 3)
        self.assertTrue(any(c.startswith('SETREPEAT ') for c in commands))
        self.assertTrue(any(c.startswith('SETERROR ') for c in commands))
        try:
            self.world.lock_vault()
            self.assertEqual(self.world.unlock_vault('prompted-new').returncode, 0)
        finally:
            self.gnome('ChangeWithMasterPassword', 'o(oayays)(oayays)', dbus.ObjectPath(LOGIN),
                       self.secret('prompted-new'), self.secret(PASSWORD))

    def test_change_with_prompt_dismissed(self):
        self.world.answers('hang')
        prompt = str(self.gnome('ChangeWithPrompt', 'o', dbus.ObjectPath(LOGIN)))
        sigs = self.start_prompt(self.client, prompt)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
        dismissed, result = self.completed(sigs)
        self.assertTrue(dismissed)
        self.assertEqual(result, '')
        self.assertNoPinentryLeft()
        self.world.lock_vault()
        self.assertEqual(self.world.unlock_vault(PASSWORD).returncode, 0)


class GnomeCreateVaultTests(PromptTestCase):
    """CreateWithMasterPassword before any vault exists creates it."""

    world_options = {'init': False}

    def test_creates_the_vault(self):
        session = self.client.open_session(ALGO_DH)
        self.assertDBusError('org.freedesktop.DBus.Error.InvalidArgs', self.gnome, 'CreateWithMasterPassword',
                             'a{sv}(oayays)', label_props('Empty'), session.encode(b''))
        path = str(self.gnome('CreateWithMasterPassword', 'a{sv}(oayays)', label_props('First'),
                              session.encode(b'created-by-gnome')))
        self.assertEqual(self.client.get_prop(path, COLLECTION_IFACE, 'Label'), 'First')
        self.assertFalse(self.locked())
        self.world.lock_vault()
        self.assertEqual(self.world.unlock_vault('created-by-gnome').returncode, 0)


if __name__ == '__main__':
    main()
