"""Prompts through a pinentry: cofferd runs tests/prompt/scripted-pinentry
(configured in the world's coffer.conf), which speaks real Assuan and answers
from a script.  Unlock, retries, cancel, crash, dismiss, a caller leaving the
bus, two clients sharing one prompt, CreateCollection on a locked vault."""

import os
import time

import dbus

from harness import (COLLECTION_IFACE, LOGIN, PROMPT_IFACE, SERVICE_IFACE, main)
from prompt_harness import PromptTestCase, process_gone, release_file

# Percent signs, spaces and non-ASCII: the D line must be percent-decoded.
PASSWORD = 'pa%ss w%0Ard+ü'


class PinentryUnlockTests(PromptTestCase):

    world_options = {'password': PASSWORD}

    def setUp(self):
        super().setUp()
        if not self.locked():
            self.lock()

    def test_unlock(self):
        self.world.answers('pin ' + PASSWORD)
        unlocked, prompt = self.client.unlock([LOGIN])
        self.assertEqual(unlocked, [])
        dismissed, result = self.run_prompt(prompt)
        self.assertFalse(dismissed)
        self.assertEqual(result.signature, 'o')
        self.assertEqual(list(map(str, result)), [LOGIN])
        self.assertFalse(self.locked())
        runs = self.world.pinentry_runs()
        self.assertEqual(len(runs), 1)
        commands = [c.split(' ')[0] for c in runs[0][1]]
        for expected in ('SETTITLE', 'SETDESC', 'SETPROMPT', 'GETPIN'):
            self.assertIn(expected, commands)
        self.assertLess(commands.index('SETDESC'), commands.index('GETPIN'))
        # The description's line break travels escaped, never as a raw LF.
        desc = next(c for c in runs[0][1] if c.startswith('SETDESC '))
        self.assertIn('%0A', desc)
        # No terminal and no display in the test: no such options sent.
        self.assertFalse([c for c in runs[0][1] if c.startswith('OPTION ttyname')])
        self.assertNoPinentryLeft()

    def test_window_id_reaches_the_pinentry(self):
        # An X11 window id from Prompt() goes on as parent-wid; anything
        # that is not one is not passed on.
        for window_id, expected in (('0x3a00007', 'OPTION parent-wid=0x3a00007'), ('wayland:abc', None)):
            self.lock()
            self.world.answers('pin ' + PASSWORD)
            _, prompt = self.client.unlock([LOGIN])
            sigs = self.client.signals(interface=PROMPT_IFACE, member='Completed', path=prompt)
            self.client.call(prompt, PROMPT_IFACE, 'Prompt', 's', window_id)
            dismissed, _ = self.completed(sigs)
            self.assertFalse(dismissed)
            options = [c for c in self.world.pinentry_runs()[-1][1] if c.startswith('OPTION parent-wid')]
            self.assertEqual(options, [expected] if expected else [])

    def test_wrong_then_right(self):
        self.world.answers('pin wrong', 'pin ' + PASSWORD)
        _, prompt = self.client.unlock([LOGIN])
        dismissed, _ = self.run_prompt(prompt)
        self.assertFalse(dismissed)
        self.assertFalse(self.locked())
        runs = self.world.pinentry_runs()
        self.assertEqual(len(runs), 1, 'the retry must reuse the open pinentry')
        commands = runs[0][1]
        getpins = [i for i, c in enumerate(commands) if c == 'GETPIN']
        errors = [i for i, c in enumerate(commands) if c.startswith('SETERROR ')]
        self.assertEqual(len(getpins), 2)
        self.assertEqual(len(errors), 1)
        self.assertTrue(getpins[0] < errors[0] < getpins[1])
        self.assertIn('Wrong password', commands[errors[0]])
        self.assertNoPinentryLeft()

    def test_three_wrong_passwords_dismiss(self):
        self.world.answers('pin one', 'pin two', 'pin three', 'pin ' + PASSWORD)
        _, prompt = self.client.unlock([LOGIN])
        dismissed, result = self.run_prompt(prompt)
        self.assertTrue(dismissed)
        self.assertEqual(list(result), [])
        self.assertTrue(self.locked())
        self.assertEqual(self.world.commands().count('GETPIN'), 3)
        self.assertNoPinentryLeft()

    def test_cancel(self):
        self.world.answers('cancel')
        _, prompt = self.client.unlock([LOGIN])
        dismissed, result = self.run_prompt(prompt)
        self.assertTrue(dismissed)
        self.assertEqual(result.signature, 'o')
        self.assertTrue(self.locked())
        self.assertNoPinentryLeft()

    def test_pinentry_timeout_answer(self):
        self.world.answers('timeout')
        _, prompt = self.client.unlock([LOGIN])
        dismissed, _ = self.run_prompt(prompt)
        self.assertTrue(dismissed)
        self.assertTrue(self.locked())

    def test_crash(self):
        self.world.answers('crash')
        _, prompt = self.client.unlock([LOGIN])
        dismissed, _ = self.run_prompt(prompt)
        self.assertTrue(dismissed)
        self.assertTrue(self.locked())
        self.assertAlive()
        self.assertNoPinentryLeft()

    def test_dismiss_kills_pinentry(self):
        self.world.answers('hang')
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
        dismissed, _ = self.completed(sigs)
        self.assertTrue(dismissed)
        self.assertNoPinentryLeft()
        self.assertTrue(self.locked())

    def test_pinentry_ignoring_sigterm_is_killed(self):
        self.world.answers('hang-hard')
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
        self.assertTrue(self.completed(sigs)[0])
        self.assertNoPinentryLeft()

    def test_caller_leaving_the_bus_kills_pinentry(self):
        other = self.world.connect()
        self.world.answers('hang')
        _, prompt = other.unlock([LOGIN])
        other.call(prompt, PROMPT_IFACE, 'Prompt', 's', '')
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        pid = self.world.pinentry_runs()[0][0]
        other.close()
        self.assertTrue(process_gone(pid), 'pinentry left behind by a caller that left')
        self.assertAlive()
        self.assertTrue(self.locked())
        # The prompt is gone with its owner.
        with self.assertRaises(Exception):
            self.client.call(prompt, PROMPT_IFACE, 'Dismiss')

    def test_two_clients_share_one_prompt(self):
        other = self.world.connect()
        go = release_file(self.world, 'share-go')
        self.world.answers('when %s pin %s' % (go, PASSWORD))
        _, first = self.client.unlock([LOGIN])
        _, second = other.unlock([LOGIN])
        self.assertNotEqual(first, second)
        sigs1 = self.start_prompt(self.client, first)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        sigs2 = self.start_prompt(other, second)
        time.sleep(0.2)
        open(go, 'w').close()
        try:
            self.assertEqual(self.completed(sigs1)[0], False)
            self.assertEqual(self.completed(sigs2)[0], False)
        finally:
            os.unlink(go)
        self.assertEqual(len(self.world.pinentry_runs()), 1, 'a second pinentry was started')
        self.assertEqual(self.world.commands().count('GETPIN'), 1)
        self.assertFalse(self.locked())

    def test_dismiss_one_of_two_keeps_the_other(self):
        other = self.world.connect()
        go = release_file(self.world, 'dismiss-go')
        self.world.answers('when %s pin %s' % (go, PASSWORD))
        _, first = self.client.unlock([LOGIN])
        _, second = other.unlock([LOGIN])
        sigs1 = self.start_prompt(self.client, first)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        sigs2 = self.start_prompt(other, second)
        self.client.call(first, PROMPT_IFACE, 'Dismiss')
        self.assertTrue(self.completed(sigs1)[0])
        pid = self.world.pinentry_runs()[0][0]
        self.assertFalse(process_gone(pid, timeout=0.3), 'the shared pinentry died with one waiter')
        open(go, 'w').close()
        try:
            self.assertFalse(self.completed(sigs2)[0])
        finally:
            os.unlink(go)
        self.assertFalse(self.locked())

    def test_unlocked_elsewhere_closes_the_dialog(self):
        self.world.answers('hang')
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        result = self.world.unlock_vault()
        self.assertEqual(result.returncode, 0, result.stderr)
        dismissed, objects = self.completed(sigs)
        self.assertFalse(dismissed)
        self.assertEqual(list(map(str, objects)), [LOGIN])
        self.assertNoPinentryLeft()

    def test_create_collection_on_locked_vault(self):
        self.world.answers('pin ' + PASSWORD)
        props = dbus.Dictionary({COLLECTION_IFACE + '.Label': dbus.String('Prompted', variant_level=1)},
                                signature='sv')
        path, prompt = self.client.service('CreateCollection', 'a{sv}s', props, '')
        self.assertEqual(path, '/')
        self.assertNotEqual(prompt, '/')
        dismissed, result = self.run_prompt(prompt)
        self.assertFalse(dismissed)
        self.assertIsInstance(result, dbus.ObjectPath)
        collection = str(result)
        self.assertIn(collection, list(map(str, self.client.get_prop(
            '/org/freedesktop/secrets', SERVICE_IFACE, 'Collections'))))
        self.assertEqual(self.client.get_prop(collection, COLLECTION_IFACE, 'Label'), 'Prompted')

    def test_prompt_only_by_its_owner(self):
        other = self.world.connect()
        _, prompt = self.client.unlock([LOGIN])
        self.assertDBusError('org.freedesktop.DBus.Error.AccessDenied', other.call, prompt, PROMPT_IFACE,
                             'Prompt', 's', '')
        self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
        self.assertEqual(self.world.pinentry_runs(), [])


class PromptTimeoutTests(PromptTestCase):

    world_options = {'config': {'prompt_timeout': '2'}}

    def test_timeout_dismisses_and_kills(self):
        self.lock()
        self.world.answers('hang')
        _, prompt = self.client.unlock([LOGIN])
        started = time.monotonic()
        dismissed, _ = self.run_prompt(prompt, timeout=15)
        elapsed = time.monotonic() - started
        self.assertTrue(dismissed)
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 10)
        self.assertNoPinentryLeft()
        self.assertTrue(self.locked())
        self.assertIn('timed out', self.world.daemon_log())


class PromptAgentExitTests(PromptTestCase):

    def test_agent_exit_leaves_no_pinentry(self):
        self.lock()
        self.world.answers('hang')
        other = self.world.connect()
        _, prompt = other.unlock([LOGIN])
        other.call(prompt, PROMPT_IFACE, 'Prompt', 's', '')
        self.assertTrue(self.world.wait_for_command('GETPIN'))
        pid = self.world.pinentry_runs()[0][0]
        self.world.restart_daemon()
        self.assertTrue(process_gone(pid), 'pinentry outlived the agent')
        self.client = self.world.connect()
        type(self).client = self.client


class VaultCreationTests(PromptTestCase):
    """No vault yet: the unlock prompt asks for a new password, twice."""

    world_options = {'init': False}

    def test_1_mismatch_then_created(self):
        # SETREPEAT is supported: the pinentry checks the repeat itself.
        self.world.answers('pin first-password')
        _, prompt = self.client.unlock([LOGIN])
        self.assertNotEqual(prompt, '/')
        dismissed, _ = self.run_prompt(prompt)
        self.assertFalse(dismissed)
        self.assertFalse(self.locked())
        commands = self.world.commands()
        self.assertTrue(any(c.startswith('SETREPEAT ') for c in commands), commands)
        self.assertEqual(commands.count('GETPIN'), 1)
        self.world.lock_vault()
        self.assertEqual(self.world.unlock_vault('first-password').returncode, 0)


class VaultCreationNoRepeatTests(PromptTestCase):
    """A pinentry without SETREPEAT: coffer asks twice and compares."""

    world_options = {'init': False, 'extra_env': {'COFFER_TEST_PINENTRY_NO_REPEAT': '1'}}

    def test_mismatch_then_created(self):
        self.world.answers('pin abc', 'pin abd', 'pin good-one', 'pin good-one')
        _, prompt = self.client.unlock([LOGIN])
        dismissed, _ = self.run_prompt(prompt)
        self.assertFalse(dismissed)
        commands = self.world.commands()
        self.assertEqual(commands.count('GETPIN'), 4)
        self.assertTrue(any(c.startswith('SETERROR ') and 'do not match' in c for c in commands), commands)
        self.world.lock_vault()
        self.assertNotEqual(self.world.unlock_vault('abc').returncode, 0)
        self.assertEqual(self.world.unlock_vault('good-one').returncode, 0)


if __name__ == '__main__':
    main()
