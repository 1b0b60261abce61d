#!/usr/bin/python3
"""The Debian packages: packaging/build-deb.sh builds them from the work tree
with dpkg-buildpackage and checks them with lintian; then their contents and
maintainer scripts are checked, and they are installed into a throwaway root
(never into this machine) next to a stand-in gnome-keyring, upgraded over
themselves, removed and purged."""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.environ['COFFER_SOURCE_ROOT']
MULTIARCH = subprocess.run(['dpkg-architecture', '-qDEB_HOST_MULTIARCH'], capture_output=True,
                           text=True, check=True).stdout.strip()
SERVICE_FILE = 'usr/share/dbus-1/services/org.freedesktop.secrets.service'
DIVERTED = SERVICE_FILE + '.coffer-diverted'

COFFER_FILES = {
    'etc/xdg/autostart/coffer.desktop',
    'usr/bin/coffer',
    'usr/libexec/cofferd',
    'usr/lib/systemd/user/coffer.service',
    'usr/share/bash-completion/completions/coffer',
    'usr/share/dbus-1/interfaces/org.freedesktop.Secret.xml',
    SERVICE_FILE,
    'usr/share/xdg-desktop-portal/portals/coffer.portal',
    'usr/share/man/man1/coffer.1.gz',
    'usr/share/man/man5/coffer.conf.5.gz',
    'usr/share/man/man8/cofferd.8.gz',
    'usr/share/doc/coffer/README.Debian',
    'usr/share/doc/coffer/changelog.gz',
    'usr/share/doc/coffer/copyright',
    'usr/share/lintian/overrides/coffer',
}
if os.environ.get('COFFER_IMPORT_HELPER') == '1':
    COFFER_FILES.add('usr/libexec/coffer-import')
PAM_FILES = {
    f'usr/lib/{MULTIARCH}/security/pam_coffer.so',
    'usr/share/pam-configs/coffer',
    'usr/share/man/man8/pam_coffer.8.gz',
    'usr/share/doc/libpam-coffer/changelog.gz',
    'usr/share/doc/libpam-coffer/copyright',
}

# Commands the maintainer scripts may call.  The throwaway root has no shell
# of its own, so dpkg runs the scripts here (--force-script-chrootless) with
# DPKG_ROOT set and PATH holding only these: a command not listed is "not
# found" and fails the script, so nothing can reach this machine's state.
STUBS = ('pam-auth-update', 'deb-systemd-helper', 'deb-systemd-invoke', 'systemctl', 'ldconfig',
         'start-stop-daemon')
REAL = ('sh', 'rm', 'tar', 'diff', 'cat', 'dpkg-deb', 'dpkg-split', 'dpkg-query', 'dpkg-trigger')


def run(cmd, **kw):
    kw.setdefault('capture_output', True)
    kw.setdefault('text', True)
    kw.setdefault('timeout', 120)
    return subprocess.run(cmd, **kw)


def deb_files(deb):
    r = run(['dpkg-deb', '--fsys-tarfile', deb], text=False)
    assert r.returncode == 0, r.stderr
    listing = run(['tar', '-tf', '-'], input=r.stdout, text=False).stdout.decode()
    return {p[2:] for p in listing.split('\n') if p.startswith('./') and not p.endswith('/')}


class DebTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for tool in ('dpkg-buildpackage', 'dh', 'lintian', 'scdoc'):
            if shutil.which(tool) is None:
                raise AssertionError(f'{tool} is missing: run scripts/install-deps.sh')
        cls.tmp = tempfile.mkdtemp(prefix='coffer-deb-')
        cls.out = os.path.join(cls.tmp, 'out')
        r = run(['sh', os.path.join(SOURCE, 'packaging', 'build-deb.sh'), cls.out],
                env=dict(os.environ, TMPDIR=cls.tmp), timeout=360)
        if r.returncode != 0:
            raise AssertionError('build-deb.sh failed:\n' + r.stdout[-4000:] + r.stderr[-4000:])
        cls.coffer_deb = glob.glob(os.path.join(cls.out, 'coffer_*.deb'))[0]
        cls.pam_deb = glob.glob(os.path.join(cls.out, 'libpam-coffer_*.deb'))[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- the build ----------------------------------------------------------

    def test_lintian_clean(self):
        with open(os.path.join(self.out, 'lintian.log')) as f:
            lines = f.read().split('\n')
        bad = [line for line in lines if line.startswith(('E:', 'W:'))]
        self.assertEqual(bad, [])

    def test_coffer_contents(self):
        self.assertEqual(sorted(deb_files(self.coffer_deb) ^ COFFER_FILES), [])

    def test_libpam_coffer_contents(self):
        self.assertEqual(sorted(deb_files(self.pam_deb) ^ PAM_FILES), [])

    def control(self, deb):
        where = tempfile.mkdtemp(dir=self.tmp)
        r = run(['dpkg-deb', '-e', deb, where])
        self.assertEqual(r.returncode, 0, r.stderr)
        return where

    def read(self, *parts):
        with open(os.path.join(*parts)) as f:
            return f.read()

    def test_maintainer_scripts(self):
        pam = self.control(self.pam_deb)
        self.assertIn('pam-auth-update --package\n', self.read(pam, 'postinst'))
        self.assertIn('pam-auth-update --package --remove coffer\n', self.read(pam, 'prerm'))
        coffer = self.control(self.coffer_deb)
        self.assertIn('--add /usr/share/dbus-1/services/org.freedesktop.secrets.service',
                      self.read(coffer, 'preinst'))
        self.assertIn('--remove /usr/share/dbus-1/services/org.freedesktop.secrets.service',
                      self.read(coffer, 'postrm'))
        self.assertIn("deb-systemd-helper --user enable 'coffer.service'", self.read(coffer, 'postinst'))
        self.assertEqual(self.read(coffer, 'conffiles').split(), ['/etc/xdg/autostart/coffer.desktop'])
        for d, names in ((pam, ('postinst', 'prerm')), (coffer, ('preinst', 'postinst', 'postrm'))):
            for name in names:
                self.assertEqual(run(['sh', '-n', os.path.join(d, name)]).returncode, 0, name)

    def test_control_fields(self):
        fields = run(['dpkg-deb', '-f', self.pam_deb, 'Depends']).stdout
        self.assertIn('coffer (= ', fields)
        self.assertIn('libpam-runtime', fields)
        fields = run(['dpkg-deb', '-f', self.coffer_deb, 'Depends']).stdout
        self.assertIn('default-dbus-session-bus | dbus-session-bus', fields)

    # ---- a throwaway root ---------------------------------------------------

    def make_root(self):
        root = tempfile.mkdtemp(prefix='root-', dir=self.tmp)
        for d in ('var/lib/dpkg/updates', 'var/lib/dpkg/info', 'var/lib/dpkg/triggers', 'var/log'):
            os.makedirs(os.path.join(root, d))
        for f in ('var/lib/dpkg/status', 'var/lib/dpkg/available'):
            open(os.path.join(root, f), 'w').close()
        bindir = tempfile.mkdtemp(prefix='bin-', dir=self.tmp)
        log = os.path.join(self.tmp, os.path.basename(root) + '.calls')
        for name in STUBS:
            with open(os.path.join(bindir, name), 'w') as f:
                f.write(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
            os.chmod(os.path.join(bindir, name), 0o755)
        # dpkg-divert is real, but only ever on the throwaway root.
        with open(os.path.join(bindir, 'dpkg-divert'), 'w') as f:
            f.write('#!/bin/sh\n[ -n "${DPKG_ROOT:-}" ] || { echo "DPKG_ROOT unset" >&2; exit 1; }\n'
                    'exec /usr/bin/dpkg-divert --root "$DPKG_ROOT" "$@"\n')
        os.chmod(os.path.join(bindir, 'dpkg-divert'), 0o755)
        for name in REAL:
            os.symlink(shutil.which(name), os.path.join(bindir, name))
        return root, bindir, log

    def dpkg(self, root, bindir, *args):
        env = {'PATH': bindir, 'LC_ALL': 'C.UTF-8', 'TMPDIR': self.tmp}
        r = run(['/usr/bin/dpkg', '--root=' + root, '--force-not-root', '--force-depends',
                 '--force-script-chrootless'] + list(args), env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def calls(self, log):
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return [line.rstrip('\n') for line in f]

    def diversions(self, root):
        r = run(['/usr/bin/dpkg-divert', '--root', root, '--list'])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def status(self, root, package):
        r = run(['dpkg-query', '--root=' + root, '-W', '-f=${Status}', package])
        return r.stdout if r.returncode == 0 else 'not known: ' + r.stderr.strip()

    def fake_gnome_keyring(self):
        """A package that owns the activation file, as gnome-keyring does."""
        tree = tempfile.mkdtemp(prefix='gk-', dir=self.tmp)
        os.makedirs(os.path.join(tree, 'DEBIAN'))
        os.makedirs(os.path.join(tree, os.path.dirname(SERVICE_FILE)))
        with open(os.path.join(tree, 'DEBIAN', 'control'), 'w') as f:
            f.write('Package: gnome-keyring\nVersion: 42.1-1\nArchitecture: all\n'
                    'Maintainer: test <test@coffer.invalid>\nDescription: stand-in\n stand-in for the test\n')
        with open(os.path.join(tree, SERVICE_FILE), 'w') as f:
            f.write('[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/usr/bin/gnome-keyring-daemon\n')
        # A package whose every file another one takes is "disappeared" by
        # dpkg; the real one has many more files than the diverted one.
        os.makedirs(os.path.join(tree, 'usr', 'bin'))
        with open(os.path.join(tree, 'usr', 'bin', 'gnome-keyring-daemon'), 'w') as f:
            f.write('#!/bin/sh\nexit 0\n')
        os.chmod(os.path.join(tree, 'usr', 'bin', 'gnome-keyring-daemon'), 0o755)
        deb = os.path.join(self.tmp, 'gnome-keyring_42.1-1_all.deb')
        r = run(['dpkg-deb', '--root-owner-group', '-b', tree, deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        return deb

    def test_install_upgrade_remove_in_throwaway_root(self):
        root, bindir, log = self.make_root()
        self.dpkg(root, bindir, '-i', self.fake_gnome_keyring())
        self.dpkg(root, bindir, '-i', self.coffer_deb, self.pam_deb)

        for package in ('coffer', 'libpam-coffer'):
            self.assertEqual(self.status(root, package), 'install ok installed')
        for path in COFFER_FILES | PAM_FILES:
            self.assertTrue(os.path.isfile(os.path.join(root, path)), path)
        self.assertEqual(self.calls(log), ['pam-auth-update --package'])
        # The bus now finds coffer; gnome-keyring's copy is out of its sight.
        self.assertIn('by coffer', self.diversions(root))
        self.assertIn('Exec=/usr/libexec/cofferd', self.read(root, SERVICE_FILE))
        self.assertIn('gnome-keyring-daemon', self.read(root, DIVERTED))

        for prog, name in (('usr/libexec/cofferd', 'cofferd'), ('usr/bin/coffer', 'coffer')):
            r = run([os.path.join(root, prog), '--version'], timeout=30)
            self.assertEqual((r.returncode, r.stdout.split()[0]), (0, name), r.stderr)
            self.assertRegex(r.stdout, r'^\S+ \d+\.\d+\.\d+\n$')

        # Reinstalling (an upgrade to the same version) keeps one diversion.
        self.dpkg(root, bindir, '-i', self.coffer_deb)
        self.assertEqual(len(self.diversions(root).split('\n')), 1)

        open(log, 'w').close()
        self.dpkg(root, bindir, '-r', 'libpam-coffer', 'coffer')
        self.assertEqual(self.calls(log), ['pam-auth-update --package --remove coffer'])
        self.assertEqual(self.diversions(root), '')
        self.assertIn('gnome-keyring-daemon', self.read(root, SERVICE_FILE))
        self.assertFalse(os.path.exists(os.path.join(root, DIVERTED)))
        self.assertFalse(os.path.exists(os.path.join(root, 'usr/libexec/cofferd')))
        # A removed package leaves its conffile; TryExec keeps it inert.
        self.assertTrue(os.path.exists(os.path.join(root, 'etc/xdg/autostart/coffer.desktop')))
        self.dpkg(root, bindir, '--purge', 'coffer', 'libpam-coffer')
        self.assertFalse(os.path.exists(os.path.join(root, 'etc/xdg/autostart/coffer.desktop')))
        self.assertEqual(self.status(root, 'gnome-keyring'), 'install ok installed')

    def test_install_without_another_provider(self):
        root, bindir, log = self.make_root()
        self.dpkg(root, bindir, '-i', self.coffer_deb)
        self.assertIn('Exec=/usr/libexec/cofferd', self.read(root, SERVICE_FILE))
        self.assertFalse(os.path.exists(os.path.join(root, DIVERTED)))
        self.dpkg(root, bindir, '--purge', 'coffer')
        self.assertEqual(self.diversions(root), '')
        self.assertFalse(os.path.exists(os.path.join(root, SERVICE_FILE)))


if __name__ == '__main__':
    unittest.main(verbosity=2)
