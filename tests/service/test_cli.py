"""The coffer CLI against a running cofferd: status, lock, unlock, passwd."""

import re

from harness import (ALGO_DH, COLLECTION_IFACE, LOGIN, ServiceTestCase,
                     coffer_only, main)


def says_locked(text):
    """True for output reporting a locked vault, False for unlocked."""
    text = text.lower()
    if re.search(r'\bunlocked\b', text):
        return False
    if re.search(r'\blocked\b', text):
        return True
    raise AssertionError('status reports neither locked nor unlocked: %r' % text)


@coffer_only('the coffer CLI')
class CliTests(ServiceTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.client.open_session(ALGO_DH)
        cls.item = cls.client.create_item(LOGIN, s, 'cli', {'suite': 'cli'}, b'cli-secret')

    def setUp(self):
        if self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'):
            self.assertEqual(self.world.unlock_vault().returncode, 0)

    def status_locked(self):
        result = self.world.coffer('status')
        return says_locked(result.stdout + result.stderr)

    def assertWrongPassword(self, result):
        self.assertNotEqual(result.returncode, 0, 'a wrong password must fail')
        self.assertIn('wrong password', (result.stdout + result.stderr).lower())

    def test_status_follows_lock_state(self):
        self.assertFalse(self.status_locked())
        self.world.coffer('lock')
        self.assertTrue(self.status_locked())
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        self.assertFalse(self.status_locked())
        self.assertFalse(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    def test_status_follows_dbus_lock(self):
        self.client.lock([LOGIN])
        self.assertTrue(self.status_locked())

    def test_unlock_with_wrong_password(self):
        self.world.coffer('lock')
        self.assertWrongPassword(self.world.unlock_vault('not the password'))
        self.assertTrue(self.status_locked())
        self.assertTrue(self.client.get_prop(LOGIN, COLLECTION_IFACE, 'Locked'))

    def test_passwd(self):
        old, new = self.world.password, 'a new password ✓'
        wrong = self.world.coffer('passwd', '--password-stdin',
                                  input='not the old one\n%s\n' % new, check=False)
        self.assertWrongPassword(wrong)

        self.world.coffer('passwd', '--password-stdin', input='%s\n%s\n' % (old, new))
        self.world.password = new
        self.world.coffer('lock')
        self.assertWrongPassword(self.world.unlock_vault(old))
        self.assertTrue(self.status_locked())
        result = self.world.unlock_vault(new)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(self.status_locked())
        s = self.client.open_session(ALGO_DH)
        self.assertEqual(self.client.get_secret(self.item, s)[0], b'cli-secret')

        # The new password also holds across a daemon restart.
        self.world.restart_daemon()
        client = self.world.connect()
        type(self).client = client
        self.assertTrue(self.status_locked())
        self.assertWrongPassword(self.world.unlock_vault(old))
        self.assertEqual(self.world.unlock_vault(new).returncode, 0)
        s = client.open_session(ALGO_DH)
        self.assertEqual(client.get_secret(self.item, s)[0], b'cli-secret')


if __name__ == '__main__':
    main()
