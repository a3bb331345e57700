"""A real OpenLDAP server for the tests: Debian's slapd on a free loopback port.

``slapd_server`` (session scope) writes a slapd.conf with the ppolicy overlay
(pwdMinLength 8, pwdInHistory 3, pwdMaxFailure 5, pwdLockout, pwdMustChange), a small
schema for the campus attributes, and loads an LDIF made from the demo directory
(``core.demo_data``) with ``slapadd`` before starting. Without slapd the tests that use
it are skipped, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import demo_data
from core.directory.ldap import ldap3
from core.mailbox_names import free_names
from core.models import RecordStatus, Role
from core.profiles import Profile, load_profile_file
from core.resources import profiles_dir

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

SUFFIX = "dc=demo,dc=edu,dc=tw"
PEOPLE = f"ou=people,{SUFFIX}"
MAIL = f"ou=mail,{SUFFIX}"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-0123"
SERVICE_DN = f"cn=helpdesk,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret-0123"
DEFAULT_POLICY = f"cn=default,ou=policies,{SUFFIX}"
YOUNG_POLICY = f"cn=young,ou=policies,{SUFFIX}"
DEMO_PASSWORD = "Demo-Passw0rd!"
RELAX_OID = "1.3.6.1.4.1.4203.666.5.12"

# Extra accounts the tests may lock, reset or change without disturbing each other.
SPARE_ACCOUNTS = 60

CAMPUS_SCHEMA = """\
# Campus attributes of the demo directory (OpenLDAP's experimental arc).
attributetype ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'campusIdNumber'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.2 NAME 'campusBirthday'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.3 NAME 'campusDegreeLevel'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.4 NAME 'campusStatus'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.5 NAME 'campusNotificationAddress'
  EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.99.6 NAME 'campusRole'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.100 NAME 'campusPerson' AUXILIARY
  MAY ( campusIdNumber $ campusBirthday $ campusDegreeLevel $ campusStatus $
        campusNotificationAddress $ campusRole ) )
"""


@dataclass(frozen=True)
class LdapAccount:
    """One entry of the generated directory, with the clear facts the tests type."""

    uid: str
    dn: str
    id_number: str
    birthday: dt.date
    name_zh: str
    name_en: str
    role: Role
    student_id: str | None = None
    degree_level: str | None = None
    mail: str | None = None
    notification: str | None = None
    policy: str | None = None
    status: str | None = None  # campusStatus: the directory's own word (directory_status)


@dataclass
class SlapdServer:
    """A running slapd: where it listens and what it holds."""

    folder: Path
    port: int
    tls_port: int = 0
    accounts: dict[str, LdapAccount] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate (for 127.0.0.1)."""
        return self.folder / "ca.pem"

    def account(self, uid: str) -> LdapAccount:
        return self.accounts[uid]

    def spare(self, index: int) -> LdapAccount:
        return self.accounts[f"spare{index:02d}"]

    def start(self) -> None:
        """Start slapd and wait until it accepts connections (a few seconds at most)."""
        self.process = subprocess.Popen(
            [
                SLAPD,
                "-d",
                "0",
                "-f",
                str(self.folder / "slapd.conf"),
                "-h",
                f"{self.uri} {self.ldaps_uri}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"slapd exited: {error[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start within 10 seconds")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def binds(self, dn: str, password: str) -> bool:
        """Whether a plain simple bind with this password succeeds (checked by ldap3 directly)."""
        connection = ldap3.Connection(
            ldap3.Server(self.uri, get_info=ldap3.NONE), user=dn, password=password
        )
        try:
            return bool(connection.bind())
        finally:
            connection.unbind()

    @contextlib.contextmanager
    def _as_root(self) -> Iterator[ldap3.Connection]:
        """A connection bound as the rootdn (no ACL, no password policy)."""
        connection = ldap3.Connection(
            ldap3.Server(self.uri, get_info=ldap3.NONE), user=ROOT_DN, password=ROOT_PASSWORD
        )
        try:
            assert connection.bind()
            yield connection
        finally:
            connection.unbind()

    def as_root(self, dn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
        """Modify an entry as the rootdn (no ACL, no password policy)."""
        with self._as_root() as connection:
            # The relax control lets the root set ppolicy's operational attributes.
            ok = connection.modify(dn, changes, controls=[(RELAX_OID, True, None)])  # type: ignore[no-untyped-call]
            assert ok, connection.result

    def add(self, dn: str, attributes: dict[str, str | list[str]]) -> None:
        """Add an entry as the rootdn, as the registrar's own tools would."""
        with self._as_root() as connection:
            assert connection.add(dn, attributes=attributes), connection.result  # type: ignore[no-untyped-call]

    def delete(self, dn: str) -> None:
        with self._as_root() as connection:
            assert connection.delete(dn), connection.result

    def entry(self, dn: str) -> dict[str, list[str]]:
        """The entry ``dn`` as the rootdn reads it, with pwdReset; {} when there is none."""
        with self._as_root() as connection:
            connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["*", "pwdReset"])
            found = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
            if not found:
                return {}
            return {
                name: [str(v) for v in (values if isinstance(values, list) else [values])]
                for name, values in found[0]["attributes"].items()
            }

    def graduate(self, profile: Profile) -> LdapAccount:
        """A graduate (in ``profile``'s word for it) with a student ID and a degree level,
        whose ID number no other entry has: one lookup answers with one student ID."""
        accounts = list(self.accounts.values())
        graduated = directory_status(profile, RecordStatus.GRADUATED)
        return next(
            account
            for account in accounts
            if account.status == graduated
            and account.student_id
            and account.degree_level
            and sum(other.id_number == account.id_number for other in accounts) == 1
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def write_certificates(folder: Path) -> None:
    """A throwaway CA and a certificate for 127.0.0.1 it signed (StartTLS and LDAPS)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test LDAP CA", ca_key, None, None)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", key, ca, ca_key)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class SlowProxy:
    """A loopback TCP proxy that delivers every byte ``delay`` seconds after it arrived.

    Latency, not throughput: bytes that arrive together leave together, as on a real
    network, so a two-message answer costs one delay, not two.
    """

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.delay = delay
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for each in (client, upstream):  # no Nagle: the proxy adds only its delay
                each.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                outbox: queue.Queue[tuple[float, bytes]] = queue.Queue()
                threading.Thread(target=self._read, args=(source, outbox), daemon=True).start()
                threading.Thread(target=self._write, args=(target, outbox), daemon=True).start()

    def _read(self, source: socket.socket, outbox: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            outbox.put((time.monotonic() + self.delay, data))
            if not data:
                return

    def _write(self, target: socket.socket, outbox: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            due, data = outbox.get()
            time.sleep(max(0.0, due - time.monotonic()))
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            try:
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stopped.set()
        self.listener.close()
        for each in self._sockets:
            each.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def slapd_conf(folder: Path) -> str:
    schemas = ["core", "cosine", "inetorgperson", "nis"]
    includes = "\n".join(f"include {SCHEMA_DIR / name}.schema" for name in schemas)
    return f"""\
{includes}
include {folder / "campus.schema"}
modulepath {MODULE_DIR}
moduleload back_mdb
moduleload ppolicy
pidfile {folder / "slapd.pid"}
argsfile {folder / "slapd.args"}
password-hash {{SSHA}}
TLSCACertificateFile {folder / "ca.pem"}
TLSCertificateFile {folder / "server.pem"}
TLSCertificateKeyFile {folder / "server.key"}

database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {folder / "data"}
maxsize 67108864
index objectClass eq
index uid,mail,employeeNumber eq

overlay ppolicy
ppolicy_default "{DEFAULT_POLICY}"
ppolicy_use_lockout
ppolicy_hash_cleartext

# The service account resets passwords (write, not manage: ppolicy exempts a password
# administrator from its checks) and clears pwdReset; users change their own.
access to attrs=userPassword
  by dn.exact="{SERVICE_DN}" write
  by self write
  by anonymous auth
  by * none
access to dn.subtree="{PEOPLE}"
  by dn.exact="{SERVICE_DN}" manage
  by self read
  by * none
# Mailboxes applied for in chat get entries of their own here ([directory.new_mailbox]).
access to dn.subtree="{MAIL}"
  by dn.exact="{SERVICE_DN}" manage
  by self read
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by * none
"""


def ssha(password: str) -> str:
    """The {SSHA} form slapd itself would store (slapadd stores values as given)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _policy(name: str, *, min_age: int = 0) -> str:
    return f"""\
dn: cn={name},ou=policies,{SUFFIX}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: {name}
pwdAttribute: userPassword
pwdMinLength: 8
pwdInHistory: 3
pwdMaxFailure: 5
pwdLockout: TRUE
pwdLockoutDuration: 900
pwdMustChange: TRUE
pwdAllowUserChange: TRUE
pwdCheckQuality: 2
pwdMaxAge: 31536000
pwdMinAge: {min_age}
"""


def _entry(account: LdapAccount) -> str:
    surname = account.name_en.split()[0]
    lines = [
        f"dn: {account.dn}",
        "objectClass: inetOrgPerson",
        "objectClass: campusPerson",
        f"uid: {account.uid}",
        f"cn: {account.name_en}",
        f"cn: {account.name_zh}",
        f"sn: {surname}",
        f"displayName: {account.name_en}",
        f"campusIdNumber: {account.id_number}",
        f"campusBirthday: {account.birthday.isoformat()}",
        f"campusRole: {account.role.value}",
        f"userPassword: {ssha(DEMO_PASSWORD)}",
    ]
    if account.student_id:
        lines.append(f"employeeNumber: {account.student_id}")
    if account.degree_level:
        lines.append(f"campusDegreeLevel: {account.degree_level}")
    if account.mail:
        lines.append(f"mail: {account.mail}")
    if account.notification:
        lines.append(f"campusNotificationAddress: {account.notification}")
    if account.status:
        lines.append(f"campusStatus: {account.status}")
    if account.policy:
        lines.append(f"pwdPolicySubentry: {account.policy}")
    return "\n".join(lines) + "\n"


def demo_accounts(profile: Profile) -> list[LdapAccount]:
    """The demo directory's accounts as LDAP entries (the SQL seed's people and names)."""
    used: set[str] = set()
    taken: set[str] = set()
    accounts: list[LdapAccount] = []
    for plan in demo_data._plans():
        row = demo_data._row(plan, profile, used)
        person = plan.person
        mail = row.mailbox
        if row.role is Role.STAFF:
            uid = mail.split("@")[0] if mail else free_names(row.name_en, taken | used, limit=1)[0]
        elif row.role is Role.ALUMNUS and row.student_id:
            uid = profile.accounts.alumni_account_for(row.student_id) or row.student_id
        else:
            assert row.student_id is not None
            uid = row.student_id
            mail = (profile.accounts.campus_mail_for(row.student_id) or "").lower() or None
        if uid in taken:
            continue
        taken.add(uid)
        accounts.append(
            LdapAccount(
                uid=uid,
                dn=f"uid={uid},{PEOPLE}",
                id_number=person.id_number,
                birthday=person.birthday,
                name_zh=person.name_zh,
                name_en=person.name_en,
                role=row.role,
                student_id=row.student_id,
                degree_level=row.degree_level,
                mail=mail,
                notification=row.email,
                status=directory_status(profile, row.status.value if row.status else None),
            )
        )
    lin = accounts[0]
    for index in range(SPARE_ACCOUNTS):
        uid = f"spare{index:02d}"
        accounts.append(
            LdapAccount(
                uid=uid,
                dn=f"uid={uid},{PEOPLE}",
                id_number=lin.id_number,
                birthday=lin.birthday,
                name_zh="測試帳號",
                name_en=f"Spare Account-{index:02d}",
                role=Role.STAFF,
                mail=f"{uid}@demo.edu.tw",
                notification=f"{uid}@example.com",
                # The last spare lives under a policy with a minimum age.
                policy=YOUNG_POLICY if index == SPARE_ACCOUNTS - 1 else None,
            )
        )
    return accounts


def directory_status(profile: Profile, status: str | None) -> str | None:
    """The word the directory uses for an enrolment status: the profile's status_values
    read backwards (the example profile's 畢業 for graduated), else the status itself."""
    if status is None:
        return None
    words = [word for word, means in profile.directory.status_values.items() if means == status]
    return words[0] if words else status


def demo_ldif(accounts: list[LdapAccount]) -> str:
    head = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: demo
o: Demo University

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {MAIL}
objectClass: organizationalUnit
ou: mail

dn: ou=policies,{SUFFIX}
objectClass: organizationalUnit
ou: policies

dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: helpdesk
userPassword: {SERVICE_PASSWORD}

"""
    policies = _policy("default") + "\n" + _policy("young", min_age=3600) + "\n"
    return head + policies + "\n".join(_entry(account) for account in accounts)


def build(folder: Path, profile: Profile, modules: tuple[str, ...] = ()) -> SlapdServer:
    """Write the configuration and load the demo directory (slapd not yet running).

    ``modules``: slapd modules to load besides back_mdb and ppolicy (``argon2``).
    """
    (folder / "data").mkdir(parents=True)
    (folder / "campus.schema").write_text(CAMPUS_SCHEMA)
    conf = slapd_conf(folder)
    for module in modules:
        conf = conf.replace("moduleload ppolicy", f"moduleload ppolicy\nmoduleload {module}")
    (folder / "slapd.conf").write_text(conf)
    write_certificates(folder)
    accounts = demo_accounts(profile)
    (folder / "demo.ldif").write_text(demo_ldif(accounts), encoding="utf-8")
    subprocess.run(
        [SLAPADD, "-q", "-f", str(folder / "slapd.conf"), "-l", str(folder / "demo.ldif")],
        check=True,
        capture_output=True,
    )
    return SlapdServer(
        folder, free_port(), free_port(), {account.uid: account for account in accounts}
    )


def ldap_profile() -> Profile:
    """The LDAP example profile (``core/profiles/examples/ldap.toml``); tests set the URIs."""
    return load_profile_file(profiles_dir() / "examples" / "ldap.toml")


def alumni_entry(**attributes: str) -> dict[str, object]:
    """A ``[directory.new_entry]`` template for an alumnus under ``ou=people``: the
    account, names, student ID, role and notification address, then ``attributes``."""
    return {
        "dn": f"uid={{account}},{PEOPLE}",
        "object_classes": ["inetOrgPerson", "campusPerson"],
        "attributes": {
            "uid": "{account}",
            "cn": "{name_en}",
            "sn": "{surname}",
            "displayName": "{name_en}",
            "employeeNumber": "{student_id}",
            "campusRole": "alumnus",
            "campusNotificationAddress": "{notification_address}",
            **attributes,
        },
    }


@contextlib.contextmanager
def running(folder: Path, modules: tuple[str, ...] = ()) -> Iterator[SlapdServer]:
    """A slapd of its own with the demo directory (``build``), stopped on the way out."""
    server = build(folder, ldap_profile(), modules)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """slapd with the demo directory on a free 127.0.0.1 port, for the whole session."""
    if not Path(SLAPD).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("slapd is not installed (apt-get install slapd ldap-utils)")
        pytest.skip("slapd is not installed (apt-get install slapd ldap-utils)")
    with running(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture
def own_slapd(tmp_path: Path, slapd_server: SlapdServer) -> Iterator[SlapdServer]:
    """A slapd of the test's own, to stop, start and change (after the shared one proved
    slapd runs)."""
    with running(tmp_path / "slapd") as server:
        yield server
