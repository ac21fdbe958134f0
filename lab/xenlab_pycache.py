"""Lab VMs only: keep the bytecode of the Python sources Ansible's module payloads import from their zip.

Every Ansible task ships its module and the module_utils it needs to the host as a zip (AnsiballZ), and
Python imports them from it with zipimport, which compiles each source on every run and stores no .pyc.
Under QEMU TCG that compilation was about 40 % of a task's time on a blade (ansible.builtin.ping: 4.0 s, 2.3-3.0
s with this). This hook keeps each compiled source in CACHE, keyed by the SHA-256 of its bytes; a cached
code object is given the current payload's path, so tracebacks name the file that ran. A .pth line in
dist-packages imports it at every interpreter start (lab/build-image.sh installs both in the lab image).
The collection itself neither needs nor knows it: a real dom0 compiles as Python always does.
"""

import zipimport

CACHE = "/var/cache/xenlab-pycache"
_compile = zipimport._compile_source


def _with_filename(code, filename):
    consts = tuple(_with_filename(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _cached_compile(pathname, source):
    import marshal
    import os

    try:
        from _sha256 import sha256  # built in: no OpenSSL to load (hashlib costs ~0.1 s under TCG)
    except ImportError:
        from hashlib import sha256
    key = sha256(source).hexdigest()
    path = os.path.join(CACHE, key[:2], key)
    try:
        with open(path, "rb") as f:
            return _with_filename(marshal.load(f), pathname)
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = _compile(pathname, source)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = "%s.%d" % (path, os.getpid())
        with open(tmp, "wb") as f:
            marshal.dump(code, f)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    except OSError:
        pass
    return code


zipimport._compile_source = _cached_compile
