"""The real pinentry-tty, end to end: cofferd runs in a tmux pane (so the
pane is its terminal and it passes OPTION ttyname to the pinentry), an
application asks for an unlock, and the password is typed into the pane."""

import os
import shlex
import shutil
import signal
import subprocess
import time
import unittest

from harness import LOGIN, main
from prompt_harness import PinentryWorld, PromptTestCase

PINENTRY_TTY = '/usr/bin/pinentry-tty'
HAVE_TOOLS = shutil.which('tmux') is not None and os.access(PINENTRY_TTY, os.X_OK)


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ''


class PaneDaemon:
    """Popen-like handle on a cofferd started by a script in a tmux pane."""

    def __init__(self, pid_file, status_file):
        self.pid_file = pid_file
        self.status_file = status_file
        self.returncode = None
        deadline = time.monotonic() + 10
        while not read_text(pid_file):
            if time.monotonic() > deadline:
                raise RuntimeError('cofferd did not start in the tmux pane')
            time.sleep(0.02)
        self.pid = int(read_text(pid_file))

    def poll(self):
        if self.returncode is None:
            text = read_text(self.status_file)
            if text:
                self.returncode = int(text)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout or 3600)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired('cofferd', timeout)
            time.sleep(0.02)
        return self.returncode

    def kill(self):
        self.send_signal(signal.SIGKILL)


class TmuxWorld(PinentryWorld):

    def __init__(self):
        super().__init__(config={'pinentry': PINENTRY_TTY})
        self.socket = None

    def tmux(self, *args, check=True):
        return subprocess.run(['tmux', '-S', self.socket] + list(args), env=self.env, capture_output=True,
                              text=True, check=check, timeout=10)

    def start_daemon(self):
        self.socket = os.path.join(self.root, 'tmux.sock')
        pid_file = os.path.join(self.root, 'cofferd.pid')
        status_file = os.path.join(self.root, 'cofferd.status')
        for path in (pid_file, status_file):
            if os.path.exists(path):
                os.unlink(path)
        log = os.path.join(self.root, 'daemon.log')
        script = os.path.join(self.root, 'run-cofferd.sh')
        exports = ''.join('export %s=%s\n' % (k, shlex.quote(v)) for k, v in self.env.items()
                          if k not in ('TERM', 'TMUX', 'TMUX_PANE'))
        with open(script, 'w') as f:
            f.write('%s\nsh -c \'echo $$ > "$0"; exec "$1"\' %s %s >>%s 2>&1\necho $? > %s\nsleep 600\n'
                    % (exports, shlex.quote(pid_file), shlex.quote(os.environ['COFFERD']), shlex.quote(log),
                       shlex.quote(status_file)))
        env = dict(self.env, TERM='xterm')
        subprocess.run(['tmux', '-S', self.socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'coffer',
                        '-x', '100', '-y', '30', 'sh ' + shlex.quote(script)], env=env, check=True, timeout=10)
        self.daemon = PaneDaemon(pid_file, status_file)
        self._wait_for_name()
        self.wait_for_control_socket()

    def screen(self):
        return self.tmux('capture-pane', '-p', '-t', 'coffer').stdout

    def type(self, text):
        self.tmux('send-keys', '-t', 'coffer', '-l', text)
        self.tmux('send-keys', '-t', 'coffer', 'Enter')

    def stop(self):
        try:
            super().stop()
        finally:
            if self.socket is not None:
                subprocess.run(['tmux', '-S', self.socket, 'kill-server'], capture_output=True, timeout=10)


@unittest.skipUnless(HAVE_TOOLS, 'needs tmux and pinentry-tty')
class PinentryTtyTests(PromptTestCase):

    @classmethod
    def setUpClass(cls):
        cls.world = TmuxWorld().start()
        cls.client = cls.world.connect()

    def wait_for_screen(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.world.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        self.fail('%r never appeared on the pane:\n%s' % (text, self.world.screen()))

    def test_unlock_typed_on_the_terminal(self):
        self.assertIn(PINENTRY_TTY, self.world.daemon_log())
        self.lock()
        _, prompt = self.client.unlock([LOGIN])
        sigs = self.start_prompt(self.client, prompt)
        screen = self.wait_for_screen('Password:')
        self.assertIn('Enter the keyring password', screen)
        self.world.type('wrong password')
        self.wait_for_screen('Wrong password')
        self.world.type(self.world.password)
        if os.environ.get('COFFER_TEST_SHOW_SCREEN'):
            print(self.world.screen())
        dismissed, objects = self.completed(sigs)
        self.assertFalse(dismissed, self.world.daemon_log())
        self.assertEqual(list(map(str, objects)), [LOGIN])
        self.assertFalse(self.locked())
        # Typed without echo.
        self.assertNotIn(self.world.password, self.world.screen())


if __name__ == '__main__':
    main()
