#!/usr/bin/python3
"""`meson install` into a DESTDIR: the exact list of files, and each file
checked by the program that reads it (systemd-analyze, desktop-file-validate,
dbus-daemon, man, bash completion)."""

import configparser
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

ENV = os.environ
BUILD = ENV['COFFER_BUILD_ROOT']


def rel(path):
    return path.lstrip('/')


def expected_files():
    """Every file the install must produce, relative to DESTDIR."""
    files = {
        os.path.join(ENV['COFFER_BINDIR'], 'coffer'),
        os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd'),
        os.path.join(ENV['COFFER_USER_UNIT_DIR'], 'coffer.service'),
        os.path.join(ENV['COFFER_DBUS_SERVICES_DIR'], 'org.freedesktop.secrets.service'),
        os.path.join(ENV['COFFER_DATADIR'], 'dbus-1', 'interfaces', 'org.freedesktop.Secret.xml'),
        os.path.join(ENV['COFFER_DATADIR'], 'xdg-desktop-portal', 'portals', 'coffer.portal'),
        os.path.join(ENV['COFFER_SYSCONFDIR'], 'xdg', 'autostart', 'coffer.desktop'),
        os.path.join(ENV['COFFER_COMPLETIONS_DIR'], 'coffer'),
    }
    if ENV['COFFER_IMPORT_HELPER'] == '1':  # coffer import/export run it
        files.add(os.path.join(ENV['COFFER_LIBEXECDIR'], 'coffer-import'))
    man = ENV['COFFER_MAN'] == '1'
    if man:
        for page in ('man1/coffer.1', 'man5/coffer.conf.5', 'man8/cofferd.8'):
            files.add(os.path.join(ENV['COFFER_MANDIR'], page))
    if ENV['COFFER_PAM_MODULEDIR']:
        files.add(os.path.join(ENV['COFFER_PAM_MODULEDIR'], 'pam_coffer.so'))
        files.add(os.path.join(ENV['COFFER_DATADIR'], 'pam-configs', 'coffer'))
        if man:
            files.add(os.path.join(ENV['COFFER_MANDIR'], 'man8', 'pam_coffer.8'))
    return {rel(f) for f in files}


def read_ini(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in these formats
    with open(path, encoding='utf-8') as f:
        parser.read_file(f)
    return parser


class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='coffer-install-')
        cls.dest = os.path.join(cls.tmp, 'dest')
        r = subprocess.run(['meson', 'install', '-C', BUILD, '--no-rebuild', '--quiet', '--destdir', cls.dest],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError('meson install failed:\n' + r.stdout + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, installed):
        return os.path.join(self.dest, rel(installed))

    def installed(self, *parts):
        return self.path(os.path.join(*parts))

    def test_file_list(self):
        found = set()
        for root, dirs, names in os.walk(self.dest):
            for name in names:
                found.add(os.path.relpath(os.path.join(root, name), self.dest))
        want = expected_files()
        self.assertEqual(sorted(found - want), [], 'installed but not expected')
        self.assertEqual(sorted(want - found), [], 'expected but not installed')

    def test_programs_are_executable_and_run(self):
        for prog, name in ((self.installed(ENV['COFFER_LIBEXECDIR'], 'cofferd'), 'cofferd'),
                           (self.installed(ENV['COFFER_BINDIR'], 'coffer'), 'coffer')):
            self.assertTrue(os.access(prog, os.X_OK), prog)
            r = subprocess.run([prog, '--version'], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r'\b0\.\d+\.\d+')

    def test_dbus_activation_file(self):
        path = self.installed(ENV['COFFER_DBUS_SERVICES_DIR'], 'org.freedesktop.secrets.service')
        service = read_ini(path)['D-BUS Service']
        self.assertEqual(service['Name'], 'org.freedesktop.secrets')
        self.assertEqual(service['Exec'], os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd'))
        self.assertEqual(service['SystemdService'], 'coffer.service')

    def test_dbus_daemon_reads_activation_file(self):
        """A private bus whose only service directory is the installed one
        must list org.freedesktop.secrets as activatable."""
        services = self.installed(ENV['COFFER_DBUS_SERVICES_DIR'])
        conf = os.path.join(self.tmp, 'bus.conf')
        with open(conf, 'w') as f:
            f.write('<busconfig><type>session</type>'
                    f'<listen>unix:dir={self.tmp}</listen>'
                    f'<servicedir>{services}</servicedir><auth>EXTERNAL</auth>'
                    '<policy context="default"><allow send_destination="*" eavesdrop="true"/>'
                    '<allow eavesdrop="true"/><allow own="*"/></policy>'
                    '</busconfig>\n')
        bus = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork', '--print-address'],
                               stdout=subprocess.PIPE, text=True)
        try:
            address = bus.stdout.readline().strip()
            self.assertTrue(address, 'dbus-daemon printed no address')
            r = subprocess.run(['dbus-send', '--session', '--print-reply', '--type=method_call',
                                '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
                                'org.freedesktop.DBus.ListActivatableNames'],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('"org.freedesktop.secrets"', r.stdout)
        finally:
            bus.send_signal(signal.SIGTERM)
            bus.wait(timeout=10)

    def test_user_unit_contents(self):
        unit = read_ini(self.installed(ENV['COFFER_USER_UNIT_DIR'], 'coffer.service'))
        service = unit['Service']
        self.assertEqual(service['Type'], 'dbus')
        self.assertEqual(service['BusName'], 'org.freedesktop.secrets')
        self.assertEqual(service['ExecStart'], os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd'))
        for key in ('NoNewPrivileges', 'LockPersonality', 'MemoryDenyWriteExecute', 'RestrictRealtime'):
            self.assertEqual(service[key], 'yes', key)
        self.assertEqual(service['ProtectSystem'], 'strict')
        self.assertIn('%h/.local/share/coffer', service['ReadWritePaths'].split())
        self.assertIn('%t', service['ReadWritePaths'].split())
        # At least what sodium needs for a few thousand secrets in flight.
        self.assertEqual(service['LimitMEMLOCK'], '64M')
        # Sync needs the network: nothing may cut it off.
        for key in ('PrivateNetwork', 'IPAddressDeny'):
            self.assertNotIn(key, service)
        families = service['RestrictAddressFamilies'].split()
        self.assertIn('AF_INET', families)
        self.assertIn('AF_INET6', families)
        self.assertEqual(unit['Install']['WantedBy'], 'default.target')

    def test_user_unit_verifies(self):
        if shutil.which('systemd-analyze') is None:
            self.skipTest('systemd-analyze is not installed')
        runtime = os.path.join(self.tmp, 'runtime')
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime, SYSTEMD_LOG_LEVEL='notice',
                   MANPATH=self.installed(ENV['COFFER_MANDIR']))
        probe_dir = os.path.join(self.tmp, 'probe')
        os.makedirs(probe_dir, exist_ok=True)
        probe = os.path.join(probe_dir, 'coffer-probe.service')
        with open(probe, 'w') as f:
            f.write('[Service]\nType=oneshot\nExecStart=/bin/true\n')
        r = subprocess.run(['systemd-analyze', 'verify', '--user', '--man=no', probe],
                           capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            self.skipTest('systemd-analyze verify --user cannot run here (a trivial unit fails too): '
                          + (r.stderr.strip() or f'exit {r.returncode}'))
        # The unit names cofferd where it will be, not in DESTDIR, and
        # systemd-analyze checks that ExecStart= exists: verify a copy that
        # differs only in that path.
        source = self.installed(ENV['COFFER_USER_UNIT_DIR'], 'coffer.service')
        final = os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd')
        with open(source) as f:
            text = f.read()
        self.assertIn('ExecStart=' + final + '\n', text)
        check_dir = os.path.join(self.tmp, 'verify')
        os.makedirs(check_dir, exist_ok=True)
        copy = os.path.join(check_dir, 'coffer.service')
        with open(copy, 'w') as f:
            f.write(text.replace('ExecStart=' + final, 'ExecStart=' + self.path(final)))
        # --man=yes (with MANPATH on the installed pages when they are built):
        # Documentation= must point at pages that exist.
        man = 'yes' if ENV['COFFER_MAN'] == '1' else 'no'
        r = subprocess.run(['systemd-analyze', 'verify', '--user', '--man=' + man, copy],
                           capture_output=True, text=True, env=env, timeout=60)
        # Unknown keys and bad values are only warnings for systemd-analyze:
        # any output at all fails the test.
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ''))

    def test_autostart_entry(self):
        path = self.installed(ENV['COFFER_SYSCONFDIR'], 'xdg', 'autostart', 'coffer.desktop')
        if shutil.which('desktop-file-validate') is None:
            self.fail('desktop-file-validate is missing (desktop-file-utils, scripts/install-deps.sh)')
        r = subprocess.run(['desktop-file-validate', path], capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ''))
        entry = read_ini(path)['Desktop Entry']
        cofferd = os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd')
        self.assertEqual(entry['Exec'], cofferd)
        self.assertEqual(entry['TryExec'], cofferd)
        # Under systemd, D-Bus activation starts coffer.service: the entry
        # must be skipped there, or two agents would race for the name.
        self.assertEqual(entry['X-systemd-skip'], 'true')
        self.assertEqual(entry['X-GNOME-HiddenUnderSystemd'], 'true')
        self.assertNotIn('Hidden', entry)
        self.assertNotIn('OnlyShowIn', entry)

    def test_portal_file(self):
        portal = read_ini(self.installed(ENV['COFFER_DATADIR'], 'xdg-desktop-portal', 'portals', 'coffer.portal'))
        self.assertEqual(portal['portal']['DBusName'], 'org.freedesktop.secrets')
        self.assertIn('org.freedesktop.impl.portal.Secret', portal['portal']['Interfaces'].split(';'))

    def test_man_pages_render(self):
        if ENV['COFFER_MAN'] != '1':
            self.skipTest('man pages not built (scdoc missing, -Dman=auto)')
        pages = {'man1/coffer.1': 'coffer', 'man5/coffer.conf.5': 'coffer.conf', 'man8/cofferd.8': 'cofferd'}
        if ENV['COFFER_PAM_MODULEDIR']:
            pages['man8/pam_coffer.8'] = 'pam_coffer'
        env = dict(os.environ, LC_ALL='C.UTF-8', MANWIDTH='80', MAN_KEEP_FORMATTING='0')
        for page, name in pages.items():
            path = self.installed(ENV['COFFER_MANDIR'], page)
            with self.subTest(page=page):
                r = subprocess.run(['man', '--warnings', '-E', 'UTF-8', '-l', path],
                                   capture_output=True, text=True, env=env, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, '', 'man warnings')
                text = re.sub('.\b', '', r.stdout)  # overstrike bold and underline
                self.assertTrue(text.startswith(f'{name}('), text[:200])
                self.assertIn('\nNAME\n       ' + name + ' - ', text)
                self.assertIsNone(re.search(r'@[A-Z]+@', text), 'an unsubstituted @VARIABLE@')
                r = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', path],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual((r.returncode, r.stderr), (0, ''))

    def test_man_pages_name_install_paths(self):
        if ENV['COFFER_MAN'] != '1':
            self.skipTest('man pages not built')
        with open(self.installed(ENV['COFFER_MANDIR'], 'man8', 'cofferd.8')) as f:
            text = f.read().replace('\\&', '')  # scdoc's zero-width breaks after dots
        self.assertIn(os.path.join(ENV['COFFER_LIBEXECDIR'], 'cofferd'), text)
        self.assertIn(os.path.join(ENV['COFFER_USER_UNIT_DIR'], 'coffer.service'), text)

    def test_conf_page_documents_every_key(self):
        """coffer.conf(5) names every key docs/configuration.md documents."""
        if ENV['COFFER_MAN'] != '1':
            self.skipTest('man pages not built')
        with open(os.path.join(ENV['COFFER_SOURCE_ROOT'], 'docs', 'configuration.md')) as f:
            doc_keys = [line[len('### `'):].split('`')[0] for line in f if line.startswith('### `')]
        self.assertTrue(doc_keys)
        with open(self.installed(ENV['COFFER_MANDIR'], 'man5', 'coffer.conf.5')) as f:
            page = f.read().replace('\\&', '')
        for key in doc_keys:
            self.assertIn(key, page, f'coffer.conf(5) lacks {key}')

    def bash_complete(self, line):
        completion = self.installed(ENV['COFFER_COMPLETIONS_DIR'], 'coffer')
        script = ('source /usr/share/bash-completion/bash_completion\n'
                  f'source {completion}\n'
                  'read -r -a COMP_WORDS <<< "$LINE"\n'
                  '[[ $LINE == *" " ]] && COMP_WORDS+=("")\n'
                  'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
                  'COMP_LINE=$LINE; COMP_POINT=${#LINE}\n'
                  '_coffer coffer "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        r = subprocess.run(['bash', '--norc', '--noprofile', '-c', script], env=dict(os.environ, LINE=line),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(w for w in r.stdout.split('\n') if w)

    def test_bash_completion(self):
        if not os.path.exists('/usr/share/bash-completion/bash_completion'):
            self.skipTest('bash-completion is not installed')
        self.assertEqual(self.bash_complete('coffer re'), ['remote', 'restore'])
        self.assertIn('unlock', self.bash_complete('coffer '))
        self.assertEqual(self.bash_complete('coffer --v'), ['--version'])
        self.assertEqual(self.bash_complete('coffer remote '), ['remove', 'set', 'show'])
        self.assertEqual(self.bash_complete('coffer remote set https://h/ --'),
                         ['--help', '--password-stdin', '--user'])
        self.assertEqual(self.bash_complete('coffer init --p'), ['--password-stdin'])
        self.assertEqual(self.bash_complete('coffer lock --'), ['--help'])
        self.assertEqual(self.bash_complete('coffer join https://h/ --user '), [])
        self.assertEqual(self.bash_complete('coffer ex'), ['export'])
        self.assertEqual(self.bash_complete('coffer import --f'), ['--from-running-service'])
        self.assertEqual(self.bash_complete('coffer export --f'), ['--force'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
