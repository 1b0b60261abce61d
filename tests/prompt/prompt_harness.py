"""Worlds for the prompt tests: tests/service/harness.py's World, with a
coffer.conf in the world's XDG_CONFIG_HOME that points cofferd at the
scripted pinentry (tests/prompt/scripted-pinentry), a script of answers and
a log of what the pinentry was asked."""

import os
import shutil
import signal
import tempfile
import time

import dbus

from harness import (LOGIN, PROMPT_IFACE, DBusCallError, ServiceTestCase,
                     World)

PINENTRY = os.environ.get('COFFER_TEST_PINENTRY') or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'scripted-pinentry')
GNOME_IFACE = 'org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface'
ERR_DENIED = 'org.gnome.keyring.Error.Denied'


class PinentryWorld(World):
    """config: the [agent] keys (pinentry defaults to the scripted one);
    init: create the vault with `coffer init` once the daemon runs;
    extra_env: more variables for cofferd (and so the pinentry)."""

    def __init__(self, config=None, init=True, extra_env=None, **kw):
        super().__init__(**kw)
        self.config = dict({'pinentry': PINENTRY, 'prompt_timeout': '60'}, **(config or {}))
        self.init = init
        self.extra_env = extra_env or {}
        self.script_path = None
        self.log_path = None

    def start(self):
        self.root = tempfile.mkdtemp(prefix='coffer-prompt-')
        try:
            self._make_tree()
            self.script_path = os.path.join(self.root, 'pinentry.script')
            self.log_path = os.path.join(self.root, 'pinentry.log')
            open(self.script_path, 'w').close()
            self.write_config(self.config)
            self.env.update(self.extra_env)
            self.env['COFFER_TEST_PINENTRY_SCRIPT'] = self.script_path
            self.env['COFFER_TEST_PINENTRY_LOG'] = self.log_path
            self._start_bus()
            self.start_daemon()
            if self.init:
                self.coffer('init', '--password-stdin', input=self.password + '\n')
        except BaseException:
            self.stop()
            raise
        return self

    def start_daemon(self):
        super().start_daemon()
        self.wait_for_control_socket()

    def wait_for_control_socket(self, timeout=10.0):
        """cofferd takes its control socket just after the bus name: wait for
        it, or `coffer init` may find no agent."""
        path = os.path.join(self.env['XDG_RUNTIME_DIR'], 'coffer', 'control')
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError('no control socket after %ss:\n%s' % (timeout, self.daemon_log()))
            time.sleep(0.01)

    def write_config(self, keys, text=None):
        path = os.path.join(self.env['XDG_CONFIG_HOME'], 'coffer', 'coffer.conf')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if text is None:
            text = '[agent]\n' + ''.join('%s=%s\n' % kv for kv in keys.items() if kv[1] is not None)
        with open(path, 'w') as f:
            f.write(text)

    # the scripted pinentry
    def answers(self, *lines):
        """Replaces the pinentry's script; clears its log."""
        with open(self.script_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        open(self.log_path, 'w').close()

    def pinentry_runs(self):
        """[(pid, [command lines])] for every pinentry started since answers()."""
        runs = []
        try:
            with open(self.log_path, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').split('\n')
        except FileNotFoundError:
            return runs
        for line in lines:
            if line.startswith('START '):
                runs.append((int(line.split()[1]), []))
            elif line and runs and not line.startswith('EXIT '):
                runs[-1][1].append(line)
        return runs

    def commands(self):
        """Every command line any pinentry received, in order."""
        return [line for _, lines in self.pinentry_runs() for line in lines]

    def wait_for_command(self, prefix, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for c in self.commands() if c.startswith(prefix)) >= count:
                return True
            time.sleep(0.02)
        return False


def process_gone(pid, timeout=5.0):
    """True once pid has exited (and been reaped: no zombie either)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open('/proc/%d/stat' % pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == 'Z':
            pass  # exited, not yet reaped: wait for the agent to reap it
        time.sleep(0.02)
    return False


def release_file(world, name):
    return os.path.join(world.root, name)


class PromptTestCase(ServiceTestCase):
    """A ServiceTestCase whose world uses the scripted pinentry."""

    world_options = {}

    @classmethod
    def setUpClass(cls):
        cls.world = PinentryWorld(**cls.world_options).start()
        cls.client = cls.world.connect()

    def setUp(self):
        self.world.answers()

    def start_prompt(self, client, prompt):
        """Subscribes to Completed, then calls Prompt(); returns the recorder."""
        sigs = client.signals(interface=PROMPT_IFACE, member='Completed', path=prompt)
        client.call(prompt, PROMPT_IFACE, 'Prompt', 's', '')
        return sigs

    def completed(self, sigs, timeout=15.0):
        done = sigs.wait_for(timeout=timeout)
        sigs.__exit__()
        self.assertEqual(len(done), 1, 'no Completed signal:\n' + self.world.daemon_log())
        dismissed, result = done[0][3]
        return bool(dismissed), result

    def run_prompt(self, prompt, client=None, timeout=15.0):
        client = client or self.client
        return self.completed(self.start_prompt(client, prompt), timeout)

    def locked(self):
        return bool(self.client.get_prop(LOGIN, 'org.freedesktop.Secret.Collection', 'Locked'))

    def lock(self):
        self.world.lock_vault()
        self.assertTrue(self.locked())

    def assertNoPinentryLeft(self):
        for pid, _ in self.world.pinentry_runs():
            self.assertTrue(process_gone(pid), 'pinentry %d still running' % pid)

    def gnome(self, method, sig, *args, client=None):
        return (client or self.client).call('/org/freedesktop/secrets', GNOME_IFACE, method, sig, *args)


__all__ = ['PinentryWorld', 'PromptTestCase', 'process_gone', 'release_file', 'GNOME_IFACE', 'ERR_DENIED',
           'PINENTRY', 'DBusCallError', 'dbus', 'shutil', 'signal']
