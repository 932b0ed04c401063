"""The certificates a pairing leaves behind: a root, a host and a device certificate.

A real pairing (pymobiledevice3 `LockdownClient.pair`, `ca.generate_pairing_cert_chain`) has the
host make a root CA and sign a host certificate and one for the device's public key; usbmuxd
keeps the result as the pair record (`ReadPairRecord` → `PairRecordData`, a plist with
HostCertificate, HostPrivateKey, RootCertificate, DeviceCertificate, HostID, SystemBUID,
EscrowBag). The fake phone makes the same chain with `cryptography`, once per process (RSA
key generation is slow), and uses the device key for its side of the TLS sessions.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Keys:
    """PEM blobs: what usbmuxd stores for the host, and the device's own key."""

    root_cert: bytes
    root_key: bytes
    host_cert: bytes
    host_key: bytes
    device_cert: bytes
    device_key: bytes
    device_public_key: bytes


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert(subject_key, issuer_key, issuer_name, serial: int, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bgharness fake phone")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name if ca else x509.Name([]))
        .issuer_name(issuer_name or name)
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


@functools.cache
def keys() -> Keys:
    """One chain for the whole test session."""
    root = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    device = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_cert = _cert(root, root, None, 1, ca=True)
    pem = serialization.Encoding.PEM
    return Keys(
        root_cert=root_cert.public_bytes(pem),
        root_key=_pem_key(root),
        host_cert=_cert(host, root, root_cert.subject, 2, ca=False).public_bytes(pem),
        host_key=_pem_key(host),
        device_cert=_cert(device, root, root_cert.subject, 3, ca=False).public_bytes(pem),
        device_key=_pem_key(device),
        device_public_key=device.public_key().public_bytes(pem, serialization.PublicFormat.PKCS1),
    )


def pair_record(host_id: str, system_buid: str) -> dict:
    """The pair record usbmuxd hands out for a phone that trusts this host."""
    k = keys()
    return {
        "DeviceCertificate": k.device_cert,
        "HostCertificate": k.host_cert,
        "HostPrivateKey": k.host_key,
        "RootCertificate": k.root_cert,
        "RootPrivateKey": k.root_key,
        "HostID": host_id,
        "SystemBUID": system_buid,
        "EscrowBag": uuid.uuid4().bytes * 2,
        "WiFiMACAddress": "00:11:22:33:44:55",
    }
