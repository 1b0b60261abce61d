"""coffer.conf: choosing the prompter (pinentry=none, a configured program,
the automatic choice, nothing usable) and warnings for what it does not know."""

import os

from harness import LOGIN, PROMPT_IFACE, main
from prompt_harness import PINENTRY, PinentryWorld, PromptTestCase


class NoneConfigTests(PromptTestCase):
    """pinentry=none, plus an unknown key and group and a bad value."""

    world_options = {'config': {'pinentry': 'none', 'prompt_timeout': 'soon', 'colour': 'blue'}}

    def test_log_names_the_problems(self):
        log = self.world.daemon_log()
        self.assertIn('unknown key colour', log)
        self.assertIn('prompt_timeout=soon', log)
        self.assertIn('pinentry=none', log)

    def test_prompt_waits_for_coffer_unlock(self):
        self.lock()
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        self.assertEqual(sigs.wait_for(timeout=0.5), [])
        self.assertEqual(self.world.unlock_vault().returncode, 0)
        self.assertFalse(self.completed(sigs)[0])
        self.assertEqual(self.world.pinentry_runs(), [])


class UnknownGroupTests(PromptTestCase):

    @classmethod
    def setUpClass(cls):
        cls.world = PinentryWorld()
        cls.world.write_config = lambda keys, text=None: PinentryWorld.write_config(
            cls.world, keys, '[agent]\npinentry=%s\n\n[colours]\nsky=blue\n' % PINENTRY)
        cls.world.start()
        cls.client = cls.world.connect()

    def test_unknown_group_warned_and_rest_used(self):
        self.assertIn('unknown group [colours]', self.world.daemon_log())
        self.lock()
        self.world.answers('pin ' + self.world.password)
        _, prompt = self.client.unlock([LOGIN])
        self.assertFalse(self.run_prompt(prompt)[0])


class AutomaticChoiceTests(PromptTestCase):
    """No pinentry configured: the first usable candidate in PATH.  A fake
    pinentry-gnome3 (the scripted one) is usable once DISPLAY is set."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.bindir = tempfile.mkdtemp(prefix='coffer-pinentry-bin-')
        os.symlink(PINENTRY, os.path.join(cls.bindir, 'pinentry-gnome3'))
        cls.world = PinentryWorld(config={'pinentry': None}, extra_env={
            'PATH': cls.bindir + ':' + os.environ['PATH'], 'DISPLAY': ':99'}).start()
        cls.client = cls.world.connect()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        import shutil
        shutil.rmtree(cls.bindir, ignore_errors=True)

    def test_gnome3_chosen_with_display(self):
        self.assertIn(os.path.join(self.bindir, 'pinentry-gnome3'), self.world.daemon_log())
        self.lock()
        self.world.answers('pin ' + self.world.password)
        _, prompt = self.client.unlock([LOGIN])
        self.assertFalse(self.run_prompt(prompt)[0])
        self.assertIn('OPTION display=:99', self.world.commands())


class NothingUsableTests(PromptTestCase):
    """No display and no terminal (the test's cofferd has neither): the
    candidates are skipped and prompts wait for `coffer unlock`."""

    world_options = {'config': {'pinentry': None}}

    def test_falls_back_to_external(self):
        self.assertIn('no usable pinentry', self.world.daemon_log())


class MissingProgramTests(PromptTestCase):

    world_options = {'config': {'pinentry': '/nonexistent/pinentry'}}

    def test_warns_and_falls_back(self):
        log = self.world.daemon_log()
        self.assertIn('/nonexistent/pinentry', log)
        self.lock()
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        self.client.call(prompt, PROMPT_IFACE, 'Dismiss')
        self.assertTrue(self.completed(sigs)[0])


if __name__ == '__main__':
    main()
