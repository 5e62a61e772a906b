"""TLS for the lab: a private certificate authority and a sans-I/O reader of TLS records.

``ca`` makes (once) and loads the lab's CA and server certificates; ``records`` turns the bytes a
TLS connection really exchanged into records and decodes the two unencrypted handshake messages
of TLS 1.3 (ClientHello, ServerHello); everything after ServerHello is ciphertext, and is shown
as such, with its real length and outer content type.
"""
from .ca import LabPki, client_context, ensure_lab_pki, server_context
from .records import ClientHello, RecordReader, ServerHello, TlsObserver, TlsParseError, TlsRecord

__all__ = ["ClientHello", "LabPki", "RecordReader", "ServerHello", "TlsObserver", "TlsParseError", "TlsRecord",
           "client_context", "ensure_lab_pki", "server_context"]
