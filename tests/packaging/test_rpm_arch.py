#!/usr/bin/python3
"""packaging/rpm/coffer.spec and packaging/arch/PKGBUILD: rpmlint clean, the
same version as the project, and every installed file packaged."""

import os
import re
import shutil
import subprocess
import unittest

SOURCE = os.environ['COFFER_SOURCE_ROOT']
SPEC = os.path.join(SOURCE, 'packaging', 'rpm', 'coffer.spec')
PKGBUILD = os.path.join(SOURCE, 'packaging', 'arch', 'PKGBUILD')


def project_version():
    with open(os.path.join(SOURCE, 'meson.build')) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


class RpmTest(unittest.TestCase):

    def test_rpmlint(self):
        if shutil.which('rpmlint') is None:
            self.skipTest('rpmlint is not installed')
        r = run(['rpmlint', '-c', os.path.join(SOURCE, 'packaging', 'rpm', 'rpmlint.toml'), SPEC])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('0 errors, 0 warnings', r.stdout)

    def test_version_matches_project(self):
        with open(SPEC) as f:
            spec = f.read()
        self.assertEqual(re.search(r'^Version:\s*(\S+)', spec, re.M).group(1), project_version())
        changelog = os.path.join(SOURCE, 'packaging', 'debian', 'changelog')
        r = run(['dpkg-parsechangelog', '-l', changelog, '-S', 'Version'])
        self.assertEqual(r.stdout.strip(), project_version())

    def test_files_cover_the_install(self):
        with open(SPEC) as f:
            spec = f.read()
        files = spec.split('\n%files\n', 1)[1].split('\n%changelog', 1)[0]
        for path in ('%{_bindir}/coffer', '%{_libexecdir}/cofferd', '%{_userunitdir}/coffer.service',
                     'dbus-1/services/org.freedesktop.secrets.service', 'dbus-1/interfaces/org.freedesktop.Secret.xml',
                     'portals/coffer.portal', 'autostart/coffer.desktop', 'completions/coffer',
                     'man1/coffer.1', 'man5/coffer.conf.5', 'man8/cofferd.8',
                     '%{_libdir}/security/pam_coffer.so', 'man8/pam_coffer.8'):
            self.assertIn(path, files)
        self.assertIn('%systemd_user_post coffer.service', spec)


class ArchTest(unittest.TestCase):

    def source(self, expr):
        r = run(['bash', '-euc', f'source "$1"; {expr}', 'bash', PKGBUILD])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_fields(self):
        self.assertEqual(self.source('echo "$pkgname $pkgver"').split(), ['coffer', project_version()])
        self.assertIn('org.freedesktop.secrets', self.source('printf "%s\\n" "${provides[@]}"').split())
        self.assertEqual(self.source('printf "%s\\n" "${backup[@]}"').split(), ['etc/xdg/autostart/coffer.desktop'])
        self.assertEqual(self.source('declare -F build package').split(), ['build', 'package'])

    def test_arch_layout(self):
        with open(PKGBUILD) as f:
            text = f.read()
        self.assertIn('arch-meson', text)
        # Arch keeps PAM modules in /usr/lib/security.
        self.assertIn('-Dpam_moduledir=/usr/lib/security', text)


if __name__ == '__main__':
    unittest.main(verbosity=2)
